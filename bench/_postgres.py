"""A private PostgreSQL cluster of the machine's version: for the tests that stop, restart or break a server or need a
topology the machine's own server lacks (tests/servers.py), and for `bench --tuned-postgres`, which measures on a
cluster configured as production is (bench/postgresql.conf) rather than on the machine's Debian defaults.

PostgreSQL's initdb refuses to run as root: as root, the cluster belongs to the `postgres` system user.
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The primary's settings of docs/scaling.md, scaled to this 24 GiB machine (shared_buffers a sixth of its memory).
TUNED_CONFIG = Path(__file__).with_name("postgresql.conf")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PrivatePostgres:
    bin_dir: Path
    data_dir: Path
    port: int

    def _ctl(self, *args: str) -> None:
        # No pipes: the server that pg_ctl starts would inherit them, and reading them would wait for it to end.
        subprocess.run(
            [*as_postgres_user(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._ctl("-l", str(self.data_dir / "server.log"), "-o", f"-p {self.port} -k {self.data_dir}", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self) -> None:
        self._ctl(
            "-m", "fast", "-o", f"-p {self.port} -k {self.data_dir}", "-l", str(self.data_dir / "server.log"), "restart"
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def createdb(self, database: str) -> str:
        subprocess.run(
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database],
            check=True,
            capture_output=True,
        )
        return self.url(database)

    def psql(self, database: str, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-tAc", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()


@contextlib.contextmanager
def private_postgres(config: str = "") -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the machine's version, trust auth on 127.0.0.1, user postgres. `config`: lines added to
    its postgresql.conf. `postgres_bin()` is None where the machine has no server binaries.

    Its folder is a new one under the system's temporary folder (pytest's tmp_path is closed to other users)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    base = Path(tempfile.mkdtemp(prefix="omni-pg-"))
    data_dir = base / "pgdata"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        [*as_postgres_user(), str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    if config:
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n{config}\n")
    server = PrivatePostgres(bin_dir=bin_dir, data_dir=data_dir, port=free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
