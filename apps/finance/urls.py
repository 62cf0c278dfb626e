"""Web pages of the finance app (mounted at /finance/)."""
from django.urls import path

from apps.finance import views

app_name = "finance"
urlpatterns: list = [
    path("companies/", views.company_list, name="company-list"),
    path("companies/new/", views.company_new, name="company-new"),
    path("companies/<int:company_id>/", views.company_detail, name="company-detail"),
    path("companies/<int:company_id>/edit/", views.company_edit, name="company-edit"),
    path("companies/<int:company_id>/statements/new/", views.statement_new, name="statement-new"),
    path("companies/<int:company_id>/import/", views.statement_import, name="statement-import"),
]

# Research reports (apps/finance/reports): /finance/reports/...
from django.urls import include  # noqa: E402

urlpatterns += [path("reports/", include("apps.finance.reports.urls"))]
