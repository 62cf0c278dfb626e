"""Page-number pagination for the server-rendered lists (the REST API paginates with limit/offset)."""
from __future__ import annotations

from django.core.paginator import Page, Paginator

PAGE_SIZE = 25


def paginate(request, items, *, per_page: int = PAGE_SIZE) -> Page:
    """The page of `items` that ?page= asks for; a missing, malformed or too large number gives the nearest page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))
