"""Roles as groups with permissions; the audit log is append-only."""
import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.utils import DatabaseError

from apps.accounts.audit import audit_log
from apps.accounts.models import AuditEvent
from apps.accounts.roles import ROLES
from apps.accounts.services import user_create
from apps.core.exceptions import ApplicationError

pytestmark = pytest.mark.django_db


def test_each_role_is_a_group_with_its_permissions(make_user):
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    analyst, reviewer, admin = make_user("analyst"), make_user("reviewer"), make_user("admin")
    assert analyst.role == "analyst" and analyst.has_perm("generation.add_generationjob")
    assert not reviewer.has_perm("generation.add_generationjob")
    assert admin.has_perm("accounts.view_auditevent") and not analyst.has_perm("accounts.view_auditevent")


def test_user_create_rejects_unknown_role_and_duplicates(make_user):
    with pytest.raises(ApplicationError, match="unknown role"):
        user_create(username="x", password="a-long-test-password", role="superhero")
    make_user("analyst", username="dup")
    with pytest.raises(ApplicationError, match="already exists"):
        user_create(username="dup", password="a-long-test-password", role="analyst")


def test_audit_events_cannot_be_changed_or_deleted(make_user):
    user = make_user("clinician")
    event = audit_log(actor=user, action="test.read", object_type="medical.encounter", object_id=7)
    assert (event.actor_id, event.action, event.object_id, event.via) == (user.pk, "test.read", "7", "worker")
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    # The database refuses too, whatever the ORM is bypassed with.
    for sql in ("UPDATE accounts_auditevent SET action = 'x'", "DELETE FROM accounts_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.read"


def test_audit_log_page_is_for_admins(client, make_user):
    analyst, admin = make_user("analyst"), make_user("admin")
    client.force_login(analyst)
    assert client.get("/audit/").status_code == 403
    client.force_login(admin)
    resp = client.get("/audit/")
    assert resp.status_code == 200 and b"user.create" in resp.content
