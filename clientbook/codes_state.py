"""A member's own `state`: the customer id, signed, in WeCom's 30 characters, so that the add through a member's code
links the One ID customer at once (follow_record reads it). `m<id base36>_<10 hex of an HMAC>`."""

import hashlib
import hmac

from django.conf import settings

PREFIX = "m"
_SIGNATURE_CHARS = 10


def _signature(text: str) -> str:
    key = f"clientbook.codes.member:{settings.SECRET_KEY}".encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:_SIGNATURE_CHARS]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def member_state(*, customer_id: int) -> str:
    body = f"{PREFIX}{_base36(customer_id)}"
    return f"{body}_{_signature(body)}"


def member_state_customer_id(state: str) -> int | None:
    """The customer id a member state names, or None for any other state (or a forged one)."""
    if not state.startswith(PREFIX) or "_" not in state:
        return None
    body, _, signature = state.partition("_")
    if not hmac.compare_digest(signature, _signature(body)):
        return None
    try:
        return int(body.removeprefix(PREFIX), 36)
    except ValueError:
        return None
