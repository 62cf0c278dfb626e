"""Web pages of the adapter registry (admins upload, activate and roll back; everyone may look)."""
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.adapters.selectors import active_adapters, adapter_versions
from apps.adapters.services import adapter_activate, adapter_rollback, adapter_upload
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError


class UploadForm(forms.Form):
    name = forms.SlugField(max_length=64)
    domain = forms.ChoiceField(choices=Domain.choices)
    config = forms.FileField(required=False, label="adapter_config.json")
    weights = forms.FileField(required=False, label="adapter_model.safetensors")
    archive = forms.FileField(required=False, label="or one zip of both")


@login_required
@permission_required("adapters.view_adapterversion", raise_exception=True)
def adapter_list(request):
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("adapters.add_adapterversion"):
            return render(request, "403.html", status=403)
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
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
        status = 400
    context = {"versions": adapter_versions(), "active": active_adapters(), "form": form}
    return render(request, "adapters/list.html", context, status=status)


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
