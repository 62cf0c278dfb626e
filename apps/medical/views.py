"""Web pages of the medical app: encounters (new, detail with live triage and drafts), the review queue, the
review page (draft beside the encounter, findings at their spans), edits (new versions). Thin: services write,
selectors read, and every page that shows encounter or draft data writes an audit event."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.medical import selectors, services
from apps.medical.forms import (
    AcknowledgeForm,
    CodeFormSet,
    DraftEditForm,
    EncounterForm,
    MedicationFormSet,
    ReviewForm,
    formset_entries,
)
from apps.medical.icd_search import icd_search
from apps.medical.knowledge import default_knowledge
from apps.medical.knowledge.loader import ROUTES
from apps.medical.models import Draft

VIEW_ENCOUNTER, ADD_ENCOUNTER = "medical.view_encounter", "medical.add_encounter"
ADD_TRIAGE = "medical.add_triageassessment"
VIEW_DRAFT, ADD_DRAFT, ADD_REVIEW = "medical.view_draft", "medical.add_draft", "medical.add_review"

RUBRIC = (
    ("0.9-1.0", "Accurate, complete and safe; sign as written or with trivial wording changes."),
    ("0.81-0.89", "Safe and correct; minor omissions that do not change care."),
    ("0.5-0.8", "Usable only after edits: missing or unclear findings, doses or plan. Not approvable."),
    ("0-0.49", "Unsafe or wrong: wrong diagnosis, dose, allergy or interaction problem. Send back."),
)


def _form_errors(form, exc: ValidationError | ApplicationError) -> None:
    if isinstance(exc, ApplicationError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return
    for field, msgs in exc.message_dict.items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, msg)


@login_required
@permission_required(VIEW_ENCOUNTER, raise_exception=True)
def encounter_list(request):
    page_obj = paginate_page(request, selectors.encounters_for_user(user=request.user).order_by("-created_at", "-id"))
    services.encounters_list_audit(encounter_ids=[e.pk for e in page_obj.object_list], user=request.user,
                                   request=request)
    return render(request, "medical/encounter_list.html", {"page_obj": page_obj})


@login_required
@permission_required(ADD_ENCOUNTER, raise_exception=True)
def encounter_new(request):
    form = EncounterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        start_work = values.pop("start_work")
        try:
            encounter = services.encounter_intake(created_by=request.user, data=values, start_work=start_work,
                                                  request=request)
        except (ValidationError, ApplicationError) as exc:
            _form_errors(form, exc)
        else:
            return redirect("medical:encounter-detail", encounter_id=encounter.pk)
    return render(request, "medical/encounter_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@permission_required(VIEW_ENCOUNTER, raise_exception=True)
def encounter_detail(request, encounter_id: int):
    encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
    services.encounter_read_audit(encounter=encounter, user=request.user, request=request)
    drafts = list(encounter.drafts.select_related("author", "job").order_by("-version"))
    triage = selectors.latest_triage(encounter)
    busy = (triage is not None and triage.status == "pending") or any(
        d.status in (Draft.Status.GENERATING, Draft.Status.VERIFYING) for d in drafts)
    return render(request, "medical/encounter_detail.html", {
        "encounter": encounter, "triage": triage, "drafts": drafts, "busy": busy,
        "can_start": request.user.has_perm(ADD_TRIAGE),
    })


@login_required
@require_POST
@permission_required(ADD_TRIAGE, raise_exception=True)
def triage_start(request, encounter_id: int):
    encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
    services.triage_request(encounter=encounter, actor=request.user, request=request)
    messages.success(request, "Triage started.")
    return redirect("medical:encounter-detail", encounter_id=encounter.pk)


@login_required
@require_POST
@permission_required(ADD_TRIAGE, raise_exception=True)
def draft_start(request, encounter_id: int):
    encounter = selectors.encounter_for_user(user=request.user, encounter_id=encounter_id)
    services.draft_request(encounter=encounter, actor=request.user, request=request)
    messages.success(request, "Draft note started.")
    return redirect("medical:encounter-detail", encounter_id=encounter.pk)


@login_required
@permission_required(ADD_REVIEW, raise_exception=True)
def review_queue(request):
    page_obj = paginate_page(request, selectors.review_queue(user=request.user))
    services.encounters_list_audit(encounter_ids=[d.encounter_id for d in page_obj.object_list], user=request.user,
                                   request=request)
    return render(request, "medical/review_queue.html", {"page_obj": page_obj})


def _draft_page(request, draft: Draft, *, form=None, ack_form=None, ack_finding: int | None = None,
                status: int = 200):
    services.draft_read_audit(draft=draft, user=request.user, request=request)
    encounter = draft.encounter
    can_review = (request.user.has_perm(ADD_REVIEW) and draft.status == Draft.Status.IN_REVIEW)
    versions = list(selectors.draft_versions(draft))
    is_latest = bool(versions) and versions[0].pk == draft.pk
    return render(request, "medical/draft_detail.html", {
        "draft": draft, "encounter": encounter, "view": selectors.draft_view(draft),
        "versions": versions, "reviews": draft.reviews.select_related("reviewer"),
        "can_acknowledge": can_review and is_latest and draft.author_id != request.user.pk,
        "ack_form": ack_form, "ack_finding": ack_finding,
        "triage": selectors.latest_triage(encounter), "rubric": RUBRIC,
        "form": form or (ReviewForm() if can_review else None), "can_review": can_review,
        "is_author": draft.author_id == request.user.pk,
        "can_edit": request.user.has_perm(ADD_DRAFT) and draft.status not in (
            Draft.Status.GENERATING, Draft.Status.VERIFYING, Draft.Status.SUPERSEDED),
        "busy": draft.status in (Draft.Status.GENERATING, Draft.Status.VERIFYING),
    }, status=status)


@login_required
@permission_required(VIEW_DRAFT, raise_exception=True)
def draft_detail(request, draft_id: int):
    return _draft_page(request, selectors.draft_for_user(user=request.user, draft_id=draft_id))


@login_required
@require_POST
@permission_required(ADD_REVIEW, raise_exception=True)
def review_submit(request, draft_id: int):
    draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            review = services.review_submit(draft=draft, reviewer=request.user, request=request, **form.cleaned_data)
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            final = review.decision == "approve"
            messages.success(request, "Approved: the draft is final." if final else "Sent back to the author.")
            return redirect("medical:draft-detail", draft_id=draft.pk)
    draft.refresh_from_db()
    return _draft_page(request, draft, form=form, status=400)


@login_required
@require_POST
@permission_required(ADD_REVIEW, raise_exception=True)
def finding_acknowledge(request, draft_id: int, finding_id: int):
    draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
    finding = selectors.finding_of_draft(draft=draft, finding_id=finding_id)
    form, status = AcknowledgeForm(request.POST), 400
    if form.is_valid():
        try:
            services.finding_acknowledge(finding=finding, actor=request.user, note=form.cleaned_data["note"],
                                         request=request)
        except ApplicationError as exc:
            _form_errors(form, exc)
            status = exc.status
        else:
            draft.refresh_from_db()
            passed = " Verification passed." if draft.verification == Draft.Verification.PASSED else ""
            messages.success(request, f"Finding acknowledged.{passed}")
            return redirect(f"{reverse('medical:draft-detail', args=[draft.pk])}#finding-{finding.pk}")
    draft.refresh_from_db()
    return _draft_page(request, draft, ack_form=form, ack_finding=finding.pk, status=status)


FREQUENCIES = ("once", "once daily", "twice daily", "three times daily", "four times daily", "every 4 hours",
               "every 6 hours", "every 8 hours", "every 12 hours", "at night", "as needed", "weekly")


@login_required
@permission_required(ADD_DRAFT, raise_exception=True)
def draft_edit(request, draft_id: int):
    draft = selectors.draft_for_user(user=request.user, draft_id=draft_id)
    initial = {n: getattr(draft, n) for n in ("subjective", "objective", "assessment", "plan")}
    data = request.POST if request.method == "POST" else None
    form = DraftEditForm(data, initial=initial)
    codes = CodeFormSet(data, initial=draft.icd_codes, prefix="codes")
    meds = MedicationFormSet(data, initial=draft.medications, prefix="meds")
    coded_errors: dict[str, list[str]] = {}
    if data is not None and all([form.is_valid(), codes.is_valid(), meds.is_valid()]):
        content = {**form.cleaned_data, "icd_codes": formset_entries(codes), "medications": formset_entries(meds)}
        try:
            new = services.draft_edit(draft=draft, actor=request.user, content=content, request=request)
        except (ValidationError, ApplicationError) as exc:
            if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                for name in ("icd_codes", "medications"):  # the lists' errors show at their fieldsets
                    if name in exc.error_dict:
                        coded_errors[name] = [m for e in exc.error_dict.pop(name) for m in e.messages]
            if not isinstance(exc, ValidationError) or exc.error_dict:
                _form_errors(form, exc)
        else:
            messages.success(request, f"Saved as version {new.version}; it is being verified.")
            return redirect("medical:draft-detail", draft_id=new.pk)
    if request.method == "GET":
        services.draft_read_audit(draft=draft, user=request.user, request=request)
    invalid = bool(form.errors or coded_errors or codes.total_error_count() or meds.total_error_count())
    return render(request, "medical/draft_edit.html", {
        "draft": draft, "form": form, "codes": codes, "meds": meds, "coded_errors": coded_errors,
        "drug_names": sorted(default_knowledge().drugs), "routes": ROUTES, "frequencies": FREQUENCIES,
    }, status=400 if data is not None and invalid else 200)


@login_required
@permission_required(ADD_DRAFT, raise_exception=True)
def icd_codes_search(request):
    """[{code, description, billable}] for ?q= (a code prefix or words of a description), billable first."""
    return JsonResponse({"results": [
        {"code": e.code, "description": e.description, "billable": e.billable}
        for e in icd_search(request.GET.get("q", "")[:80])
    ]})
