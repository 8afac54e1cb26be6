"""Phone numbers and credentials out of what leaves the process: log lines and error reports.

Customers' phone numbers reach Omni in requests, exception messages and log arguments; an operator's log store or
Sentry must not keep them. Names have no pattern to find, so the logs and reports are built not to carry them
(no request bodies, query strings or local variables); numbers are caught wherever they slipped in. WeCom's and
WeChat's credentials travel in URLs (`?access_token=…`, `gettoken?corpsecret=…`) that an HTTP error repeats in its
message: their values are redacted too.
"""

import re
from typing import Any

PHONE_REDACTED = "[phone]"
# A Chinese mobile number (with or without +86 / 86), or any international number written with a +. Bounded by
# anything but a Latin letter or digit, so a number inside Chinese text is caught and hex ids are left alone.
PHONE_PATTERN = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])\+\d(?:[ ().-]{0,2}\d){6,14}(?![0-9A-Za-z])"
)


SECRET_REDACTED = "[redacted]"
# A credential's value in a URL's query: WeCom's and WeChat's access tokens, app secrets, JS-SDK tickets, OAuth codes.
SECRET_PARAMETER = re.compile(r"\b(access_token|corpsecret|secret|appsecret|ticket|jsapi_ticket|code)=[^&\s'\"]+")


def redact(text: str) -> str:
    """`text` without phone numbers, nor credentials' values in URLs."""
    return SECRET_PARAMETER.sub(rf"\1={SECRET_REDACTED}", PHONE_PATTERN.sub(PHONE_REDACTED, text))


def redact_all(value: Any, *, keep: frozenset[str] = frozenset()) -> Any:
    """`value` with every string in it redacted, through dicts, lists and tuples; `keep`: dict keys left as they
    are (ids that a pattern might misread)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: item if key in keep else redact_all(item, keep=keep) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_all(item, keep=keep) for item in value)
    return value
