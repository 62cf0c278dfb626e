"""Findings that say a check could not run (ACKNOWLEDGEABLE_CHECKS) make a version "unverifiable": it cannot be
approved until a reviewer who is not its author acknowledges each one with a reason. Then, when no other error
remains, verification passes and the version is approved as any other. Every acknowledgement is audited; every
refusal is a 4xx that writes nothing.

Findings are written as rows here (verification emits drug_unverifiable once medications.py does; the test of
an unknown drug through draft_verify runs as soon as it is emitted)."""
import json
import re

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.medical import services
from apps.medical.models import Draft, Finding
from apps.medical.verification import ACKNOWLEDGEABLE_CHECKS
from tests.apps.medical.factories import CLEAN_CONTENT, PLANTED_CONTENT, encounter

pytestmark = pytest.mark.django_db

UNKNOWN_DRUG = {"name": "unobtainium", "dose_mg": 50, "route": "oral", "frequency": "once", "times_per_day": 1}
CONTENT = {**CLEAN_CONTENT, "medications": [*CLEAN_CONTENT["medications"], UNKNOWN_DRUG]}
NOTE = "Unobtainium is the trial drug of the study protocol; dose checked against the protocol."

# (check, severity) rows; messages are fictional and name no patient
WAITING_TWO = [("drug_unverifiable", "error"), ("medication_unrecognised", "error"), ("drug_known", "warning")]


def version_with(author, findings, *, clinician=None) -> Draft:
    """A version in review whose findings are `findings`, its verification derived as draft_verify derives it."""
    e = encounter(clinician or author)
    errors = [check for check, severity in findings if severity == "error"]
    draft = Draft.objects.create(encounter=e, version=1, author=author, source="edit", status="in_review",
                                 verification=services.verification_state(errors), verified_at=timezone.now(),
                                 **CONTENT)
    for check, severity in findings:
        Finding.objects.create(draft=draft, check_name=check, severity=severity, section="medications", item=1,
                               start=0, end=11, message=f"{check}: unobtainium", evidence="unobtainium")
    return draft


def acknowledge(api, finding, note=NOTE, **extra):
    return api.post(f"/api/v1/medical/drafts/{finding.draft_id}/findings/{finding.pk}/acknowledge/",
                    {"note": note, **extra}, format="json")


def approve(api, draft, score=0.9):
    return api.post(f"/api/v1/medical/drafts/{draft.pk}/reviews/", {"score": score, "decision": "approve"},
                    format="json")


def waiting(draft) -> list[Finding]:
    return list(draft.findings.filter(check_name__in=ACKNOWLEDGEABLE_CHECKS, severity="error").order_by("id"))


def untouched(draft) -> bool:
    """No finding of the version is acknowledged, and nothing about an acknowledgement was audited."""
    return (not draft.findings.filter(acknowledged_at__isnull=False).exists()
            and not AuditEvent.objects.filter(action="medical_finding.acknowledge").exists())


# --- the state machine ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("errors", "state"), [
    ([], "passed"),
    (["drug_unverifiable"], "unverifiable"),
    (sorted(ACKNOWLEDGEABLE_CHECKS), "unverifiable"),
    (["icd_exists"], "failed"),
    (["drug_unverifiable", "allergy_conflict"], "failed"),
    (["verification"], "failed"),  # the checks could not run at all: not something to acknowledge
])
def test_verification_state_from_the_error_checks(errors, state):
    assert services.verification_state(errors) == state


def test_draft_verify_stores_passed_or_failed_and_an_unknown_drug_never_hides_a_hard_error(make_user):
    clinician = make_user("clinician")
    states = {}
    for name, content in (("clean", CLEAN_CONTENT), ("planted", {**PLANTED_CONTENT, "medications": [
            *PLANTED_CONTENT["medications"], UNKNOWN_DRUG]})):
        draft = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                     status="verifying", **content)
        services.draft_verify(draft_id=draft.pk)
        draft.refresh_from_db()
        states[name] = (draft.status, draft.verification)
    assert states == {"clean": ("in_review", "passed"), "planted": ("in_review", "failed")}


def test_draft_verify_of_an_unknown_drug_is_unverifiable(make_user):
    from apps.medical.verification import verify_draft

    clinician = make_user("clinician")
    draft = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                 status="verifying", **CONTENT)
    emitted = {f.check for f in verify_draft(services.draft_content(draft), services.encounter_facts(draft.encounter))
               if f.severity == "error"}
    if "drug_unverifiable" not in emitted:
        pytest.skip("verification does not emit drug_unverifiable for an unknown drug yet (medications.py)")
    services.draft_verify(draft_id=draft.pk)
    draft.refresh_from_db()
    assert (draft.status, draft.verification) == ("in_review", "unverifiable")
    event = AuditEvent.objects.get(action="medical_draft.verify", object_id=str(draft.pk))
    assert event.detail["verification"] == "unverifiable" and event.detail["unverifiable"] >= 1


def test_a_failed_verification_run_is_not_acknowledgeable(api_client_for, make_user):
    clinician = make_user("clinician")
    draft = Draft.objects.create(encounter=encounter(clinician), version=1, author=clinician, source="edit",
                                 status="verifying", **CONTENT)
    services.draft_verify_fail(draft_id=draft.pk, error="knowledge base unreadable")
    draft.refresh_from_db()
    assert draft.verification == "failed"
    resp = acknowledge(api_client_for("reviewer"), draft.findings.get())
    assert resp.status_code == 409 and resp.json()["code"] == "not_acknowledgeable"
    assert untouched(draft)


# --- the whole flow ---------------------------------------------------------------------------------------
def test_acknowledging_each_waiting_finding_passes_the_version_and_it_is_approved(api_client_for, make_user):
    clinician = make_user("clinician")
    draft = version_with(clinician, WAITING_TWO)
    assert draft.verification == "unverifiable"
    reviewer, approver = api_client_for("reviewer"), api_client_for("reviewer")

    resp = approve(approver, draft)
    assert resp.status_code == 409 and resp.json()["code"] == "unverifiable", resp.json()
    assert "2 finding(s)" in resp.json()["detail"]

    first, second = waiting(draft)
    resp = acknowledge(reviewer, first, note=f"  {NOTE}  ")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["id"] == first.pk and body["check"] == "drug_unverifiable" and body["acknowledgeable"]
    assert body["acknowledged_by"] == reviewer.user.username and body["acknowledge_note"] == NOTE  # trimmed
    assert body["acknowledged_at"] is not None
    draft.refresh_from_db()
    assert draft.verification == "unverifiable"
    resp = approve(approver, draft)
    assert resp.status_code == 409 and "1 finding(s)" in resp.json()["detail"]

    assert acknowledge(reviewer, second, note="Listed in the pharmacy formulary by its brand name.").status_code == 200
    draft.refresh_from_db()
    assert draft.verification == "passed" and draft.status == "in_review"

    # audited: one event per acknowledgement, and the version's verification passing, by the reviewer
    acks = list(AuditEvent.objects.filter(action="medical_finding.acknowledge").order_by("id"))
    assert [(e.object_id, e.actor, e.via) for e in acks] == [(str(first.pk), reviewer.user, "api"),
                                                             (str(second.pk), reviewer.user, "api")]
    assert acks[0].detail == {"draft": draft.pk, "encounter": draft.encounter_id, "version": 1,
                              "check": "drug_unverifiable"}
    verify = AuditEvent.objects.get(action="medical_draft.verify", object_id=str(draft.pk))
    assert verify.actor == reviewer.user and verify.detail["via"] == "acknowledgement"
    assert verify.detail["verification"] == "passed"
    details = json.dumps([e.detail for e in [*acks, verify]])
    for text in ("unobtainium", "protocol", "formulary", "aspirin", "PT-TEST"):
        assert text not in details  # ids and codes only, never the note or clinical text

    resp = approve(approver, draft)
    assert resp.status_code == 201 and resp.json()["status"] == "final", resp.json()


def test_a_hard_error_keeps_the_version_failed_after_acknowledgement(api_client_for, make_user):
    draft = version_with(make_user("clinician"), [("drug_unverifiable", "error"), ("icd_exists", "error")])
    assert draft.verification == "failed"
    (finding,) = waiting(draft)
    assert acknowledge(api_client_for("reviewer"), finding).status_code == 200
    draft.refresh_from_db()
    assert draft.verification == "failed"
    assert not AuditEvent.objects.filter(action="medical_draft.verify").exists()
    resp = approve(api_client_for("reviewer"), draft)
    assert resp.status_code == 409 and resp.json()["code"] == "unverified"


# --- refusals ----------------------------------------------------------------------------------------------
def test_clinicians_and_analysts_may_not_acknowledge(api_client_for, make_user):
    clinician = api_client_for("clinician")
    draft = version_with(clinician.user, WAITING_TWO)
    finding = waiting(draft)[0]
    for api in (clinician, api_client_for("clinician"), api_client_for("analyst")):
        assert acknowledge(api, finding).status_code == 403
    with pytest.raises(ApplicationError) as exc:  # the service says no too, whatever calls it
        services.finding_acknowledge(finding=finding, actor=clinician.user, note=NOTE)
    assert exc.value.status == 403
    assert untouched(draft) and Draft.objects.get(pk=draft.pk).verification == "unverifiable"


def test_the_versions_author_may_not_acknowledge_its_findings(api_client_for, make_user):
    reviewer = api_client_for("reviewer")  # a reviewer's edit: they are the version's author
    draft = version_with(reviewer.user, WAITING_TWO, clinician=make_user("clinician"))
    resp = acknowledge(reviewer, waiting(draft)[0])
    assert resp.status_code == 403 and resp.json()["code"] == "own_draft" and "author" in resp.json()["detail"]
    assert untouched(draft)


def test_reviewers_acknowledge_on_any_encounter_as_they_review_any(api_client_for, make_user):
    """Review is not scoped by team or encounter today: any reviewer who is not the author may acknowledge."""
    draft = version_with(make_user("clinician"), [("allergy_unrecognised", "error")])
    assert acknowledge(api_client_for("reviewer"), waiting(draft)[0]).status_code == 200
    draft.refresh_from_db()
    assert draft.verification == "passed"


@pytest.mark.parametrize(("check", "severity"), [("drug_known", "warning"), ("icd_exists", "error"),
                                                 ("dose_range", "error")])
def test_other_findings_are_not_acknowledgeable(api_client_for, make_user, check, severity):
    draft = version_with(make_user("clinician"), [(check, severity)])
    resp = acknowledge(api_client_for("reviewer"), draft.findings.get())
    assert resp.status_code == 409 and resp.json()["code"] == "not_acknowledgeable"
    assert untouched(draft)


def test_a_double_click_answers_409_and_writes_once(api_client_for, make_user):
    draft = version_with(make_user("clinician"), WAITING_TWO)
    reviewer = api_client_for("reviewer")
    finding = waiting(draft)[0]
    assert acknowledge(reviewer, finding).status_code == 200
    acknowledged = Finding.objects.get(pk=finding.pk)
    resp = acknowledge(api_client_for("reviewer"), finding, note="A second opinion.")
    assert resp.status_code == 409 and resp.json()["code"] == "already_acknowledged"
    again = Finding.objects.get(pk=finding.pk)
    assert (again.acknowledged_by, again.acknowledged_at, again.acknowledge_note) == (
        reviewer.user, acknowledged.acknowledged_at, NOTE)
    assert AuditEvent.objects.filter(action="medical_finding.acknowledge").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_acknowledgements_at_once_write_once(make_user):
    import threading

    from django.db import connection

    draft = version_with(make_user("clinician"), [("drug_unverifiable", "error")])
    finding = waiting(draft)[0]
    reviewers = [make_user("reviewer"), make_user("reviewer")]
    barrier, outcomes = threading.Barrier(2), []

    def click(reviewer):
        try:
            barrier.wait()
            services.finding_acknowledge(finding=finding, actor=reviewer, note=NOTE)
            outcomes.append(200)
        except ApplicationError as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == [200, 409]
    assert AuditEvent.objects.filter(action="medical_finding.acknowledge").count() == 1
    assert AuditEvent.objects.filter(action="medical_draft.verify", object_id=str(draft.pk)).count() == 1
    assert Draft.objects.get(pk=draft.pk).verification == "passed"


@pytest.mark.parametrize(("payload", "field"), [
    ({"note": ""}, "note"), ({"note": "   \n "}, "note"), ({"note": "x" * 301}, "note"), ({}, "note"),
    ({"note": None}, "note"), ({"note": NOTE, "reason": "extra"}, "reason"),
])
def test_a_bad_note_is_a_400_naming_the_field_and_writes_nothing(api_client_for, make_user, payload, field):
    draft = version_with(make_user("clinician"), WAITING_TWO)
    finding = waiting(draft)[0]
    resp = api_client_for("reviewer").post(
        f"/api/v1/medical/drafts/{draft.pk}/findings/{finding.pk}/acknowledge/", payload, format="json")
    assert resp.status_code == 400, resp.json()
    assert field in resp.json()["errors"], resp.json()
    assert untouched(draft)


def test_only_the_current_version_in_review_is_acknowledged(api_client_for, make_user):
    clinician = make_user("clinician")
    draft = version_with(clinician, WAITING_TWO)
    reviewer = api_client_for("reviewer")
    new = services.draft_edit(draft=draft, actor=clinician, content=CONTENT)  # draft is superseded
    resp = acknowledge(reviewer, waiting(draft)[0])
    assert resp.status_code == 409 and resp.json()["code"] == "not_reviewable"
    resp = reviewer.post(f"/api/v1/medical/drafts/{new.pk}/findings/{10**9}/acknowledge/", {"note": NOTE},
                         format="json")
    assert resp.status_code == 404
    # a finding id of another version is not found under this one
    other = version_with(clinician, WAITING_TWO)
    resp = reviewer.post(f"/api/v1/medical/drafts/{other.pk}/findings/{waiting(draft)[0].pk}/acknowledge/",
                         {"note": NOTE}, format="json")
    assert resp.status_code == 404
    assert untouched(draft) and untouched(other)


def test_a_sent_back_version_is_not_acknowledged(api_client_for, make_user):
    draft = version_with(make_user("clinician"), WAITING_TWO)
    reviewer = api_client_for("reviewer")
    resp = reviewer.post(f"/api/v1/medical/drafts/{draft.pk}/reviews/",
                         {"score": 0.3, "decision": "send_back", "comments": "Name the drug."}, format="json")
    assert resp.status_code == 201
    resp = acknowledge(api_client_for("reviewer"), waiting(draft)[0])
    assert resp.status_code == 409 and resp.json()["code"] == "not_reviewable"
    assert untouched(draft)


def test_the_database_refuses_an_acknowledgement_of_another_check_or_a_partial_one(make_user):
    reviewer = make_user("reviewer")
    draft = version_with(make_user("clinician"), [("icd_exists", "error"), ("drug_unverifiable", "error")])
    hard, soft = draft.findings.order_by("id")
    now = timezone.now()
    for finding, values in ((hard, {"acknowledged_by": reviewer, "acknowledged_at": now, "acknowledge_note": NOTE}),
                            (soft, {"acknowledged_at": now}),  # who and why missing
                            (soft, {"acknowledged_by": reviewer, "acknowledged_at": now, "acknowledge_note": ""})):
        with pytest.raises(IntegrityError), transaction.atomic():
            Finding.objects.filter(pk=finding.pk).update(**values)


# --- the API shape --------------------------------------------------------------------------------------------
def test_the_draft_api_shows_acknowledgements_and_the_verification_state(api_client_for, make_user):
    clinician = api_client_for("clinician")
    draft = version_with(clinician.user, WAITING_TWO)
    reviewer = api_client_for("reviewer")
    body = clinician.get(f"/api/v1/medical/drafts/{draft.pk}/").json()
    assert body["verification"] == "unverifiable" and not body["verified"] and body["waiting_acknowledgement"] == 2
    first = waiting(draft)[0]
    acknowledge(reviewer, first)
    body = clinician.get(f"/api/v1/medical/drafts/{draft.pk}/").json()
    assert body["waiting_acknowledgement"] == 1
    by_id = {f["id"]: f for f in body["findings"]}
    assert set(by_id[first.pk]) == {"id", "check", "severity", "message", "evidence", "section", "start", "end",
                                    "item", "acknowledgeable", "acknowledged_by", "acknowledged_at",
                                    "acknowledge_note"}
    assert (by_id[first.pk]["acknowledged_by"], by_id[first.pk]["acknowledge_note"]) == (reviewer.user.username, NOTE)
    warning = next(f for f in body["findings"] if f["severity"] == "warning")
    assert (warning["acknowledgeable"], warning["acknowledged_by"], warning["acknowledged_at"],
            warning["acknowledge_note"]) == (False, None, None, "")
    queue = reviewer.get("/api/v1/medical/review-queue/").json()["results"]
    assert [d["verification"] for d in queue if d["id"] == draft.pk] == ["unverifiable"]


def test_the_schema_declares_the_endpoint_with_its_statuses(client):
    schema = client.get("/api/schema/?format=json").json()
    op = schema["paths"]["/api/v1/medical/drafts/{draft_id}/findings/{finding_id}/acknowledge/"]["post"]
    assert set(op["responses"]) == {"200", "400", "401", "403", "404", "409", "429"}
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][ref]["properties"]["note"]["maxLength"] == 300
    out = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"acknowledged_by", "acknowledged_at", "acknowledge_note"} <= set(
        schema["components"]["schemas"][out]["properties"])


# --- the review page ---------------------------------------------------------------------------------------------
def page(client, draft):
    return client.get(f"/medical/drafts/{draft.pk}/").content.decode()


def post_note(client, finding, note):
    return client.post(f"/medical/drafts/{finding.draft_id}/findings/{finding.pk}/acknowledge/", {"note": note})


def test_the_review_page_acknowledges_with_a_labelled_form_and_updates_the_badge(client, make_user):
    clinician, reviewer = make_user("clinician"), make_user("reviewer")
    draft = version_with(clinician, WAITING_TWO)
    first, second = waiting(draft)
    client.force_login(reviewer)
    html = page(client, draft)
    assert re.search(r'data-testid="verification">needs acknowledgement \(2\)<', html)
    assert 'style="' not in html and "confirm(" not in html
    for f in (first, second):
        assert f'<label for="ack-note-{f.pk}">' in html and f'id="ack-note-{f.pk}"' in html
        assert f'aria-describedby="ack-help-{f.pk}"' in html and f'data-testid="acknowledge-submit-{f.pk}"' in html
    warning = draft.findings.get(severity="warning")
    assert f'data-testid="acknowledge-{warning.pk}"' not in html  # only acknowledgeable findings get a form

    resp = post_note(client, first, "   ")
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "note is required" in html and f'aria-describedby="ack-help-{first.pk} ack-error-{first.pk}"' in html
    assert f'id="ack-error-{first.pk}"' in html and 'aria-invalid="true"' in html
    assert untouched(draft)

    resp = post_note(client, first, NOTE)
    assert resp.status_code == 302 and resp["Location"].endswith(f"/medical/drafts/{draft.pk}/#finding-{first.pk}")
    html = page(client, draft)
    assert re.search(r'data-testid="verification">needs acknowledgement \(1\)<', html)
    assert f"Acknowledged by {reviewer.username} on " in html and NOTE in html
    assert f'data-testid="acknowledge-{first.pk}"' not in html  # the form gave way to who, when and why
    assert AuditEvent.objects.get(action="medical_finding.acknowledge").via == "web"

    resp = post_note(client, first, "again")  # a double submit
    assert resp.status_code == 409 and "already acknowledged" in resp.content.decode()
    assert AuditEvent.objects.filter(action="medical_finding.acknowledge").count() == 1

    assert post_note(client, second, "Brand name of a known drug.").status_code == 302
    html = client.get(f"/medical/drafts/{draft.pk}/", follow=True).content.decode()
    assert re.search(r'data-testid="verification">passed<', html)
    assert "Finding acknowledged. Verification passed." in html  # the flash after the redirect
    draft.refresh_from_db()
    assert draft.verification == "passed"


def test_the_author_and_clinicians_see_no_form_and_may_not_post(client, make_user):
    clinician = make_user("clinician")
    author = make_user("reviewer")
    draft = version_with(author, WAITING_TWO, clinician=clinician)
    finding = waiting(draft)[0]
    client.force_login(author)
    html = page(client, draft)
    assert f'data-testid="acknowledge-{finding.pk}"' not in html
    assert "other than you (the author)" in html
    resp = post_note(client, finding, NOTE)
    assert resp.status_code == 403 and "author" in resp.content.decode()
    client.force_login(clinician)
    assert f'data-testid="acknowledge-{finding.pk}"' not in page(client, draft)
    assert post_note(client, finding, NOTE).status_code == 403
    assert untouched(draft)


def test_the_review_queue_says_how_many_wait(client, make_user):
    draft = version_with(make_user("clinician"), WAITING_TWO)
    client.force_login(make_user("reviewer"))
    html = client.get("/medical/review/").content.decode()
    assert re.search(rf'data-testid="queue-verification-{draft.pk}">needs acknowledgement \(2\)<', html)
