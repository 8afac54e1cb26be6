"""`manage.py seed_demo`: write the demo brand 栖木 QIMU (see demo/seed.py) and print what it wrote."""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from campaigns.services import journeys_run
from coupons.expiry import coupons_expiry_remind
from demo.brand import BRAND_NAME, DEMO_TZ, HISTORY_DAYS
from demo.seed import CUSTOMERS_PER_SCALE, demo_data_present, demo_seed
from demo.targets import targets_seed
from insights.attribution import attribution_refresh
from insights.stats import daily_stats_refresh
from omni.errors import ApplicationError


class Command(BaseCommand):
    help = (
        f"写入演示品牌「{BRAND_NAME}」：6 家门店与导购、登录账号、商品与库存、客户（各渠道身份、标签、备注）"
        f"及截至今天的约 18 个月全渠道订单。--scale 1 为 {CUSTOMERS_PER_SCALE:,} 位客户，--scale 500 为 100 万位。"
        "同一天、同样的规模在空数据库上生成完全相同的数据。数据库中已有演示数据时不写入任何内容并报错退出；"
        "如需重建，请先 python manage.py flush 清空数据库。全部数据在一个事务中写入，中途失败不留任何数据；"
        "在 PostgreSQL 上写入期间客户、订单等表对其他连接加锁。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=1, help=f"规模倍数，每 1 倍 {CUSTOMERS_PER_SCALE:,} 位客户（默认 1）"
        )
        parser.add_argument("--customers", type=int, help="直接指定客户数，优先于 --scale（测试和小样本用）")
        parser.add_argument(
            "--activity",
            type=float,
            default=1.0,
            help="购买频次倍数：1 约每位客户 4 单（默认），2.5 约 10 单（侧边栏基准测试的数据规模）",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="已有演示数据时只打印登录账号并正常退出（./run demo 每次启动时使用）",
        )

    def handle(self, *args, scale: int, customers: int | None, activity: float, if_empty: bool, **options) -> None:
        if if_empty and demo_data_present():
            self.stdout.write("演示数据已存在，跳过写入。")
            return
        if customers is None:
            if scale < 1:
                raise CommandError("--scale 须为正整数。")
            customers = scale * CUSTOMERS_PER_SCALE
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if options["verbosity"] >= 1 and total > done:
                self.stdout.write(f"  已写入客户 {done:,} / {total:,}（{time.perf_counter() - started:.0f} 秒）")

        today = timezone.localdate(timezone=DEMO_TZ)
        try:
            summary = demo_seed(customers=customers, activity=activity, progress=progress, today=today)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        # The results dashboard reads figures Celery keeps; build them now so it is not empty until beat runs.
        attribution_refresh()
        daily_stats_refresh(start=today - timedelta(days=HISTORY_DAYS), end=today)
        # This month's targets, a little above last month's pace, so the month pages show progress.
        targets_seed(today=today)
        # And this morning's jobs, so the workbench has today's follow-up tasks (birthdays, post-purchase calls,
        # lapsing customers, coupons about to expire) before beat's next morning run.
        journeys_run()
        coupons_expiry_remind()
        elapsed = time.perf_counter() - started

        self.stdout.write(self.style.SUCCESS(f"演示品牌「{BRAND_NAME}」已写入，用时 {elapsed:.1f} 秒："))
        for label, count in summary.counts.items():
            self.stdout.write(f"  {label}：{count:,}")
        customers_rate = summary.counts["客户"] / elapsed
        lines_rate = summary.counts["订单行"] / elapsed
        self.stdout.write(f"  速度：客户 {customers_rate:,.0f} 位/秒，订单行 {lines_rate:,.0f} 行/秒")
        self.stdout.write("登录账号（/admin/）：")
        for login in summary.logins:
            self.stdout.write(f"  {login.username:<14} {login.password:<12} {login.role}")
