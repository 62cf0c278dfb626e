"""REST endpoints of the generation app (mounted at /api/v1/jobs/)."""
from django.urls import path

from apps.generation import api

urlpatterns: list = [
    path("", api.JobListCreateApi.as_view(), name="api-job-list"),
    path("<int:job_id>/", api.JobDetailApi.as_view(), name="api-job-detail"),
    path("<int:job_id>/cancel/", api.JobCancelApi.as_view(), name="api-job-cancel"),
]
