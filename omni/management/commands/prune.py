"""`manage.py prune [--dry-run]`: delete the rows past their retention period (`omni.retention`), kind by kind."""

from django.core.management.base import BaseCommand

from omni.retention import BATCH_SIZE, prune


class Command(BaseCommand):
    help = "Delete rows past their retention period (OMNI_RETENTION_DAYS), in batches; --dry-run only counts them."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help=f"rows per delete (default {BATCH_SIZE})"
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        verb = "would delete" if dry_run else "deleted"
        total = 0
        for pruned in prune(dry_run=dry_run, batch_size=batch_size):
            if pruned.days is None:
                self.stdout.write(f"{pruned.name}: kept for ever (no period set)")
                continue
            total += pruned.rows
            self.stdout.write(f"{pruned.name}: {verb} {pruned.rows} — {pruned.what}")
        self.stdout.write(f"{'Dry run: nothing changed; ' if dry_run else ''}{verb} {total} rows in all.")
