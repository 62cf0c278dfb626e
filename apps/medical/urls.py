"""Web pages of the medical app (mounted at /medical/)."""
from django.urls import path  # noqa: F401

app_name = "medical"
urlpatterns: list = []
