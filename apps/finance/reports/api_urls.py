"""Report endpoints, included by apps/finance/api_urls.py under /api/v1/finance/reports/."""
from django.urls import path

from apps.finance.reports import api

urlpatterns = [
    path("", api.ReportListCreateApi.as_view(), name="api-finance-report-list"),
    path("<int:report_id>/", api.ReportDetailApi.as_view(), name="api-finance-report-detail"),
    path("<int:report_id>/approve/", api.ReportApproveApi.as_view(), name="api-finance-report-approve"),
    path("<int:report_id>/dcf/", api.ReportDcfApi.as_view(), name="api-finance-report-dcf"),
    # .../export/?format=pdf; also answered without the trailing slash (left out of the schema)
    path("<int:report_id>/export/", api.ReportExportApi.as_view(), name="api-finance-report-export"),
    path("<int:report_id>/export", api.ReportExportNoSlashApi.as_view(), name="api-finance-report-export-noslash"),
    path("<int:report_id>/sections/<str:kind>/", api.SectionEditApi.as_view(), name="api-finance-report-section"),
    path("<int:report_id>/sections/<str:kind>/regenerate/", api.SectionRegenerateApi.as_view(),
         name="api-finance-report-section-regenerate"),
    path("<int:report_id>/sections/<str:kind>/versions/", api.SectionVersionsApi.as_view(),
         name="api-finance-report-section-versions"),
]
