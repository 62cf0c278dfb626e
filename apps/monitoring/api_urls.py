"""REST endpoints of monitoring (mounted at /api/v1/monitoring/)."""
from django.urls import path

from apps.monitoring import api

urlpatterns: list = [
    path("snapshots/", api.SnapshotListApi.as_view(), name="api-monitoring-snapshots"),
    path("alerts/", api.AlertListApi.as_view(), name="api-monitoring-alerts"),
]
