"""`python manage.py bench NAME`: run benchmark `bench/NAME.py` in a scratch database.

The benchmark runs against a fresh `test_…` database on the configured server (so PostgreSQL when
DATABASE_URL points at one), never against real data, and prints its figures as one JSON object on
the last line.
"""

import importlib
import json
import pkgutil

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test.utils import setup_test_environment, teardown_test_environment

import bench
from bench._postgres import TUNED_CONFIG, private_postgres


class Command(BaseCommand):
    help = "Run a benchmark from bench/ and print its figures as JSON on the last line."

    def add_arguments(self, parser):
        names = sorted(
            module.name for module in pkgutil.iter_modules(bench.__path__) if not module.name.startswith("_")
        )
        # One sub-command a benchmark, so that each takes its own options (`add_arguments(parser)` in its module,
        # each option's dest one of its run()'s keyword arguments) and two may name an option alike.
        benchmarks = parser.add_subparsers(dest="name", required=True, metavar="NAME", parser_class=CommandParser)
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            sub = benchmarks.add_parser(name, help=(module.__doc__ or "").strip().split("\n")[0])
            sub.add_argument("--scale", type=float, default=1.0, help="Size factor; 1 is the documented size.")
            sub.add_argument("--keepdb", action="store_true", help="Keep the scratch database afterwards.")
            sub.add_argument(
                "--tuned-postgres",
                action="store_true",
                help="Run on a private PostgreSQL cluster configured as production is (bench/postgresql.conf), "
                "started for this run and removed after it, instead of DATABASE_URL's server.",
            )
            sub.add_argument("--customers", type=int, help="Data set size, for benchmarks that take one.")
            if hasattr(module, "add_arguments"):
                before = {action.dest for action in sub._actions}
                module.add_arguments(sub)
                self._own_options[name] = {action.dest for action in sub._actions} - before

    def __init__(self, *args, **kwargs):
        self._own_options: dict[str, set[str]] = {}
        super().__init__(*args, **kwargs)

    def handle(self, *args, tuned_postgres, **options):
        if not tuned_postgres:
            return self._run(**options)
        if connection.vendor != "postgresql":
            raise CommandError("--tuned-postgres: DATABASE_URL must name a PostgreSQL server (its user is used)")
        with private_postgres(TUNED_CONFIG.read_text()) as server:
            self.stderr.write(f"on a private PostgreSQL on port {server.port} configured by {TUNED_CONFIG.name}")
            connection.close()
            for db in (settings.DATABASES["default"], connection.settings_dict):
                db.update(HOST="127.0.0.1", PORT=server.port)
            return self._run(**options)

    def _run(self, *, name, scale, keepdb, customers, **options):
        module = importlib.import_module(f"bench.{name}")
        log = lambda message: self.stderr.write(message)  # noqa: E731
        kwargs = {"scale": scale, "log": log}
        if customers is not None:
            kwargs["customers"] = customers
        # A benchmark's own options are passed only when given (its run() keeps its defaults).
        for option in self._own_options.get(name, ()):
            if options.get(option) not in (None, False):
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
