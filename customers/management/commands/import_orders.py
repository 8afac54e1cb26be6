"""`manage.py import_orders FILE`: bulk-import a channel's order file; see customers.importing."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from customers.importing import DEFAULT_MAPPING, FIELDS, ImportResult, orders_import_file
from customers.models import Channel, Identity, Order
from customers.tasks import orders_import_task
from omni.errors import ApplicationError


class Command(BaseCommand):
    help = "Import order lines from a CSV or Parquet file (defaults fit the UCI Online Retail file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="a .csv or .parquet file")
        parser.add_argument("--channel", default=Channel.ONLINE_MALL.value, choices=Channel.values)
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help=(
                f"map a field to a file column (repeatable); fields: {', '.join(FIELDS)}; defaults: "
                + ", ".join(f"{k}={v}" for k, v in DEFAULT_MAPPING.items())
                + "; an empty COLUMN unmaps an optional field"
            ),
        )
        parser.add_argument(
            "--identity-kind",
            choices=Identity.Kind.values,
            help="identity kind of customer_id (default: the channel's member id kind, e.g. mall_account)",
        )
        parser.add_argument("--store", metavar="CODE", help="store code to record on every order")
        parser.add_argument("--tz", help="time zone of dates without an offset (default: settings.TIME_ZONE)")
        parser.add_argument("--currency", default="CNY")
        parser.add_argument("--return-prefix", default="C", help="invoices starting with it are returns")
        parser.add_argument("--chunk-size", type=int, default=50_000, help="rows per transaction")
        parser.add_argument(
            "--fulfilment",
            choices=Order.Fulfilment.values,
            help="default: in_store for store_pos, delivery otherwise",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue the import for a Celery worker (bulk queue) and return; follow it in admin → 批量导入",
        )

    def handle(self, *args, **options) -> None:
        mapping = {}
        for item in options["map"]:
            name, sep, column = item.partition("=")
            if not sep:
                raise CommandError(f"--map expects FIELD=COLUMN, got {item!r}.")
            mapping[name.strip()] = column
        if options["background"]:
            self._enqueue(mapping, options)
            return
        started = time.perf_counter()
        # The delay keeps instant outcomes (already imported, bad input) free of an empty bar.
        with tqdm(unit=" rows", unit_scale=True, delay=1, file=sys.stderr, disable=options["verbosity"] == 0) as bar:
            try:
                result = orders_import_file(
                    path=options["file"],
                    channel=options["channel"],
                    mapping=mapping,
                    identity_kind=options["identity_kind"],
                    store_code=options["store"],
                    tz=options["tz"],
                    currency=options["currency"],
                    return_prefix=options["return_prefix"],
                    fulfilment=options["fulfilment"],
                    chunk_rows=options["chunk_size"],
                    progress=bar.update,
                )
            except ApplicationError as exc:
                raise CommandError(f"{exc.message} [{exc.code}]") from exc
        self._summary(result, time.perf_counter() - started)

    def _enqueue(self, mapping: dict[str, str], options: dict) -> None:
        path = options["file"].resolve()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        orders_import_task.delay(
            path=str(path),
            channel=options["channel"],
            options={
                "mapping": mapping,
                "identity_kind": options["identity_kind"],
                "store_code": options["store"],
                "tz": options["tz"],
                "currency": options["currency"],
                "return_prefix": options["return_prefix"],
                "fulfilment": options["fulfilment"],
                "chunk_rows": options["chunk_size"],
            },
        )
        self.stdout.write(f"Queued the import of {path} on the bulk queue.")

    def _summary(self, result: ImportResult, seconds: float) -> None:
        if result.already_done:
            self.stdout.write(
                f"{self.style.WARNING('Already imported')} (job #{result.job_id}, {result.rows_total} rows): "
                "nothing written."
            )
            return
        resumed = f", resumed after row {result.resumed_from}" if result.resumed_from else ""
        rate = result.lines_imported / seconds if seconds else 0
        self.stdout.write(self.style.SUCCESS(f"Imported job #{result.job_id} in {seconds:.1f} s{resumed}."))
        for label, value in (
            ("rows read", result.rows_read),
            ("lines imported", f"{result.lines_imported} ({rate:,.0f} lines/s)"),
            ("lines already present", result.lines_already_present),
            ("orders created", result.orders_created),
            ("new customers", result.customers_created),
            ("new products", result.products_created),
            ("rows rejected", sum(result.rejected.values())),
        ):
            self.stdout.write(f"  {label:<22}{value}")
        for code, count in result.rejected.items():
            rows = ", ".join(str(row) for row in result.reject_examples.get(code, []))
            self.stdout.write(f"    {code:<32}{count:>8}   e.g. rows {rows}")
