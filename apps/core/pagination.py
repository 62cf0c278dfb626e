"""One pagination for every API list: `?limit=` (1..MAX_LIMIT, default DEFAULT_LIMIT) and `?offset=` (>= 0).

A bad or too large value is a 400 naming the parameter, never a silently clamped page: a client that asks for
1000 rows and gets 200 would think it has them all."""
from __future__ import annotations

from django.core.paginator import Page, Paginator
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _parameter(request, name: str, *, default: int, minimum: int, maximum: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if len(raw.strip().lstrip("+-")) > 18:  # beyond what a bigint OFFSET holds, and int() refuses 4,300+ digits
        raise serializers.ValidationError({name: ["must be at most 18 digits"]})
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise serializers.ValidationError({name: [f"must be an integer, got {raw[:20]!r}"]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise serializers.ValidationError({name: [f"must be at least {minimum}{upper}, got {value}"]})
    return value


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffsetPagination that refuses what it cannot honour instead of clamping it."""

    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request) -> int:
        return _parameter(request, self.limit_query_param, default=self.default_limit, minimum=1,
                          maximum=self.max_limit)

    def get_offset(self, request) -> int:
        return _parameter(request, self.offset_query_param, default=0, minimum=0, maximum=None)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.limit_query_param:
                param["schema"].update({"minimum": 1, "maximum": self.max_limit, "default": self.default_limit})
                param["description"] = f"Rows per page: 1 to {self.max_limit} (default {self.default_limit})."
            elif param["name"] == self.offset_query_param:
                param["schema"].update({"minimum": 0, "default": 0})
        return params


def paginate(*, request, queryset, view=None) -> tuple[CappedLimitOffsetPagination, list]:
    """The page of `queryset` that the request asks for, and the paginator that answers it:
    `paginator.get_paginated_response(Output(rows, many=True).data)`."""
    paginator = CappedLimitOffsetPagination()
    rows = paginator.paginate_queryset(queryset, request, view=view)
    return paginator, list(rows)


# --- server-rendered pages: page numbers (the REST API above paginates with limit/offset) ---
PAGE_SIZE = 25


def paginate_page(request, items, *, per_page: int = PAGE_SIZE) -> Page:
    """The page of `items` that ?page= asks for; a missing, malformed or too large number gives the nearest page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))
