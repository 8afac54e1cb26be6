"""`python manage.py bench NAME`: run benchmark `bench/NAME.py` in a scratch database.

The benchmark runs against a fresh `test_…` database on the configured server (so PostgreSQL when
DATABASE_URL points at one), never against real data, and prints its figures as one JSON object on
the last line.
"""

import importlib
import json
import pkgutil

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.test.utils import setup_test_environment, teardown_test_environment

import bench


class Command(BaseCommand):
    help = "Run a benchmark from bench/ and print its figures as JSON on the last line."

    def add_arguments(self, parser):
        names = sorted(
            module.name for module in pkgutil.iter_modules(bench.__path__) if not module.name.startswith("_")
        )
        parser.add_argument("name", choices=names)
        parser.add_argument("--scale", type=float, default=1.0, help="Size factor; 1 is the documented size.")
        parser.add_argument("--keepdb", action="store_true", help="Keep the scratch database afterwards.")
        parser.add_argument("--customers", type=int, help="Data set size, for benchmarks that take one.")
        parser.add_argument(
            "--shared-worker",
            action="store_true",
            help="welcome_during_push: one worker on both queues instead of a real-time and a bulk worker apart.",
        )
        parser.add_argument("--realtime-concurrency", type=int, help="welcome_during_push: real-time worker processes.")
        parser.add_argument("--bulk-concurrency", type=int, help="welcome_during_push: bulk worker processes.")

    def handle(self, *args, name, scale, keepdb, customers, shared_worker, **options):
        module = importlib.import_module(f"bench.{name}")
        log = lambda message: self.stderr.write(message)  # noqa: E731
        kwargs = {"scale": scale, "log": log}
        if customers is not None:
            kwargs["customers"] = customers
        # Options only some benchmarks take are passed only when given.
        if shared_worker:
            kwargs["shared_worker"] = True
        for option in ("realtime_concurrency", "bulk_concurrency"):
            if options[option] is not None:
                kwargs[option] = options[option]
        if not getattr(module, "SCRATCH_DATABASE", True):
            # The benchmark builds (or reuses) data sets of its own.
            setup_test_environment()
            try:
                figures = module.run(**kwargs)
            finally:
                teardown_test_environment()
            self.stdout.write(json.dumps({"bench": name, **figures}, ensure_ascii=False, default=str))
            return
        creation = connection.creation
        old_name = connection.settings_dict["NAME"]
        # Like a test run: a scratch database, and the test client's host allowed. On SQLite the scratch
        # database is a file, so worker processes started by a benchmark can open it too.
        if connection.vendor == "sqlite":
            connection.settings_dict["TEST"]["NAME"] = str(settings.VAR_DIR / f"bench_{name}.sqlite3")
        setup_test_environment()
        creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keepdb)
        try:
            figures = module.run(**kwargs)
        finally:
            if not keepdb:
                creation.destroy_test_db(old_name, verbosity=0)
            teardown_test_environment()
        figures = {"bench": name, "database": connection.vendor, **figures}
        self.stdout.write(json.dumps(figures, ensure_ascii=False, default=str))
