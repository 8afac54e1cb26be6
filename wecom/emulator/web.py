"""The few HTTP pieces the emulator's WSGI app needs: a parsed request, responses, multipart, CORS and plain pages."""

import email.policy
import html
import json
from dataclasses import dataclass, field
from email.parser import BytesParser
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

# The JS-SDK stand-in and the sidebar page run on Omni's origin and call the emulator from there.
CORS_HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "600"),
]
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    cookies: dict[str, str]
    remote_addr: str

    @classmethod
    def from_environ(cls, environ: dict) -> "Request":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        cookies = SimpleCookie()
        cookies.load(environ.get("HTTP_COOKIE", ""))
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=path,
            query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            headers=headers,
            body=body,
            cookies={name: morsel.value for name, morsel in cookies.items()},
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )

    def json(self) -> Any:
        """The body as JSON, whatever the Content-Type says (wechatpy and fetch() send different ones)."""
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else None

    def multipart(self) -> dict[str, "UploadedPart"]:
        content_type = self.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + self.body
        )
        parts: dict[str, UploadedPart] = {}
        if not message.is_multipart():
            return parts
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                parts[str(name)] = UploadedPart(
                    filename=part.get_filename() or "",
                    content_type=part.get_content_type(),
                    content=part.get_payload(decode=True) or b"",
                )
        return parts


@dataclass
class UploadedPart:
    filename: str
    content_type: str
    content: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def json_response(data: Any, status: int = 200, *, cors: bool = False) -> Response:
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
    if cors:
        headers += CORS_HEADERS
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), headers)


def html_response(text: str, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, text.encode("utf-8"), [("Content-Type", "text/html; charset=utf-8"), *(headers or [])])


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", [("Location", location)])


def not_found(message: str = "not found") -> Response:
    return json_response({"error": {"code": "not_found", "message": message}}, 404, cors=True)


def plain_page(title: str, body: str) -> str:
    """A page of the emulator's own (authorize, scan, error pages) around `body`, which must be escaped HTML."""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/app.css"></head><body class="plain">{body}</body></html>"""


def error_page(title: str, detail: str, errcode: int | None = None) -> Response:
    """What WeCom and WeChat show instead of redirecting: a title, the reason and perhaps an error code."""
    code = f"<p class=code>错误码：{errcode}</p>" if errcode else ""
    body = (
        f"<div class=err><div class=icon>!</div><h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>{code}</div>"
    )
    return html_response(plain_page("出错了", body))
