"""Throttles: how much one caller (an API key, else a client address) may do per window, counted in the cache.

Two kinds, on DRF's `SimpleRateThrottle` (its rate strings such as "30/min", its history of timestamps per caller):

- `ApiKeyRequestThrottle`: every request counts (ingestion, per API key).
- `FailureThrottle`: only failures count (unknown coupon codes per key, forged coupon-page links per address). A
  caller that does not fail is never slowed, whatever its rate: a till redeeming real codes a thousand times a second.
  One past its failures is refused everything, even a genuine code, until its oldest failure leaves the window, so a
  guesser learns nothing more.

Refusals are 429 `throttled` with Retry-After (`Throttled`; DRF's own `Throttled` answers the same through
`omni.api.api_exception_handler`). Rates are read from settings.OMNI_THROTTLE_RATES at each use; "" turns one off.
A history is read, changed and written back without a lock, as DRF's: two requests at the same moment may each miss
the other's timestamp, so a burst may pass a few over the rate, never under it. The histories are in the default cache,
which reads an unreachable Redis as a miss: during a Redis outage nothing is counted and nobody is throttled. That is
chosen: a till must keep redeeming, and a guesser gains an outage's worth of tries against 32^12 possible codes.

A caller without a key is its address, `omni.proxy.client_ip` (behind the trusted proxies); django-axes uses it too
(AXES_CLIENT_IP_CALLABLE), so a throttle, an admin lockout and the audit log name the same client.
"""

import math

from django.conf import settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from omni.errors import ApplicationError
from omni.proxy import client_ip

# Every throttle's cache keys start with it (tests give each test its own).
KEY_PREFIX = "throttle"


def api_key_ident(api_key_pk: int) -> str:
    return f"key{api_key_pk}"


def caller_ident(request) -> str:
    """Who is counted: the request's API key (DRF's `request.auth`), else its client address."""
    api_key_pk = getattr(getattr(request, "auth", None), "pk", None)
    return api_key_ident(api_key_pk) if api_key_pk is not None else f"addr{client_ip(request)}"


class Throttled(ApplicationError):
    """429 `throttled`; `wait`: whole seconds until the caller may try again (the Retry-After header)."""

    def __init__(self, *, wait: int, message: str):
        super().__init__("throttled", message, status_code=429)
        self.wait = wait


def _rate(scope: str) -> str | None:
    return settings.OMNI_THROTTLE_RATES.get(scope) or None


def _cache_key(scope: str, ident: str) -> str:
    return f"{KEY_PREFIX}:{scope}:{ident}"


class FailureThrottle(SimpleRateThrottle):
    """At most the scope's rate of failures per caller: `check` before the work, `failure_record` after a failure."""

    def __init__(self, scope: str):
        self.scope = scope
        self.rate = _rate(scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def _recent(self, ident: str) -> list[float]:
        self.key, self.now = _cache_key(self.scope, ident), self.timer()
        history = self.cache.get(self.key, [])
        return [moment for moment in history if moment > self.now - self.duration]

    def check(self, ident: str) -> None:
        """Throttled when the caller has used up its failures; else nothing (one cache read)."""
        if self.rate is None:
            return
        recent = self._recent(ident)
        if len(recent) >= self.num_requests:
            wait = max(1, math.ceil(recent[-1] + self.duration - self.now))
            raise Throttled(wait=wait, message=f"失败次数过多，请 {wait} 秒后再试。")

    def failure_record(self, ident: str) -> None:
        if self.rate is None:
            return
        recent = self._recent(ident)
        self.cache.set(self.key, [self.now, *recent][: self.num_requests], self.duration)


class ApiKeyFailureThrottle(BaseThrottle):
    """A DRF view's FailureThrottle per API key, scope `view.failure_throttle_scope`; the view records failures
    (`failure_record`)."""

    def allow_request(self, request, view) -> bool:
        FailureThrottle(view.failure_throttle_scope).check(caller_ident(request))
        return True

    @staticmethod
    def failure_record(request, view) -> None:
        FailureThrottle(view.failure_throttle_scope).failure_record(caller_ident(request))


class ApiKeyRequestThrottle(SimpleRateThrottle):
    """Every request of an API key counts, at the rate of `view.throttle_scope`; over it DRF answers 429."""

    def __init__(self):
        """The rate depends on the view, so it is read in allow_request."""

    def allow_request(self, request, view) -> bool:
        self.scope = view.throttle_scope
        self.rate = _rate(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return _cache_key(self.scope, caller_ident(request))
