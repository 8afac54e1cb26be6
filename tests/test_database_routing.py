"""What DATABASE_REPLICA_URL and DATABASE_POOLER make of the settings (read by a fresh interpreter, as a process
of a deployment reads them), and the router where no replica is configured: every read stays on the primary. The
routing to a real streaming replica is tests/test_replicas.py's; PgBouncer's, tests/test_pgbouncer.py's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections, router

from omni.replicas import read_alias, replica_reads

ROOT = Path(__file__).resolve().parent.parent
PRIMARY_URL, REPLICA_URL = "postgres://omni@db1:5432/omni", "postgres://omni@db2:5433/omni"
SHOW = """
import json
from django.conf import settings
print(json.dumps({alias: {"host": db["HOST"], "port": db["PORT"], "options": db["OPTIONS"], "test": db.get("TEST"),
    "no_server_side_cursors": db.get("DISABLE_SERVER_SIDE_CURSORS")} for alias, db in settings.DATABASES.items()}
    | {"routers": settings.DATABASE_ROUTERS, "max_lag": settings.OMNI_REPLICA_MAX_LAG}))
"""


def _settings(**variables: str) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "OMNI_VAR_DIR")
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(DJANGO_SETTINGS_MODULE="omni.settings", OMNI_DEVELOPMENT="1", **variables)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_replica_url_adds_the_replica_alias_mirrored_in_tests():
    shown = json.loads(_settings(DATABASE_URL=PRIMARY_URL, DATABASE_REPLICA_URL=REPLICA_URL).stdout)

    assert (shown["default"]["host"], shown["default"]["port"]) == ("db1", 5432)
    assert (shown["replica"]["host"], shown["replica"]["port"]) == ("db2", 5433)
    assert shown["replica"]["test"] == {"MIRROR": "default"}
    assert shown["replica"]["options"] == {"prepare_threshold": 5, "connect_timeout": 2}
    assert shown["default"]["options"] == {"prepare_threshold": 5}
    assert shown["default"]["no_server_side_cursors"] is shown["replica"]["no_server_side_cursors"] is False
    assert shown["routers"] == ["omni.routers.ReplicaRouter"]
    assert shown["max_lag"] == 30.0


def test_behind_pgbouncer_in_transaction_mode_no_prepared_statements_and_no_server_side_cursors():
    shown = json.loads(
        _settings(
            DATABASE_URL=PRIMARY_URL,
            DATABASE_REPLICA_URL=REPLICA_URL,
            DATABASE_POOLER="pgbouncer-transaction",
            OMNI_REPLICA_MAX_LAG="5",
        ).stdout
    )

    for alias in ("default", "replica"):
        assert shown[alias]["options"]["prepare_threshold"] is None
        assert shown[alias]["no_server_side_cursors"] is True
    assert shown["max_lag"] == 5.0
    # A PgBouncer that keeps prepared statements (≥ 1.21, max_prepared_statements) may have them back.
    kept = json.loads(
        _settings(
            DATABASE_URL=PRIMARY_URL, DATABASE_POOLER="pgbouncer-transaction", DATABASE_PREPARED_STATEMENTS="true"
        ).stdout
    )
    assert kept["default"]["options"]["prepare_threshold"] == 5
    assert kept["default"]["no_server_side_cursors"] is True


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": PRIMARY_URL, "DATABASE_POOLER": "pgpool"}, "DATABASE_POOLER='pgpool'"),
        ({"DATABASE_REPLICA_URL": REPLICA_URL}, "DATABASE_REPLICA_URL is a PostgreSQL replica"),
    ],
)
def test_a_setting_that_cannot_work_stops_the_start_naming_it(variables, message):
    done = _settings(**variables)

    assert done.returncode == 1
    assert message in done.stderr
    assert done.stdout == ""


def test_without_a_replica_heavy_reads_stay_on_the_primary(settings):
    assert "replica" not in settings.DATABASES
    with replica_reads():
        assert read_alias() == "default"
        assert router.db_for_read(None) == "default"
    assert router.db_for_write(None) == "default"
    assert router.allow_migrate("default", "customers") is True
    assert router.allow_migrate("replica", "customers") is False


def test_a_replica_alias_naming_the_primarys_own_database_reads_on_the_primary(settings):
    """A test run's mirror (TEST MIRROR): the replica alias is the primary's database, read on its connection."""
    settings.DATABASES["replica"] = {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}}
    try:
        with replica_reads():
            assert read_alias() == "default"
    finally:
        del settings.DATABASES["replica"]
        if hasattr(connections._connections, "replica"):
            del connections["replica"]
