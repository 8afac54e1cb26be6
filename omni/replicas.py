"""Heavy reads that may go to a streaming replica (DATABASE_REPLICA_URL): the dashboard, exports, the audience
preview, the suggestion build. A code path opts in with `with replica_reads():` around its reads; raw SQL in it
opens its cursor on `connections[read_alias()]`. Everything else — and everything that must read its own writes
(the sidebar after a write, the till, callbacks) — stays on the primary.

The rule, in `read_alias()`, which the ORM's router (omni.routers) applies too: the replica only inside
`replica_reads()`, only when one is configured, never inside a transaction on the primary (a transaction reads its
own writes), and only while the replica is within OMNI_REPLICA_MAX_LAG seconds of the primary. The lag is measured
on the replica itself and kept for a few seconds per process; a replica that cannot be reached counts as lagging,
and each change of verdict is logged once.
"""

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

PRIMARY, REPLICA = DEFAULT_DB_ALIAS, "replica"
# How long one measurement of the lag holds in a process; an unreachable replica is tried again less often, as each
# try can cost a request the replica's connect timeout.
LAG_CHECK_SECONDS, UNREACHABLE_RETRY_SECONDS = 2.0, 30.0
# Caught up when it has replayed all it received; otherwise as old as its last replayed commit. A replica that is
# not receiving (no WAL receiver: cut off from the primary) may be any age: never fresh. One that is not in recovery
# (promoted) is as fresh as a primary.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN NOT EXISTS (SELECT FROM pg_stat_wal_receiver) THEN 'Infinity'::float8
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 'Infinity'::float8)
END
"""

logger = logging.getLogger(__name__)
_heavy_reads: ContextVar[bool] = ContextVar("omni_replica_reads", default=False)
T = TypeVar("T")


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside may go to the replica. A generator (a streamed export) enters it inside the generator."""
    token = _heavy_reads.set(True)
    try:
        yield
    finally:
        _heavy_reads.reset(token)


def replica_reads_streamed(rows: Iterable[T]) -> Iterator[T]:
    """`rows`, read inside `replica_reads()` as they are consumed: a StreamingHttpResponse's content runs after the
    view has returned, so a `with` in the view would be over before the first row is read."""
    with replica_reads():
        yield from rows


def replica_reads_wanted() -> bool:
    return _heavy_reads.get()


def read_alias() -> str:
    """The database alias a raw cursor of a heavy read uses: the replica's inside `replica_reads()` when one is
    configured and fresh enough, otherwise the primary's."""
    if not _heavy_reads.get() or REPLICA not in settings.DATABASES:
        return PRIMARY
    if connections[REPLICA].in_atomic_block:
        return REPLICA  # a transaction opened on the replica (a server-side cursor's) keeps reading there
    if connections[PRIMARY].in_atomic_block or _is_primary(connections[REPLICA].settings_dict):
        return PRIMARY
    return REPLICA if replica_fresh() else PRIMARY


def _is_primary(replica: dict) -> bool:
    """A replica alias that names the primary's own database: a test run's mirror (TEST MIRROR). Its reads are the
    primary's, on the primary's connection."""
    primary = connections[PRIMARY].settings_dict
    return all(replica.get(key) == primary.get(key) for key in ("HOST", "PORT", "NAME"))


@dataclass(frozen=True)
class _Verdict:
    state: str  # "unchecked", "fresh", "lagging" or "unreachable"
    detail: str = ""
    until: float = 0.0  # time.monotonic() after which it is measured again

    @property
    def fresh(self) -> bool:
        return self.state == "fresh"


_verdict = _Verdict("unchecked")
_verdict_lock = threading.Lock()


def replica_fresh() -> bool:
    """Whether the replica is reachable and within OMNI_REPLICA_MAX_LAG seconds, measured at most every
    LAG_CHECK_SECONDS per process. Each change of state is logged once (a warning when heavy reads leave the
    replica, a note when they come back), not every measurement."""
    global _verdict
    if time.monotonic() < _verdict.until:
        return _verdict.fresh
    with _verdict_lock:
        if time.monotonic() < _verdict.until:  # another thread measured it meanwhile
            return _verdict.fresh
        verdict = _measure()
        if verdict.state != _verdict.state:
            if not verdict.fresh:
                logger.warning("replica %s (%s): heavy reads go to the primary", verdict.state, verdict.detail)
            elif _verdict.state != "unchecked":
                logger.info("replica fresh again: heavy reads go to the replica")
        _verdict = verdict
        return verdict.fresh


def _measure() -> _Verdict:
    limit = settings.OMNI_REPLICA_MAX_LAG
    replica = connections[REPLICA]
    try:
        with replica.cursor() as cursor:
            cursor.execute(LAG_SQL)
            (lag,) = cursor.fetchone()
    except DatabaseError as error:
        with suppress(DatabaseError):
            replica.close()  # a broken connection is opened afresh at the next try
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return _Verdict("unreachable", detail, time.monotonic() + UNREACHABLE_RETRY_SECONDS)
    until = time.monotonic() + LAG_CHECK_SECONDS
    if lag < limit:
        return _Verdict("fresh", f"{lag:.1f} s behind", until)
    return _Verdict("lagging", f"{lag:.1f} s behind, OMNI_REPLICA_MAX_LAG={limit:g}", until)


def replica_verdict_forget() -> None:
    """Measure the replica again at the next heavy read (tests; an operator's shell after fixing the replica)."""
    global _verdict
    with _verdict_lock:
        _verdict = _Verdict(_verdict.state, _verdict.detail, 0.0)
