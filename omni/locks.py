"""Take-once keys and counters in the shared cache's "locks" face, which say when they cannot be had.

The "default" cache treats Redis down as a miss (settings.CACHES): right for values that can be fetched again, wrong
for a lock, where a miss would read as "nobody holds it". These go through the "locks" alias, which raises; each
caller decides what failing safe means for it (refuse, or go on when something else is the real guard) instead of
believing it holds a lock it does not.
"""

from django.core.cache import caches
from django.db import DatabaseError
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError


class LockUnavailable(Exception):
    """The store that holds locks and counters could not be reached: nobody can say whether the key is taken."""


# Redis (through django-redis, or bare) in production; the database cache in the embedded setup.
_STORE_ERRORS = (ConnectionInterrupted, RedisError, DatabaseError)


def lock_take(key: str, *, timeout: float) -> bool:
    """True for the one caller that takes `key` until `timeout` seconds pass or it is released."""
    try:
        return bool(caches["locks"].add(key, "1", timeout=timeout))
    except _STORE_ERRORS as exc:
        raise LockUnavailable(str(exc)) from exc


def lock_release(key: str) -> None:
    try:
        caches["locks"].delete(key)
    except _STORE_ERRORS as exc:
        raise LockUnavailable(str(exc)) from exc


def counter_incr(key: str, *, timeout: float) -> int:
    """Add one to the counter `key` (made at 0, kept `timeout` seconds) and return its new value."""
    store = caches["locks"]
    try:
        store.add(key, 0, timeout=timeout)
        try:
            return store.incr(key)
        except ValueError:  # expired between add and incr
            store.add(key, 1, timeout=timeout)
            return 1
    except _STORE_ERRORS as exc:
        raise LockUnavailable(str(exc)) from exc
