"""A private PgBouncer in transaction mode in front of a PostgreSQL server, for the till benchmark
(`bench coupons --through-pgbouncer`), the tests (tests/servers.py) and `./run test --pgbouncer`.

Debian's `pgbouncer` package, on a free port of 127.0.0.1, its files in a temporary folder. Every database name is
passed through to the server (`* = host=… port=…`); its one user needs no password to come in and logs in to the
server with the one given (none: the machine's PostgreSQL trusts 127.0.0.1). Transaction pooling as production runs
it: a server connection serves one transaction, then any other client, so a client's session state (prepared
statements, server-side cursors outside a transaction, SET) does not follow it: the settings'
DATABASE_POOLER=pgbouncer-transaction.

Standard library only: `./run`, which starts before any virtual environment exists, imports it too.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

CONFIG = """\
[databases]
* = host={upstream_host} port={upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
; psycopg and libpq may send these at connect; PgBouncer passes on only the parameters it tracks.
ignore_startup_parameters = extra_float_digits,options
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
admin_users = {user}
{run_as}
"""


def available() -> bool:
    return shutil.which("pgbouncer") is not None


@dataclass
class PgBouncer:
    port: int
    folder: Path
    process: subprocess.Popen

    def url(self, database_url: str) -> str:
        """`database_url` (postgres://user@host:port/name?…) with PgBouncer's address instead of the server's."""
        parts = urlsplit(database_url)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    def log(self) -> str:
        return (self.folder / "pgbouncer.log").read_text(errors="replace")


@contextlib.contextmanager
def pgbouncer(
    *, upstream_host: str, upstream_port: int, user: str = "postgres", password: str = "", pool_size: int = 20
) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of upstream_host:upstream_port, stopped when the context ends. It logs
    in to the server as `user` with `password` (none: the server trusts 127.0.0.1); its clients need none.

    PgBouncer refuses to run as root: as root it switches to the `postgres` system user after start (`user =`)."""
    binary = shutil.which("pgbouncer")
    if binary is None:
        raise RuntimeError("no pgbouncer on this machine: apt-get install pgbouncer (Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="omni-pgbouncer-"))
    port = _free_port()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, "postgres")
    (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (folder / "pgbouncer.ini").write_text(
        CONFIG.format(
            upstream_host=upstream_host,
            upstream_port=upstream_port,
            port=port,
            folder=folder,
            pool_size=pool_size,
            user=user,
            run_as="user = postgres" if as_root else "",
        )
    )
    process = subprocess.Popen(
        [binary, str(folder / "pgbouncer.ini")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, process, folder)
        yield PgBouncer(port=port, folder=folder, process=process)
    finally:
        # SIGINT: PgBouncer's shutdown after the transactions in flight (every version reads it so); then SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, folder: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "pgbouncer.log").read_text(errors="replace") if (folder / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer exited with code {process.returncode}:\n{log[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"pgbouncer did not listen on 127.0.0.1:{port} within {seconds} s")
