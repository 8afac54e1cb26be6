"""Re-attribute a period after a rule change, and rebuild its dashboard figures."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign
from insights.attribution import attribution_config_get
from insights.tasks import insights_recompute_task


def _pruned_campaigns_read(first: dt.date) -> list[str]:
    """Campaigns whose recipients retention deleted (campaigns.retention) and that a recompute from `first` would read
    touches of (one attribution window back): their figures would change, so the period is refused."""
    window = attribution_config_get().window_days
    since = dt.datetime.combine(first - dt.timedelta(days=window), dt.time.min, tzinfo=timezone.get_current_timezone())
    pruned = Campaign.objects.filter(recipients_summary__isnull=False).filter(
        Q(finished_at__gte=since) | Q(cancelled_at__gte=since)
    )
    return list(pruned.order_by("pk").values_list("name", flat=True)[:5])


class Command(BaseCommand):
    help = "按当前归因规则重算一段时间（北京时间日期，含首尾）的业绩归因与看板数据"

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD")

    def handle(self, *args, start: str, end: str, **options):
        try:
            first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        except ValueError as exc:
            raise CommandError("日期格式应为 YYYY-MM-DD") from exc
        if first > last:
            raise CommandError("--start 不能晚于 --end")
        if pruned := _pruned_campaigns_read(first):
            raise CommandError(
                f"{first} 起的重算会读到已按保留期清理收件人明细的群发（{'、'.join(pruned)}），"
                "已有数据会改变；请选择更晚的开始日期"
            )
        rows = insights_recompute_task(start=first.isoformat(), end=last.isoformat())
        self.stdout.write(f"recomputed {first}..{last}: {rows} daily rows")
