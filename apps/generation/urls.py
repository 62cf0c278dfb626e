from django.urls import path

from apps.generation import views

app_name = "generation"
urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("new/", views.job_new, name="job-new"),
    path("<int:job_id>/", views.job_detail, name="job-detail"),
    path("<int:job_id>/cancel/", views.job_cancel_view, name="job-cancel"),
]
