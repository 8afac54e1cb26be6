"""`manage.py suggestions_baskets_online_retail OUT.csv`: the UCI Online Retail file as a baskets CSV for
suggestions_eval (customer_id,date,item_id; cancellations and rows without CustomerID dropped)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from suggestions.evaluation import online_retail_baskets

DEFAULT_SOURCE = settings.OMNI_ONLINE_RETAIL_FILE


class Command(BaseCommand):
    help = "Write the UCI Online Retail file as customer_id,date,item_id baskets for suggestions_eval."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", type=Path, help="the CSV to write")
        parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"default: {DEFAULT_SOURCE}")

    def handle(self, *args, **options) -> None:
        source: Path = options["source"]
        if not source.is_file():
            raise CommandError(f"No such file: {source}")
        baskets = online_retail_baskets(source)
        baskets.to_csv(options["output"], index=False, date_format="%Y-%m-%d")
        self.stdout.write(
            f"Wrote {len(baskets)} rows ({baskets['customer_id'].nunique()} customers, "
            f"{baskets['item_id'].nunique()} items) to {options['output']}."
        )
