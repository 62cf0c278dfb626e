"""Writes of the medical app, one module per concern: encounters, triage, drafts, verification, review, export.

Triage and drafting each run as one job submitted through apps.generation (job_submit); their runners
(apps.medical.runner) store a result only while the job's attempt is current (job_owned), so a redelivered
job can neither store twice nor overwrite a newer attempt. Verification runs on queue default after a draft
version is written; it stores findings once per version.

A draft version is final only when verification passed, a reviewer scored it above 0.8 and that reviewer is
not the version's author. Final versions never change; an edit writes a new version that is verified and
reviewed again. Verification is "unverifiable" when its only errors say a check could not run
(ACKNOWLEDGEABLE_CHECKS); it passes once a reviewer other than the author acknowledges each of them.

`from apps.medical import services; services.draft_request(...)` keeps working: the public names are here.
"""
from apps.medical.services.drafts import (
    DRAFT_JOB_KIND,
    SECTION_NAMES,
    draft_edit,
    draft_job_ended,
    draft_read_audit,
    draft_record,
    draft_request,
    draft_write,
    parse_codes_output,
)
from apps.medical.services.encounters import (
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_TEXT_CHARS,
    PATIENT_REF_RE,
    encounter_clean,
    encounter_create,
    encounter_intake,
    encounter_read_audit,
    encounters_list_audit,
    latest_triage_level,
)
from apps.medical.services.export import (
    training_export,
)
from apps.medical.services.review import (
    FINAL_SCORE_ABOVE,
    MAX_ACKNOWLEDGE_NOTE_CHARS,
    finding_acknowledge,
    review_submit,
    waiting_findings,
)
from apps.medical.services.triage import (
    TRIAGE_JOB_KIND,
    parse_triage_output,
    triage_job_ended,
    triage_record,
    triage_request,
)
from apps.medical.services.verification import (
    draft_content,
    draft_verify,
    draft_verify_fail,
    encounter_facts,
    verification_state,
)

__all__ = [
    "DRAFT_JOB_KIND",
    "FINAL_SCORE_ABOVE",
    "MAX_ACKNOWLEDGE_NOTE_CHARS",
    "MAX_ITEM_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_CHARS",
    "PATIENT_REF_RE",
    "SECTION_NAMES",
    "TRIAGE_JOB_KIND",
    "draft_content",
    "draft_edit",
    "draft_job_ended",
    "draft_read_audit",
    "draft_record",
    "draft_request",
    "draft_verify",
    "draft_verify_fail",
    "draft_write",
    "encounter_clean",
    "encounter_create",
    "encounter_facts",
    "encounter_intake",
    "encounter_read_audit",
    "encounters_list_audit",
    "finding_acknowledge",
    "latest_triage_level",
    "parse_codes_output",
    "parse_triage_output",
    "review_submit",
    "training_export",
    "triage_job_ended",
    "triage_record",
    "triage_request",
    "verification_state",
    "waiting_findings",
]
