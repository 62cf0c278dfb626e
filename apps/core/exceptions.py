"""One application error, mapped to HTTP in one place."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response


class ApplicationError(Exception):
    """A business rule said no. `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.code = code


def api_exception_handler(exc, context):
    """Every API error has the shape {"detail": str, "code": str, "errors": {field: [messages]}}."""
    from rest_framework.views import exception_handler  # not at import: DRF's settings import this module

    if isinstance(exc, ApplicationError):
        errors = {exc.field: [exc.message]} if exc.field else {}
        return Response({"detail": exc.message, "code": exc.code, "errors": errors}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        fields = ", ".join(sorted(errors))
        response.data = {"detail": f"invalid input: {fields}", "code": "invalid", "errors": errors}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else str(response.data)
        response.data = {"detail": str(detail), "code": getattr(detail, "code", "error"), "errors": {}}
    return response
