"""REST endpoints of the finance app (mounted at /api/v1/finance/)."""
from django.urls import path  # noqa: F401

urlpatterns: list = []

# Research reports (apps/finance/reports): /api/v1/finance/reports/...
from django.urls import include  # noqa: E402

urlpatterns += [path("reports/", include("apps.finance.reports.api_urls"))]
