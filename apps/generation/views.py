"""Web pages of generation jobs: the form, the list, and the live job page."""
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.roles import ROLE_DOMAINS
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.generation.registry import kind_get
from apps.generation.selectors import jobs_visible_to
from apps.generation.services import job_cancel, job_create, job_read_audit


class JobForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=settings.PLUMBLINE_MAX_PROMPT_CHARS)
    domain = forms.ChoiceField(choices=Domain.choices)
    max_tokens = forms.IntegerField(min_value=1, max_value=settings.PLUMBLINE_MAX_NEW_TOKENS, initial=128)
    temperature = forms.FloatField(min_value=0.0, max_value=2.0, initial=0.0)

    def __init__(self, *args, role: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = ROLE_DOMAINS.get(role or "", ())
        self.fields["domain"].choices = [(v, label) for v, label in Domain.choices if v in allowed]


@login_required
@permission_required("generation.add_generationjob", raise_exception=True)
def job_new(request):
    form = JobForm(request.POST or None, role=request.user.role)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_create(owner=request.user, request=request, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect("generation:job-detail", job_id=job.pk)
    return render(request, "generation/job_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@permission_required("generation.view_generationjob", raise_exception=True)
def job_list(request):
    return render(request, "generation/job_list.html", {"page_obj": paginate_page(request, jobs_visible_to(user=request.user))})


@login_required
@permission_required("generation.view_generationjob", raise_exception=True)
def job_detail(request, job_id: int):
    job = get_object_or_404(jobs_visible_to(user=request.user), pk=job_id)
    job_read_audit(job=job, user=request.user, request=request)
    spec = kind_get(job.kind)
    return render(request, "generation/job_detail.html", {"job": job, "clinical": spec is not None and spec.clinical})


@login_required
@require_POST
def job_cancel_view(request, job_id: int):
    job = get_object_or_404(jobs_visible_to(user=request.user), pk=job_id)
    try:
        job_cancel(job=job, actor=request.user, request=request)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("generation:job-detail", job_id=job.pk)
