"""The OpenAPI schema's shared parts: the one error envelope, and the errors every /api/ operation documents.

`AutoSchema` (DRF's DEFAULT_SCHEMA_CLASS) adds to every operation the errors any such operation can answer:
400, 413 and 415 when it reads a body (400 when it reads a query), 401 and 403 when it needs a caller, 404 when
its path names an object, 406 and 500. An operation lists the others it answers with
`error_responses(409, 422)` in its `responses`; every error response is the `Error` envelope that omni.api writes.
"""

from drf_spectacular import openapi
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import permissions, serializers

_BODY_METHODS = ("POST", "PUT", "PATCH")


@extend_schema_serializer(component_name="ErrorBody")
class ErrorBodyOut(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code, e.g. `malformed_request`, `unknown_code`")
    message = serializers.CharField(help_text="What went wrong, in words for the person at the other end")
    details = serializers.JSONField(required=False, help_text="Field errors of an invalid body, by field")


@extend_schema_serializer(component_name="Error")
class ErrorOut(serializers.Serializer):
    """Every error Omni's API answers: `{"error": {"code": ..., "message": ..., "details": ...}}`."""

    error = ErrorBodyOut()


def error_responses(*statuses: int) -> dict[int, type[serializers.Serializer]]:
    """`extend_schema(responses=...)` entries for the error statuses an operation answers beyond AutoSchema's."""
    return {status: ErrorOut for status in statuses}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._default_error_statuses():
            responses.setdefault(str(status), self._get_response_for_code(ErrorOut, str(status), direction=direction))
        return dict(sorted(responses.items()))

    def _default_error_statuses(self) -> list[int]:
        statuses = [406, 500]  # 406: an Accept header that JSON does not satisfy
        if self.method in _BODY_METHODS:
            statuses += [400, 413, 415]
        elif any(parameter["in"] == "query" for parameter in self._get_parameters()):
            statuses.append(400)
        if any(not isinstance(permission, permissions.AllowAny) for permission in self.view.get_permissions()):
            statuses += [401, 403]
        if "{" in self.path:
            statuses.append(404)
        if self.view.get_throttles():  # omni.throttling: 429 `throttled` with Retry-After
            statuses.append(429)
        return statuses
