"""Web pages of the finance app (mounted at /finance/)."""
from django.urls import path  # noqa: F401

app_name = "finance"
urlpatterns: list = []

# Research reports (apps/finance/reports): /finance/reports/...
from django.urls import include  # noqa: E402

urlpatterns += [path("reports/", include("apps.finance.reports.urls"))]
