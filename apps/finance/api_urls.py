"""REST endpoints of the finance app (mounted at /api/v1/finance/)."""
from django.urls import path  # noqa: F401

urlpatterns: list = []
