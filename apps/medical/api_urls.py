"""REST endpoints of the medical app (mounted at /api/v1/medical/)."""
from django.urls import path

from apps.medical import api

urlpatterns = [
    path("encounters/", api.EncounterListCreateApi.as_view(), name="api-medical-encounter-list"),
    path("encounters/<int:encounter_id>/", api.EncounterDetailApi.as_view(), name="api-medical-encounter-detail"),
    path("encounters/<int:encounter_id>/status/", api.EncounterStatusApi.as_view(), name="api-medical-encounter-status"),
    path("encounters/<int:encounter_id>/triage/", api.TriageStartApi.as_view(), name="api-medical-triage"),
    path("encounters/<int:encounter_id>/drafts/", api.DraftStartApi.as_view(), name="api-medical-draft-start"),
    path("drafts/<int:draft_id>/", api.DraftDetailApi.as_view(), name="api-medical-draft-detail"),
    path("drafts/<int:draft_id>/versions/", api.DraftEditApi.as_view(), name="api-medical-draft-edit"),
    path("drafts/<int:draft_id>/reviews/", api.ReviewCreateApi.as_view(), name="api-medical-draft-review"),
    path("drafts/<int:draft_id>/findings/", api.FindingListApi.as_view(), name="api-medical-draft-findings"),
    path("drafts/<int:draft_id>/findings/<int:finding_id>/acknowledge/", api.FindingAcknowledgeApi.as_view(),
         name="api-medical-finding-acknowledge"),
    path("review-queue/", api.ReviewQueueApi.as_view(), name="api-medical-review-queue"),
]
