"""The OpenAPI side of the error contract: ErrorOutput is documented once, and every operation refers to it for
the errors it can answer (apps.core.exceptions.api_exception_handler gives them all this shape)."""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorOutput(serializers.Serializer):
    """The shape of every API error (apps.core.exceptions.api_exception_handler)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="messages per input field or query parameter; {} when none")


ERROR_DESCRIPTIONS = {
    "400": "invalid input, query parameter or state (see `errors`)",
    "401": "no valid credentials (token auth)",
    "403": "authenticated, but the role lacks the permission",
    "404": "no such object, or not visible to the caller",
    "429": "too many requests: a rate limit of the caller or of the operation's scope; `Retry-After` says when "
           "to try again",
}


def error(description: str) -> OpenApiResponse:
    """An error response with the common envelope, for the codes an operation answers beyond the usual ones
    (409 on a state conflict, say)."""
    return OpenApiResponse(ErrorOutput, description=description)


class PlumblineAutoSchema(AutoSchema):
    """AutoSchema that documents the error responses every operation can answer: 401/403/429 everywhere, 404 where
    the path names an object, 400 where there is input (a body or query parameters). Codes that an operation
    declares itself are left as it declares them."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["401", "403", "429"]
        if "{" in self.path:
            codes.append("404")
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        if has_body or self._get_pagination_parameters() or self._get_query_parameters():
            codes.append("400")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorOutput, description=ERROR_DESCRIPTIONS[code]), code, direction=direction)
        return dict(sorted(responses.items()))

    def _get_query_parameters(self) -> list:
        from drf_spectacular.utils import OpenApiParameter

        return [p for p in self.get_override_parameters()
                if isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY]
