"""Request body limits enforced while the body streams in, before it is read whole.

Two guards:
- `RequestSizeLimitMiddleware` answers 413 to a request whose Content-Length is above
  PLUMBLINE_MAX_REQUEST_BYTES (the largest upload any view accepts, plus multipart overhead) before anything
  reads its body.
- `limit_uploads(request, {"field": max_bytes})`, called by an upload view before its body is parsed, makes the
  multipart parser stream each file to a temporary file on disk and stop reading the request as soon as a file
  passes its field's limit (or arrives in a field that takes no file). The view then finds the refusal with
  `upload_refusal(request)` and answers 413 naming the field; the partial temporary file is already deleted.

Django views whose body CsrfViewMiddleware would parse first must be `csrf_exempt` and call a `csrf_protect`ed
inner view after `limit_uploads` (Django's documented pattern for per-view upload handlers); DRF's APIView is
csrf_exempt and checks CSRF itself, after `initialize_request`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import JsonResponse

ATTRIBUTE = "_plumbline_upload_refusal"


@dataclass(frozen=True)
class UploadRefusal:
    field: str
    limit: int | None  # None: the field takes no file

    @property
    def message(self) -> str:
        if self.limit is None:
            return f"{self.field}: this field takes no file"
        return f"{self.field}: the file is larger than the {self.limit}-byte limit"


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams each file to a temporary file on disk; stops the upload at the first file over its limit."""

    def __init__(self, request, limits: Mapping[str, int]):
        super().__init__(request)
        self.limits = dict(limits)
        self.received = 0

    def new_file(self, field_name, *args, **kwargs):
        if field_name not in self.limits:
            self._refuse(field_name, None)
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limits[self.field_name]:
            self._refuse(self.field_name, self.limits[self.field_name])
        return super().receive_data_chunk(raw_data, start)

    def _refuse(self, field: str, limit: int | None):
        setattr(self.request, ATTRIBUTE, UploadRefusal(field=field[:64], limit=limit))
        # connection_reset: the parser closes (and so deletes) the temporary file and reads no further.
        raise StopUpload(connection_reset=True)


def limit_uploads(request, limits: Mapping[str, int]) -> None:
    """Give `request` (a Django HttpRequest, before its body is read) per-field file size limits."""
    request = getattr(request, "_request", request)  # a DRF Request wraps the HttpRequest
    request.upload_handlers = [LimitedUploadHandler(request, limits)]


def upload_refusal(request) -> UploadRefusal | None:
    """The refusal of the request's upload (read after the body was parsed), or None."""
    return getattr(getattr(request, "_request", request), ATTRIBUTE, None)


class RequestSizeLimitMiddleware:
    """413 before the body is read when Content-Length is above PLUMBLINE_MAX_REQUEST_BYTES."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.PLUMBLINE_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refused(request, "Content-Length is not a number", status=400)
        if length > limit:
            return _refused(request, f"the request body of {length} bytes is larger than the {limit}-byte limit")
        return self.get_response(request)


def _refused(request, message: str, *, status: int = 413):
    body = {"detail": message, "code": "too_large" if status == 413 else "invalid", "errors": {}}
    return JsonResponse(body, status=status)
