"""Query strings, URL paths and page forms hold only text PostgreSQL can store: no NUL byte (the same rule as
the JSON reader, apps/core/parsers.py; an unpaired surrogate cannot get here, Django decodes them as U+FFFD).
One check for every view: a view that passes such a value to a query would otherwise answer a 500. The answer is a
400 naming the parameter, never repeating its value.

API bodies are not read here: DRF's parsers (apps/core/parsers.py, and serializers for multipart fields) own them.
Nor are the bodies of views marked `csrf_exempt`: like CsrfViewMiddleware, this check runs in `process_view` and
leaves those views to parse their own body (the upload pages install their streaming size limits first,
apps/core/uploads.py, then check CSRF and their form, which refuses a NUL byte itself).
"""
from __future__ import annotations

import re

from django.http import HttpResponseBadRequest, JsonResponse

_NUL = re.compile("\x00")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refusal(request, where: str, name: str):
    if where == "path":
        field, message = "path", "the URL path contains a NUL byte"
    elif _NUL.search(name):
        field, message = "non_field_errors", f"a {where} parameter name contains a NUL byte"
    else:
        field, message = name, f"the {where} parameter {name!r} contains a NUL byte"
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "invalid", "errors": {field: [message]}}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _first_bad(params) -> str | None:
    for name, values in params.lists():
        if _NUL.search(name) or any(_NUL.search(v) for v in values if isinstance(v, str)):
            return name
    return None


class PlainTextInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _NUL.search(request.path):
            return _refusal(request, "path", "")
        if (name := _first_bad(request.GET)) is not None:
            return _refusal(request, "query", name)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (request.method == "POST" and not request.path.startswith("/api/")
                and not getattr(view_func, "csrf_exempt", False)
                and request.content_type in _FORM_TYPES and (name := _first_bad(request.POST)) is not None):
            return _refusal(request, "form", name)
        return None
