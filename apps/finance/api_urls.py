"""REST endpoints of the finance app (mounted at /api/v1/finance/)."""
from django.urls import path

from apps.finance import api

urlpatterns: list = [
    path("companies/", api.CompanyListCreateApi.as_view(), name="api-finance-company-list"),
    path("companies/<int:company_id>/", api.CompanyDetailApi.as_view(), name="api-finance-company-detail"),
    path("companies/<int:company_id>/statements/", api.StatementListImportApi.as_view(),
         name="api-finance-company-statements"),
]

# Research reports (apps/finance/reports): /api/v1/finance/reports/...
from django.urls import include  # noqa: E402

urlpatterns += [path("reports/", include("apps.finance.reports.api_urls"))]
