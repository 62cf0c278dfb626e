"""Expert review: a version is final only when verification passed, the score is above 0.8 and the reviewer
is not its author. Refusals are 4xx and write nothing; final versions never change; an edit is a new version
that is verified and reviewed again. The training export de-identifies free text."""
from decimal import Decimal

import pytest

from apps.accounts.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.medical import services
from apps.medical.models import Draft, Review
from tests.apps.medical.factories import CLEAN_CONTENT, PLANTED_CONTENT, encounter

pytestmark = pytest.mark.django_db


def verified_version(author, content=CLEAN_CONTENT, *, clinician=None, **encounter_overrides) -> Draft:
    """A version written by `author` (an edit) and verified by the verification task's service."""
    clinician = clinician or author
    e = encounter(clinician, **encounter_overrides)
    base = Draft.objects.create(encounter=e, version=1, author=clinician, source="model", status="in_review",
                                verification="failed")
    new = services.draft_edit(draft=base, actor=author, content=content)
    services.draft_verify(draft_id=new.pk)
    new.refresh_from_db()
    return new


def review(api, draft, score, decision="approve", comments=""):
    return api.post(f"/api/v1/medical/drafts/{draft.pk}/reviews/",
                    {"score": score, "decision": decision, "comments": comments}, format="json")


def nothing_written(draft):
    draft.refresh_from_db()
    return draft.status == "in_review" and not draft.reviews.exists() and draft.finalized_by is None


def test_score_of_exactly_0_8_is_refused(api_client_for, make_user):
    draft = verified_version(make_user("clinician"))
    assert draft.verification == "passed" and draft.status == "in_review"
    resp = review(api_client_for("reviewer"), draft, "0.80")
    assert resp.status_code == 400 and "score" in resp.json()["errors"]
    assert "above 0.80" in resp.json()["detail"]
    assert nothing_written(draft)


def test_the_author_may_not_approve_their_own_version(api_client_for, make_user):
    reviewer = api_client_for("reviewer")
    draft = verified_version(reviewer.user, clinician=make_user("clinician"))  # the reviewer edited it, so they are its author
    resp = review(reviewer, draft, 0.95)
    assert resp.status_code == 403 and "author" in resp.json()["detail"]
    assert nothing_written(draft)
    from apps.medical.selectors import review_queue

    assert draft not in review_queue(user=reviewer.user)  # nor is it in their queue


def test_failed_verification_cannot_be_approved(api_client_for, make_user):
    draft = verified_version(make_user("clinician"), PLANTED_CONTENT)
    assert draft.verification == "failed"
    resp = review(api_client_for("reviewer"), draft, 0.99)
    assert resp.status_code == 409 and "verification failed" in resp.json()["detail"]
    assert nothing_written(draft)


def test_another_reviewer_approves_at_0_81_and_the_version_is_final_and_immutable(api_client_for, make_user):
    clinician = make_user("clinician")
    draft = verified_version(clinician)
    reviewer = api_client_for("reviewer")
    resp = review(reviewer, draft, 0.81, comments="Good.")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["status"] == "final" and body["finalized_by"] == reviewer.user.username and body["verified"]
    draft.refresh_from_db()
    assert draft.is_final and Review.objects.get(draft=draft).score == Decimal("0.81")
    assert AuditEvent.objects.filter(action="medical_draft.finalize", object_id=str(draft.pk)).count() == 1

    # final: no second review, and an edit is a new version that needs verification and review again
    assert review(api_client_for("reviewer"), draft, 0.9).status_code == 409
    edit = {**CLEAN_CONTENT, "assessment": "Chest pain, likely musculoskeletal."}
    resp = reviewer.post(f"/api/v1/medical/drafts/{draft.pk}/versions/", edit, format="json")
    assert resp.status_code == 201, resp.json()
    new = Draft.objects.get(pk=resp.json()["id"])
    assert (new.version, new.parent_id, new.status, new.verification) == (draft.version + 1, draft.pk, "verifying",
                                                                          "pending")
    draft.refresh_from_db()
    assert draft.is_final and draft.assessment == CLEAN_CONTENT["assessment"]  # the final version is unchanged
    assert review(api_client_for("reviewer"), new, 0.9).status_code == 409  # not verified yet


def test_send_back_needs_comments_and_an_edit_makes_a_new_version(api_client_for, make_user):
    clinician = make_user("clinician")
    draft = verified_version(clinician, PLANTED_CONTENT)
    reviewer = api_client_for("reviewer")
    assert review(reviewer, draft, 0.3, "send_back").status_code == 400
    assert nothing_written(draft)
    resp = review(reviewer, draft, 0.3, "send_back", "Amoxicillin with a penicillin allergy; paracetamol dose.")
    assert resp.status_code == 201 and resp.json()["status"] == "sent_back"
    assert review(api_client_for("reviewer"), draft, 0.9).status_code == 409
    fixed = services.draft_edit(draft=draft, actor=clinician, content=CLEAN_CONTENT)
    draft.refresh_from_db()
    assert draft.status == "superseded" and fixed.version == draft.version + 1
    with pytest.raises(ApplicationError) as exc:  # only the latest version may be edited
        services.draft_edit(draft=draft, actor=clinician, content=CLEAN_CONTENT)
    assert exc.value.status == 409


@pytest.mark.parametrize(("score", "field"), [(1.5, "score"), (-0.1, "score"), ("high", "score"), (0.805, "score")])
def test_bad_review_input_is_a_400(api_client_for, make_user, score, field):
    draft = verified_version(make_user("clinician"))
    resp = review(api_client_for("reviewer"), draft, score)
    assert resp.status_code == 400 and field in resp.json()["errors"]
    assert nothing_written(draft)


def test_clinicians_may_not_review(api_client_for, make_user):
    draft = verified_version(make_user("clinician"))
    assert review(api_client_for("clinician"), draft, 0.9).status_code == 403
    assert nothing_written(draft)


def test_verification_runs_once_per_version(make_user):
    draft = verified_version(make_user("clinician"), PLANTED_CONTENT)
    n = draft.findings.count()
    assert services.draft_verify(draft_id=draft.pk) is None  # a redelivered verification task
    assert draft.findings.count() == n


def test_training_export_deidentifies_free_text(api_client_for, make_user):
    clinician = make_user("clinician")
    content = {**CLEAN_CONTENT, "subjective": "Seen with his wife Mary Jones on 03/14/2025; call 555-123-4567."}
    draft = verified_version(clinician, content, notes="Contact: mary.jones@example.com, MRN 12345678.")
    assert review(api_client_for("reviewer"), draft, 0.9).status_code == 201
    rows = services.training_export()
    row = next(r for r in rows if r["draft"] == draft.pk)
    assert row["label"] == "approved" and row["score"] == pytest.approx(0.9)
    text = row["subjective"] + row["prompt"]
    for secret in ("Mary", "Jones", "03/14/2025", "555-123-4567", "mary.jones@example.com", "12345678"):
        assert secret not in text
    assert "[PHONE]" in row["subjective"] and "[EMAIL]" in row["prompt"]
    assert row["icd_codes"] == ["R07.9"]
    assert AuditEvent.objects.filter(action="medical_draft.export").exists()


def test_training_export_command_writes_jsonl(api_client_for, make_user, tmp_path):
    import json

    from django.core.management import call_command

    draft = verified_version(make_user("clinician"), notes="Brother John Smith called from 555-987-6543.")
    assert review(api_client_for("reviewer"), draft, 0.2, "send_back", "Plan misses analgesia.").status_code == 201
    out = tmp_path / "rows.jsonl"
    call_command("medical_training_export", out=str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["draft"], r["label"]) for r in rows] == [(draft.pk, "rejected")]
    assert "555-987-6543" not in rows[0]["prompt"] and "John Smith" not in rows[0]["prompt"]
    assert rows[0]["review_comments"] == "Plan misses analgesia."


def test_review_page_shows_the_refusal_at_0_8(client, make_user):
    draft = verified_version(make_user("clinician"))
    client.force_login(make_user("reviewer"))
    html = client.get(f"/medical/drafts/{draft.pk}/").content.decode()
    assert "0.81-0.89" in html and 'data-testid="submit-review"' in html  # the rubric and the form
    resp = client.post(f"/medical/drafts/{draft.pk}/review/", {"score": "0.80", "decision": "approve"})
    assert resp.status_code == 400 and "approval needs a score above 0.80" in resp.content.decode()
    assert nothing_written(draft)


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_at_once_finalise_once(make_user):
    import threading

    from django.db import connection

    from apps.core.exceptions import ApplicationError

    draft = verified_version(make_user("clinician"))
    reviewers = [make_user("reviewer"), make_user("reviewer")]
    barrier, outcomes = threading.Barrier(2), []

    def approve(reviewer):
        try:
            barrier.wait()
            services.review_submit(draft=draft, reviewer=reviewer, score="0.9", decision="approve")
            outcomes.append("final")
        except ApplicationError as exc:
            outcomes.append(exc.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes, key=str) == [409, "final"]
    assert Review.objects.filter(draft=draft).count() == 1
