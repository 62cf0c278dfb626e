"""REST API of generation jobs."""
from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import requires
from apps.core import throttling
from apps.core.domains import Domain
from apps.core.schema import error
from apps.core.serializers import StrictInputSerializer
from apps.generation.models import GenerationJob
from apps.generation.selectors import jobs_visible_to
from apps.generation.services import job_cancel, job_create, job_read_audit


class JobRefOutput(serializers.Serializer):
    """A job as another app's resource names it (a report's, a triage's, a draft's): its own page is
    /api/v1/jobs/{id}/. `error` is the job's failure; for medical jobs it is the exception type only."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()

    def get_url(self, job) -> str:
        return f"/api/v1/jobs/{job.pk}/"


WITHHELD = ("prompt", "output", "error")


class JobOutput(serializers.ModelSerializer):
    """A job as jobs_visible_to gives it. Where the caller may not read its content (an admin looking at a medical
    job: patient data), prompt, output and error are empty and content_withheld is true."""

    owner = serializers.CharField(source="owner.username")
    adapter = serializers.CharField(source="adapter.label", allow_null=True, help_text="name@version, or null")
    duration_s = serializers.FloatField(allow_null=True)
    time_to_first_token_s = serializers.FloatField(allow_null=True)
    url = serializers.SerializerMethodField()
    content_withheld = serializers.SerializerMethodField(
        help_text="true: prompt, output and error are not shown to you (a medical job's belong to its owner)")

    class Meta:
        model = GenerationJob
        fields = [
            "id", "url", "kind", "status", "domain", "adapter", "model_name", "owner", "prompt", "chat",
            "max_tokens", "temperature", "top_p", "seed", "output", "finish_reason", "prompt_tokens",
            "completion_tokens", "error", "content_withheld", "attempts", "created_at", "started_at",
            "first_token_at", "finished_at", "duration_s", "time_to_first_token_s",
        ]

    def get_url(self, job) -> str:
        return f"/api/v1/jobs/{job.pk}/"

    def get_content_withheld(self, job) -> bool:
        return not getattr(job, "content_visible", False)  # a job read past jobs_visible_to: withheld

    def to_representation(self, job):
        data = super().to_representation(job)
        if data["content_withheld"]:
            data.update(dict.fromkeys(WITHHELD, ""))
        return data


class JobInput(StrictInputSerializer):
    prompt = serializers.CharField(max_length=settings.PLUMBLINE_MAX_PROMPT_CHARS, trim_whitespace=False)
    domain = serializers.ChoiceField(choices=Domain.choices, default="general")
    max_tokens = serializers.IntegerField(min_value=1, max_value=settings.PLUMBLINE_MAX_NEW_TOKENS, default=256)
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, default=0.0)
    top_p = serializers.FloatField(min_value=0.01, max_value=1.0, default=1.0)
    seed = serializers.IntegerField(min_value=0, max_value=2**63 - 1, required=False, allow_null=True)
    chat = serializers.BooleanField(default=True)
    adapter = serializers.CharField(
        max_length=80, required=False, help_text="omit: the domain's active adapter; 'base': none; 'name' or 'name@N'"
    )


class JobListCreateApi(ListAPIView):
    throttle_scopes = {"POST": throttling.JOBS}
    serializer_class = JobOutput

    def get_permissions(self):
        perm = "generation.add_generationjob" if self.request.method == "POST" else "generation.view_generationjob"
        return [requires(perm)()]

    def get_queryset(self):
        return jobs_visible_to(user=self.request.user).select_related("adapter")  # JobOutput.adapter

    @extend_schema(request=JobInput, responses={202: JobOutput})
    def post(self, request):
        data = JobInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_create(owner=request.user, request=request, **data.validated_data)
        job = jobs_visible_to(user=request.user).select_related("adapter").get(pk=job.pk)
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/jobs/{job.pk}/"})


class JobDetailApi(APIView):
    permission_classes = [requires("generation.view_generationjob")]

    @extend_schema(responses=JobOutput)
    def get(self, request, job_id: int):
        job = get_object_or_404(jobs_visible_to(user=request.user).select_related("adapter"), pk=job_id)
        job_read_audit(job=job, user=request.user, request=request)
        return Response(JobOutput(job).data)


class JobCancelApi(APIView):
    permission_classes = [requires("generation.view_generationjob")]

    @extend_schema(request=None, responses={200: JobOutput, 409: error("the job has already ended")})
    def post(self, request, job_id: int):
        visible = jobs_visible_to(user=request.user).select_related("adapter")
        job = get_object_or_404(visible, pk=job_id)
        job_cancel(job=job, actor=request.user, request=request)
        return Response(JobOutput(visible.get(pk=job.pk)).data)
