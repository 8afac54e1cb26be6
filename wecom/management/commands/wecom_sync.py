"""`manage.py wecom_sync [contacts|tags|groups|all] [--inline]`: full sync from WeCom, resumable."""

from django.core.management.base import BaseCommand

from wecom.models import SyncRun
from wecom.sync import sync_page, sync_start
from wecom.tasks import wecom_sync_task


class Command(BaseCommand):
    help = "Sync contacts, corp tags or group chats from WeCom (resumes a run that was interrupted)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[*SyncRun.Kind.values, "all"])
        parser.add_argument("--inline", action="store_true", help="run here instead of queueing for a worker")

    def handle(self, *args, kind, inline, **options):
        for name in SyncRun.Kind.values if kind == "all" else [kind]:
            run = sync_start(kind=name)
            if not inline:
                wecom_sync_task.delay(run.pk)
                self.stdout.write(f"Queued {name} sync #{run.pk} on the bulk queue.")
                continue
            while sync_page(run_id=run.pk):
                run.refresh_from_db()
                self.stderr.write(f"  {name}: page {run.pages}, {run.items} items")
            run.refresh_from_db()
            self.stdout.write(
                f"{name} sync #{run.pk}: {run.get_status_display()}, {run.items} items in {run.pages} pages."
            )
