"""Private PostgreSQL, PgBouncer and Redis servers for tests that stop, restart or break them, or need a topology
the machine's own servers do not have (a streaming replica, a pooler).

The machine's own servers carry every other test (and, on a shared machine, other runs): a fault test never
touches them. Each server here is a real one from the machine's packages, on a free port of 127.0.0.1, with its
data in a temporary folder, and is stopped and removed when its context ends.

    with private_postgres() as pg, private_redis() as redis:
        env["DATABASE_URL"] = pg.url("omni")
        pg.restart()
        redis.stop(); redis.start()

    with private_streaming_replica() as (primary, replica):   # a hot standby made with pg_basebackup
        replica.psql("omni", "SELECT pg_is_in_recovery()")    # 't'

    with private_pgbouncer(upstream_port=5432) as bouncer:      # transaction pooling in front of a server
        env["DATABASE_URL"] = bouncer.url("postgres://postgres@127.0.0.1:5432/omni")

The PostgreSQL cluster itself is bench._postgres's (the benchmarks start one too).
"""

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench._pgbouncer import PgBouncer, pgbouncer
from bench._pgbouncer import available as pgbouncer_available
from bench._postgres import PrivatePostgres, as_postgres_user, free_port, postgres_bin
from bench._postgres import private_postgres as _private_postgres


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {seconds} s")


@contextlib.contextmanager
def private_postgres(config: str = "") -> Iterator[PrivatePostgres]:
    """bench._postgres.private_postgres, skipping the test on a machine without PostgreSQL's server binaries."""
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    with _private_postgres(config) as server:
        yield server


# A primary that streams its WAL to standbys (initdb's pg_hba.conf already trusts replication from 127.0.0.1 with
# -A trust). Standbys answer read-only queries (hot_standby) and never cancel one for a conflicting replay within
# a test's time.
REPLICATION_CONFIG = """
wal_level = replica
max_wal_senders = 4
wal_keep_size = '256MB'
hot_standby = on
max_standby_streaming_delay = -1
"""


@contextlib.contextmanager
def private_streaming_replica() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    """A private primary and a hot standby of it on another free port, as production runs one: `pg_basebackup -R`
    (a base backup that starts as a standby streaming from the primary, `standby.signal` and `primary_conninfo`
    written for it). Yields (primary, replica); both are stopped and removed when the context ends."""
    with private_postgres(REPLICATION_CONFIG) as primary:
        replica_dir = primary.data_dir.parent / "replica"
        subprocess.run(
            [
                *as_postgres_user(),
                str(primary.bin_dir / "pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
                *("-D", str(replica_dir), "-R", "-X", "stream", "-c", "fast"),
            ],
            check=True,
            capture_output=True,
        )
        (replica_dir / "server.log").unlink(missing_ok=True)  # the primary's, copied with its folder
        replica = PrivatePostgres(bin_dir=primary.bin_dir, data_dir=replica_dir, port=free_port())
        replica.start()
        try:
            yield primary, replica
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                replica.stop("immediate")


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis server that keeps nothing on disk; skips without redis-server."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine")
    server = PrivateRedis(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def private_pgbouncer(
    *, upstream_port: int, upstream_host: str = "127.0.0.1", pool_size: int = 20
) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of a PostgreSQL server (bench/_pgbouncer.py); skips without one."""
    if not pgbouncer_available():
        pytest.skip("install Debian's pgbouncer")
    with pgbouncer(upstream_host=upstream_host, upstream_port=upstream_port, pool_size=pool_size) as bouncer:
        yield bouncer
