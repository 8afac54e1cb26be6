"""Re-attribute a period after a rule change, and rebuild its dashboard figures."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from insights.tasks import insights_recompute_task


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
        rows = insights_recompute_task(start=first.isoformat(), end=last.isoformat())
        self.stdout.write(f"recomputed {first}..{last}: {rows} daily rows")
