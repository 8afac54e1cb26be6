"""API plumbing shared by every /api/ path: the one JSON body parser, and errors that always answer in the envelope.

`json_body_parse` is the only way an /api/ request body becomes data: DRF's views read it through `JSONParser`
(the default parser), and the till's fast path (coupons.till_api) calls it directly. A body nested deeper than
JSON_DEPTH_MAX is refused as malformed (400 `malformed_request`); Python's json module would otherwise recurse
until a RecursionError, a 500. `ApiErrorMiddleware` makes every other error under /api/ (an unknown path, a write
to a path without its trailing slash, a body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE, an unexpected exception)
answer the same envelope as the DRF exception handler (`api_exception_handler`, below), with DEBUG on or off.

The schema's side of the envelope (`ErrorOut`, `error_responses`, `AutoSchema`) is `omni.openapi`: it imports
drf_spectacular, which imports DRF's views, which load this module's parser, so it cannot live here.
"""

import codecs
import json
import math
import re
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.common import CommonMiddleware
from django.urls import is_valid_path
from rest_framework import exceptions, parsers
from rest_framework.response import Response

from omni.errors import ApplicationError

API_PREFIX = "/api/"

# Deeper than any body Omni reads (a batch row with its lines and identities is four levels), far below the
# interpreter's recursion limit.
JSON_DEPTH_MAX = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
# A JSON string (its brackets do not count) or one bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|([\[{])|[\]}]')


def _nested_too_deep(raw: bytes) -> bool:
    """Whether the body's arrays and objects nest deeper than JSON_DEPTH_MAX, read without recursion: its brackets
    outside strings lose their innermost pairs once per level (each pass in C); only a body still holding brackets
    after that — too deep, or not JSON — is scanned bracket by bracket."""
    if raw.count(b"[") + raw.count(b"{") <= JSON_DEPTH_MAX:  # every till's body
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    for _ in range(JSON_DEPTH_MAX):
        if not brackets:
            return False
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
    if not brackets:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(raw):
        if token.lastindex:
            depth += 1
            if depth > JSON_DEPTH_MAX:
                return True
        elif token.end() - token.start() == 1:
            depth -= 1
    return False


class MalformedJson(ValueError):
    """A request body that is not JSON Omni reads; the API answers it as 400 `malformed_request`."""


def _constant_refused(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_body_parse(raw: bytes) -> Any:
    """The data of a JSON request body, or MalformedJson when it is not valid JSON (NaN and Infinity included, as
    DRF's strict parser) or is nested deeper than JSON_DEPTH_MAX."""
    too_deep = f"JSON parse error - nested deeper than {JSON_DEPTH_MAX} levels."
    if _nested_too_deep(raw):
        raise MalformedJson(too_deep)
    try:
        return json.loads(raw, parse_constant=_constant_refused)
    except RecursionError as error:  # a body the scan does not read (UTF-16): nested deeper still
        raise MalformedJson(too_deep) from error
    except ValueError as error:
        raise MalformedJson(f"JSON parse error - {error}") from error


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through `json_body_parse` (DRF hands JSON parsers the whole body as a BytesIO); a body in
    another charset than UTF-8 (`application/json; charset=gbk`) is read in it, as DRF's parser reads it."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            encoding = codecs.lookup(parsers.get_encoding(parser_context or {})).name
            if encoding != "utf-8":
                raw = raw.decode(encoding).encode()
            return json_body_parse(raw)
        except (MalformedJson, UnicodeError, LookupError) as error:
            raise exceptions.ParseError(str(error)) from error


def api_error_response(code: str, message: str, status: int) -> HttpResponse:
    """The error envelope as a plain Django response, for answers made outside DRF's exception handler."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


# The code of an error Django (not a DRF view) answered under /api/, by status.
_CODES_BY_STATUS = {
    400: "malformed_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _exists_with_slash(request: HttpRequest) -> bool:
    path = request.path_info
    return not path.endswith("/") and bool(is_valid_path(path + "/", getattr(request, "urlconf", None)))


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


class ApiErrorMiddleware:
    """Under /api/, an error response that is not already the JSON envelope (Django's 404 for an unknown path,
    its 400 or 500 page, with DEBUG on its technical pages) is replaced by the envelope with the same status.
    Django has logged an unexpected exception by then; the answer does not repeat what it said."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not _is_api(request) or _is_json(response):
            return response
        status = response.status_code
        if status == 404 and _exists_with_slash(request):
            path = request.path + "/"
            return api_error_response("not_found", f"Nothing at {request.path}; the API's path is {path}", 404)
        if status >= 500:
            return api_error_response("server_error", "Omni could not answer this request; it has been logged.", status)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return api_error_response(_CODES_BY_STATUS.get(status, "error"), f"{phrase}.", status)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request) or not isinstance(exception, RequestDataTooBig):
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return api_error_response(
            "body_too_large", f"The request body is larger than {limit:,} bytes; send fewer rows per call.", 413
        )


class ApiCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, without APPEND_SLASH's redirect for a write under /api/: the redirect would lose
    its body (and with DEBUG on Django refuses it with a 500); ApiErrorMiddleware answers 404 naming the path."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if _is_api(request) and request.method not in ("GET", "HEAD"):
            return False
        return super().should_redirect_with_slash(request)


# The DRF exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]): every error a DRF view raises, in the envelope.

_DRF_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _error(code: str, message: str, status_code: int, details: Any = None) -> Response:
    body = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return Response(body, status=status_code)


def api_error_body(error: ApplicationError) -> dict:
    """The JSON body of an ApplicationError, as the API answers it (for views that answer without DRF)."""
    return _error(error.code, error.message, error.status_code, error.details).data


def retry_after_set(response: HttpResponse, exc: Exception) -> HttpResponse:
    """A throttled answer (DRF's Throttled, omni.throttling's) says in Retry-After when to try again."""
    wait = getattr(exc, "wait", None)
    if wait:
        response["Retry-After"] = str(math.ceil(wait))
    return response


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    response = _exception_answer(exc, context)
    return None if response is None else retry_after_set(response, exc)


def _exception_answer(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return _error(exc.code, exc.message, exc.status_code, exc.details)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    # Imported here: DRF's views load this module's parser (DEFAULT_PARSER_CLASSES) when they are first imported.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        return _error(code, "The request is not valid.", response.status_code, response.data)
    return _error(code, str(exc.detail), response.status_code)
