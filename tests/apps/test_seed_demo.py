"""seed_demo: demo users of every role and the shipped adapters, evaluated and active; a second run changes nothing."""
import io

import pytest
from django.core.management import call_command

from apps.accounts.models import AuditEvent, User
from apps.adapters.models import AdapterVersion
from apps.adapters.selectors import active_adapter

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_seed_demo_is_idempotent(settings, model_cache_dir, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setattr("apps.adapters.demo.DEMO_EVAL_ROWS", 4)  # a short evaluation keeps the test quick
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = out.getvalue()
    assert {u.username: u.role for u in User.objects.all()} == {
        "demo-analyst": "analyst", "demo-clinician": "clinician", "demo-reviewer": "reviewer", "demo-admin": "admin",
    }
    assert "demo-admin" in first and (model_cache_dir / "demo-logins.txt").exists()
    for domain in ("finance", "medical"):
        version = active_adapter(domain=domain)
        assert version is not None and version.label == f"{domain}-demo@1" and version.eval_status == "done"
        assert version.domain_loss_adapter < version.domain_loss_base  # the adapter learned its domain

    state = (list(User.objects.values_list("id", "password")), list(AdapterVersion.objects.values_list("id", "eval_status")),
             AuditEvent.objects.count())
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert "nothing changed" in again.getvalue()
    assert state == (list(User.objects.values_list("id", "password")), list(AdapterVersion.objects.values_list("id", "eval_status")),
                     AuditEvent.objects.count())
