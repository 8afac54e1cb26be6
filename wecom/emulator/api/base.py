"""What every family of the emulator's /cgi-bin/ API shares: ApiError (a WeCom errcode with its detail), `require`,
WeCom's opaque cursors (`page`) and `limit` fields (`page_limit`), the external_userid shape check, and ApiBase, the
state, config and world each handler works on with the answers and lookups several families use."""

import base64
from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.state import EmulatorState
from wecom.emulator.world import World


class ApiError(Exception):
    def __init__(self, errcode: int, detail: str = ""):
        super().__init__(detail)
        self.errcode = errcode
        self.detail = detail


def require(condition: bool, detail: str, errcode: int = L.INVALID_PARAMETER) -> None:
    if not condition:
        raise ApiError(errcode, detail)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        kind, _, offset = text.partition(":")
        if kind != "o" or int(offset) < 0:
            raise ValueError(cursor)
        return int(offset)
    except ValueError as exc:
        raise ApiError(L.INVALID_PARAMETER, "invalid cursor") from exc


def page(items: list, cursor: Any, limit: int) -> tuple[list, str]:
    start = _decode_cursor(cursor)
    chunk = items[start : start + limit]
    return chunk, _encode_cursor(start + limit) if start + limit < len(items) else ""


def page_window(total: int, cursor: Any, limit: int) -> tuple[int, int, str]:
    """`page` over a list only counted, not held: the [start, end) of this page and the cursor that follows it."""
    start = _decode_cursor(cursor)
    end = min(start + limit, total)
    return start, end, _encode_cursor(start + limit) if start + limit < total else ""


def page_limit(value: Any, *, default: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    try:
        value = int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(L.INVALID_PARAMETER, "limit must be an integer") from exc
    require(value > 0, "limit must be positive")
    return min(value, maximum)


def external_userid_ok(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 32
        and value[:2] in ("wm", "wo")
        and all(c.isalnum() or c in "_-" for c in value)
    )


class ApiBase:
    """The handlers' side of WeComApi (dispatch.py), which sets these attributes."""

    config: EmulatorConfig
    state: EmulatorState
    world: World

    @staticmethod
    def _ok(**fields: Any) -> dict:
        return {"errcode": 0, "errmsg": "ok", **fields}

    def media_valid(self, media_id: Any) -> dict | None:
        """The media entry when `media_id` exists and is younger than three days."""
        entry = self.state.data["media"].get(media_id) if isinstance(media_id, str) else None
        if entry is None or entry["created_at"] + L.MEDIA_TTL_SECONDS <= self.state.now():
            return None
        return entry

    def qr_url(self, kind: str, config_id: str) -> str:
        return f"{self.config.public_url}/qr/{kind}/{config_id}.png"
