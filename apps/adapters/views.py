"""Web pages of the adapter registry (admins upload, activate and roll back; everyone may look)."""
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from apps.adapters.models import AdapterVersion
from apps.adapters.selectors import active_adapters, adapter_versions
from apps.adapters.services import (
    adapter_activate,
    adapter_rollback,
    adapter_upload,
    adapter_upload_limits,
    adapter_upload_refuse,
)
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.core.uploads import limit_uploads, upload_refusal


class UploadForm(forms.Form):
    name = forms.SlugField(max_length=64)
    domain = forms.ChoiceField(choices=Domain.choices)
    config = forms.FileField(required=False, label="adapter_config.json")
    weights = forms.FileField(required=False, label="adapter_model.safetensors")
    archive = forms.FileField(required=False, label="or one zip of both")


@csrf_exempt  # CSRF is checked by _adapter_list, after the upload limits are in place (apps/core/uploads.py)
@login_required
@permission_required("adapters.view_adapterversion", raise_exception=True)
def adapter_list(request):
    if request.method == "POST":
        if not request.user.has_perm("adapters.add_adapterversion"):
            return render(request, "403.html", status=403)  # the body is never read
        limit_uploads(request, adapter_upload_limits())
    return _adapter_list(request)


@csrf_protect
def _adapter_list(request):
    form = UploadForm()
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        refused = upload_refusal(request)
        if refused is not None:
            exc = adapter_upload_refuse(actor=request.user, request=request, name="", message=refused.message,
                                        field=refused.field, status=413 if refused.limit is not None else 400)
            form = UploadForm(request.POST)  # the fields that came before the refused file
            form.add_error(refused.field if refused.field in form.fields else None, exc.message)
            status = exc.status
        elif not form.is_valid():
            adapter_upload_refuse(actor=request.user, request=request, name=request.POST.get("name", ""),
                                  message="invalid input", field=",".join(sorted(form.errors)))
        else:
            files = {k: v for k, v in form.cleaned_data.items() if k in ("config", "weights", "archive") and v}
            try:
                version, created = adapter_upload(
                    uploaded_by=request.user, name=form.cleaned_data["name"], domain=form.cleaned_data["domain"],
                    request=request, **files,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"Uploaded {version.label}; evaluation queued." if created
                    else f"These files are already stored as {version.label}.",
                )
                return redirect("adapters:list")
        status = status if status != 200 else 400
    active = active_adapters()
    page_obj = paginate_page(request, adapter_versions())
    active_ids = {v.pk for v in active.values() if v is not None}
    for v in page_obj.object_list:
        v.is_active = v.pk in active_ids  # "Roll back" applies only to the version serving its domain now
    context = {"page_obj": page_obj, "active": active, "form": form,
               "evaluating": any(v.eval_status in EVALUATING for v in page_obj.object_list)}
    return render(request, "adapters/list.html", context, status=status)


EVALUATING = (AdapterVersion.EvalStatus.PENDING, AdapterVersion.EvalStatus.RUNNING)


def _loss(base: float | None, adapter: float | None) -> str:
    return "" if base is None else f"{base:.3f} → {adapter:.3f}" if adapter is not None else f"{base:.3f} →"


@login_required
@permission_required("adapters.view_adapterversion", raise_exception=True)
def adapter_eval_status(request):
    """The evaluation state of the versions the page asks about (?id=1&id=2), for the adapters page to poll."""
    ids = [int(i) for i in request.GET.getlist("id") if i.isdigit()][:100]
    rows = AdapterVersion.objects.filter(pk__in=ids).only(
        "id", "eval_status", "eval_error", "domain_loss_base", "domain_loss_adapter", "general_loss_base",
        "general_loss_adapter")
    return JsonResponse({"versions": [
        {"id": v.pk, "eval_status": v.eval_status, "eval_error": v.eval_error,
         "domain_loss": _loss(v.domain_loss_base, v.domain_loss_adapter),
         "general_loss": _loss(v.general_loss_base, v.general_loss_adapter)} for v in rows]})


@login_required
@permission_required("adapters.change_adapterversion", raise_exception=True)
@require_POST
def adapter_activate_view(request, adapter_id: int):
    version = get_object_or_404(adapter_versions(), pk=adapter_id)
    try:
        adapter_activate(version=version, actor=request.user, request=request,
                         override_reason=request.POST.get("override_reason", ""))
        messages.success(request, f"{version.label} now serves {version.domain}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("adapters:list")


@login_required
@permission_required("adapters.change_adapterversion", raise_exception=True)
@require_POST
def adapter_rollback_view(request, adapter_id: int):
    version = get_object_or_404(adapter_versions(), pk=adapter_id)
    try:
        activation = adapter_rollback(version=version, actor=request.user, request=request)
        messages.success(request, f"{version.domain} now serves {activation.adapter or 'the base model'}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("adapters:list")
