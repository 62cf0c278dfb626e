"""REST endpoints of the adapter registry (mounted at /api/v1/adapters/)."""
from django.urls import path

from apps.adapters import api

urlpatterns: list = [
    path("", api.AdapterListUploadApi.as_view(), name="api-adapter-list"),
    path("active/", api.ActiveAdaptersApi.as_view(), name="api-adapter-active"),
    path("<int:adapter_id>/", api.AdapterDetailApi.as_view(), name="api-adapter-detail"),
    path("<int:adapter_id>/activate/", api.AdapterActivateApi.as_view(), name="api-adapter-activate"),
    path("<int:adapter_id>/rollback/", api.AdapterRollbackApi.as_view(), name="api-adapter-rollback"),
]
