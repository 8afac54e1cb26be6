"""Phone numbers out of what leaves the process: log lines and error reports.

Customers' phone numbers reach Omni in requests, exception messages and log arguments; an operator's log store or
Sentry must not keep them. Names have no pattern to find, so the logs and reports are built not to carry them
(no request bodies, query strings or local variables); numbers are caught wherever they slipped in.
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


def phone_numbers_redact(text: str) -> str:
    return PHONE_PATTERN.sub(PHONE_REDACTED, text)


def phone_numbers_redact_all(value: Any, *, keep: frozenset[str] = frozenset()) -> Any:
    """`value` with every string in it redacted, through dicts, lists and tuples; `keep`: dict keys left as they
    are (ids that a pattern might misread)."""
    if isinstance(value, str):
        return phone_numbers_redact(value)
    if isinstance(value, dict):
        return {key: item if key in keep else phone_numbers_redact_all(item, keep=keep) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(phone_numbers_redact_all(item, keep=keep) for item in value)
    return value
