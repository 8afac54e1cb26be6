"""The one domain error type: every error a user can cause is an ApplicationError with a stable `code`.

Services raise it; the API answers it as `{"error": {"code": ..., "message": ..., "details": ...}}` with its 4xx
status, never a 500 (`omni.api.api_exception_handler`); admin and pages show its message.
"""

from typing import Any


class ApplicationError(Exception):
    """A failure the caller caused and can understand; `code` is stable for clients."""

    status_code = 400

    def __init__(self, code: str, message: str, *, details: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        if status_code is not None:
            self.status_code = status_code
