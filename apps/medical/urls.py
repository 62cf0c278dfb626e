"""Web pages of the medical app (mounted at /medical/)."""
from django.urls import path

from apps.medical import views

app_name = "medical"
urlpatterns = [
    path("", views.encounter_list, name="encounter-list"),
    path("encounters/new/", views.encounter_new, name="encounter-new"),
    path("encounters/<int:encounter_id>/", views.encounter_detail, name="encounter-detail"),
    path("encounters/<int:encounter_id>/triage/", views.triage_start, name="triage-start"),
    path("encounters/<int:encounter_id>/drafts/", views.draft_start, name="draft-start"),
    path("review/", views.review_queue, name="review-queue"),
    path("icd10/", views.icd_codes_search, name="icd-search"),
    path("drafts/<int:draft_id>/", views.draft_detail, name="draft-detail"),
    path("drafts/<int:draft_id>/edit/", views.draft_edit, name="draft-edit"),
    path("drafts/<int:draft_id>/review/", views.review_submit, name="draft-review"),
    path("drafts/<int:draft_id>/findings/<int:finding_id>/acknowledge/", views.finding_acknowledge,
         name="finding-acknowledge"),
]
