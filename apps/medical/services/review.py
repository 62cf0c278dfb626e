"""Expert review: a version is final only when verification passed and a reviewer other than its author scored
it above 0.8; reviewers acknowledge the errors of checks that could not run, saying why."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.core.exceptions import ApplicationError
from apps.medical.models import Draft, Finding, Review
from apps.medical.services.encounters import MAX_TEXT_CHARS
from apps.medical.services.verification import verification_state
from apps.medical.verification.types import ACKNOWLEDGEABLE_CHECKS

DraftStatus = Draft.Status
Verification = Draft.Verification

MAX_ACKNOWLEDGE_NOTE_CHARS = 300
FINAL_SCORE_ABOVE = Decimal("0.80")  # a score must be strictly above this to approve


def _score(value) -> Decimal:
    try:
        score = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"score must be a number 0-1, got {value!r}", field="score") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(1):
        raise ApplicationError(f"score must be between 0 and 1, got {value}", field="score")
    if score != score.quantize(Decimal("0.01")):
        raise ApplicationError(f"score has at most two decimals, got {value}", field="score")
    return score


@transaction.atomic
def review_submit(
    *, draft: Draft, reviewer, score, decision: str, comments: str = "", request=None
) -> Review:
    """Score a version and approve (final) or send it back. Every refusal is a 4xx and writes nothing."""
    if not reviewer.has_perm("medical.add_review"):
        raise ApplicationError("only reviewers may review drafts", status=403, code="forbidden")
    if decision not in Review.Decision.values:
        raise ApplicationError(f"decision must be one of {', '.join(Review.Decision.values)}", field="decision")
    score = _score(score)
    comments = (comments or "").strip()
    if len(comments) > MAX_TEXT_CHARS:
        raise ApplicationError(f"comments must be at most {MAX_TEXT_CHARS} characters", field="comments")
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    if draft.status == DraftStatus.FINAL:
        raise ApplicationError(f"version {draft.version} is final and cannot be reviewed again", status=409,
                               code="final")
    if draft.status != DraftStatus.IN_REVIEW:
        why = {
            DraftStatus.GENERATING: "is still being generated",
            DraftStatus.VERIFYING: "has not finished verification",
            DraftStatus.SUPERSEDED: "has been replaced by a newer version; review the latest",
            DraftStatus.SENT_BACK: "was sent back; an edit makes a new version to review",
            DraftStatus.FAILED: "failed to generate",
        }.get(draft.status, f"is {draft.status}")
        raise ApplicationError(f"version {draft.version} {why}", status=409, code="not_reviewable")
    if decision == Review.Decision.APPROVE:
        if draft.author_id == reviewer.pk:
            raise ApplicationError("you are this version's author; another reviewer must approve it", status=403,
                                   code="own_draft")
        if draft.verification == Verification.UNVERIFIABLE:
            n = waiting_findings(draft).count()
            raise ApplicationError(
                f"{n} finding(s) of checks that could not run wait for acknowledgement by a reviewer who is not "
                "the author; acknowledge each one before approving", status=409, code="unverifiable",
            )
        if draft.verification != Verification.PASSED:
            n = draft.findings.filter(severity="error").count()
            raise ApplicationError(
                f"verification failed with {n} error finding(s); it cannot be approved — send it back",
                status=409, code="unverified",
            )
        if score <= FINAL_SCORE_ABOVE:
            raise ApplicationError(f"approval needs a score above {FINAL_SCORE_ABOVE}; got {score}", field="score")
    elif not comments:
        raise ApplicationError("say what to change: comments are required to send a draft back", field="comments")
    review = Review.objects.create(draft=draft, reviewer=reviewer, score=score, decision=decision, comments=comments)
    if decision == Review.Decision.APPROVE:
        draft.status, draft.finalized_by, draft.finalized_at = DraftStatus.FINAL, reviewer, timezone.now()
        draft.save(update_fields=["status", "finalized_by", "finalized_at"])
    else:
        draft.status = DraftStatus.SENT_BACK
        draft.save(update_fields=["status"])
    audit_log(actor=reviewer, action=f"medical_review.{decision}", obj=review, request=request,
              detail={"draft": draft.pk, "encounter": draft.encounter_id, "version": draft.version,
                      "score": str(score)})
    if draft.status == DraftStatus.FINAL:
        audit_log(actor=reviewer, action="medical_draft.finalize", obj=draft, request=request,
                  detail={"encounter": draft.encounter_id, "version": draft.version})
    return review


def waiting_findings(draft: Draft):
    """The version's acknowledgeable errors that no reviewer has acknowledged yet."""
    return draft.findings.filter(severity="error", check_name__in=ACKNOWLEDGEABLE_CHECKS,
                                 acknowledged_at__isnull=True)


@transaction.atomic
def finding_acknowledge(*, finding: Finding, actor, note: str, request=None) -> Finding:
    """A reviewer who is not the version's author acknowledges an error whose check could not run, saying why.

    The draft row is locked first, so a double click waits for the first and is answered 409; when the last
    waiting finding is acknowledged and no other error remains, the version's verification passes (audited).
    Every refusal is a 4xx and writes nothing.
    """
    if not actor.has_perm("medical.add_review"):
        raise ApplicationError("only reviewers may acknowledge findings", status=403, code="forbidden")
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        raise ApplicationError("note is required: say why the finding is acceptable", field="note")
    if len(note) > MAX_ACKNOWLEDGE_NOTE_CHARS:
        raise ApplicationError(f"note must be at most {MAX_ACKNOWLEDGE_NOTE_CHARS} characters, got {len(note)}",
                               field="note")
    draft = Draft.objects.select_for_update().get(pk=finding.draft_id)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)  # as of now, after the draft lock
    if draft.author_id == actor.pk:
        raise ApplicationError("you are this version's author; another reviewer must acknowledge its findings",
                               status=403, code="own_draft")
    latest = draft.encounter.drafts.order_by("-version").values_list("version", flat=True).first()
    if draft.status != DraftStatus.IN_REVIEW or draft.version != latest:
        raise ApplicationError(
            f"version {draft.version} is not the current version in review (it is {draft.status}; latest v{latest})",
            status=409, code="not_reviewable",
        )
    if not finding.acknowledgeable:
        raise ApplicationError(
            f"finding {finding.pk} ({finding.severity} of check {finding.check_name}) is not one a reviewer can "
            "acknowledge; only errors of checks that could not run are", status=409, code="not_acknowledgeable",
        )
    if finding.acknowledged_at is not None:
        raise ApplicationError(f"finding {finding.pk} is already acknowledged", status=409,
                               code="already_acknowledged")
    finding.acknowledged_by, finding.acknowledged_at, finding.acknowledge_note = actor, timezone.now(), note
    finding.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledge_note"])
    ids = {"draft": draft.pk, "encounter": draft.encounter_id, "version": draft.version}
    audit_log(actor=actor, action="medical_finding.acknowledge", obj=finding, request=request,
              detail={**ids, "check": finding.check_name})
    errors = list(draft.findings.filter(severity="error", acknowledged_at__isnull=True)
                  .values_list("check_name", flat=True))
    if draft.verification == Verification.UNVERIFIABLE and verification_state(errors) == Verification.PASSED:
        draft.verification = Verification.PASSED
        draft.save(update_fields=["verification"])
        audit_log(actor=actor, action="medical_draft.verify", obj=draft, request=request,
                  detail={**ids, "verification": draft.verification, "via": "acknowledgement"})
    return finding
