"""How the coupon writes refuse, in one place: a conflict with the state of things (409), a coupon rule the order
breaks (422), and the request number every retried write carries, checked first (400 `invalid_request_no`).

The codes are stable: brand systems and the sidebar branch on them, and the API schema lists them.
"""

from omni.errors import ApplicationError

REQUEST_NO_MAX = 64


def conflict(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status_code=409)


def rule_broken(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status_code=422)


def request_no_clean(value: str) -> str:
    """The request number as stored: stripped, 1 to REQUEST_NO_MAX characters."""
    value = (value or "").strip()
    if not value or len(value) > REQUEST_NO_MAX:
        raise ApplicationError("invalid_request_no", f"request_no must be 1 to {REQUEST_NO_MAX} characters.")
    return value
