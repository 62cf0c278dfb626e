"""Report pages, included by apps/finance/urls.py under /finance/reports/ (namespace "finance")."""
from django.urls import path

from apps.finance.reports import views

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("new/", views.report_new, name="report-new"),
    path("<int:report_id>/", views.report_detail, name="report-detail"),
    path("<int:report_id>/dcf/", views.report_dcf, name="report-dcf"),
    path("<int:report_id>/approve/", views.report_approve, name="report-approve"),
    path("<int:report_id>/export/<str:fmt>/", views.report_export, name="report-export"),
    path("<int:report_id>/sections/<str:kind>/", views.section_history, name="report-section-history"),
    path("<int:report_id>/sections/<str:kind>/edit/", views.section_edit, name="report-section-edit"),
    path("<int:report_id>/sections/<str:kind>/regenerate/", views.section_regenerate,
         name="report-section-regenerate"),
]
