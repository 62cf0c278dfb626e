"""REST endpoints of the medical app (mounted at /api/v1/medical/)."""
from django.urls import path  # noqa: F401

urlpatterns: list = []
