"""REST endpoints of the accounts app (mounted at /api/v1/auth/)."""
from django.urls import path

from apps.accounts import api

urlpatterns: list = [
    path("tokens/", api.TokenListCreateApi.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/revoke/", api.TokenRevokeApi.as_view(), name="api-token-revoke"),
]
