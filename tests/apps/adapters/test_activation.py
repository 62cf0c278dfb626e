"""Activation per domain, the forgetting guard, rollback, all audited."""
import pytest

from apps.accounts.models import AuditEvent
from apps.adapters.models import AdapterVersion
from apps.adapters.selectors import active_adapter

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(api_client_for):
    return api_client_for("admin")


def version(owner, name="fin", n=1, *, domain="finance", general=(2.0, 2.02), status="done"):
    return AdapterVersion.objects.create(
        name=name, version=n, domain=domain, base_model="HuggingFaceTB/SmolLM2-135M-Instruct", rank=4, alpha=8,
        target_modules=["q_proj"], size_bytes=10, sha256=f"{n:064x}", config_sha256=f"{n:064x}", uploaded_by=owner,
        eval_status=status, domain_loss_base=3.0, domain_loss_adapter=1.0,
        general_loss_base=general[0], general_loss_adapter=general[1],
    )


def test_activate_then_roll_back_through_the_history(admin):
    v1, v2 = version(admin.user, n=1), version(admin.user, n=2)
    assert admin.post(f"/api/v1/adapters/{v1.pk}/activate/", {}, format="json").json() == {"domain": "finance", "active": "fin@1"}
    assert admin.post(f"/api/v1/adapters/{v2.pk}/activate/", {}, format="json").status_code == 200
    assert active_adapter(domain="finance") == v2
    assert active_adapter(domain="medical") is None
    # Rolling back v2 serves v1 again; rolling back v1 serves the base model.
    assert admin.post(f"/api/v1/adapters/{v2.pk}/rollback/").json() == {"domain": "finance", "active": "fin@1"}
    assert admin.post(f"/api/v1/adapters/{v1.pk}/rollback/").json() == {"domain": "finance", "active": None}
    assert active_adapter(domain="finance") is None
    actions = list(AuditEvent.objects.filter(action__startswith="adapter.").order_by("id").values_list("action", flat=True))
    assert actions == ["adapter.activate", "adapter.activate", "adapter.rollback", "adapter.rollback"]
    listed = {row["domain"]: row["active"] for row in admin.get("/api/v1/adapters/active/").json()}
    assert listed == {"finance": None, "medical": None, "general": None}


def test_rollback_of_a_version_that_is_not_active_is_a_conflict(admin):
    v1 = version(admin.user)
    resp = admin.post(f"/api/v1/adapters/{v1.pk}/rollback/")
    assert resp.status_code == 409 and "not the active adapter" in resp.json()["detail"]


def test_unevaluated_versions_cannot_be_activated(admin):
    v = version(admin.user, status="pending")
    resp = admin.post(f"/api/v1/adapters/{v.pk}/activate/", {}, format="json")
    assert resp.status_code == 409 and "not been evaluated" in resp.json()["detail"]


def test_forgetting_guard_refuses_unless_an_admin_gives_a_reason(admin, settings):
    settings.PLUMBLINE_FORGETTING_MARGIN = 0.05
    worse = version(admin.user, general=(2.0, 2.3))  # 15 % worse on the general set
    refused = admin.post(f"/api/v1/adapters/{worse.pk}/activate/", {}, format="json")
    assert refused.status_code == 409
    assert "15.0%" in refused.json()["detail"] and "override_reason" in refused.json()["errors"]
    assert active_adapter(domain="finance") is None
    ok = admin.post(f"/api/v1/adapters/{worse.pk}/activate/", {"override_reason": "finance style matters more here"}, format="json")
    assert ok.status_code == 200
    event = AuditEvent.objects.filter(action="adapter.activate").get()
    assert event.detail == {"domain": "finance", "override": True} and event.actor == admin.user
    assert worse.activations.get().override_reason == "finance style matters more here"


def test_only_admins_activate(api_client_for, admin):
    v = version(admin.user)
    analyst = api_client_for("analyst")
    assert analyst.post(f"/api/v1/adapters/{v.pk}/activate/", {}, format="json").status_code == 403
    assert active_adapter(domain="finance") is None
