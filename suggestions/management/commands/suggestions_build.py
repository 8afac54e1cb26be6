"""`manage.py suggestions_build`: build the add-on suggestion model now, in this process, and print its figures."""

from django.core.management.base import BaseCommand, CommandError

from omni.errors import ApplicationError
from suggestions.models import SuggestionModel
from suggestions.services import suggestion_model_build


class Command(BaseCommand):
    help = (
        "用全部订单构建加购推荐模型（每晚 02:40 由 Celery beat 自动运行），打印用时、内存峰值与规模。"
        "构建失败时记录错误，继续使用上一个模型。"
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-missing", action="store_true", help="已有可用模型时不再构建（./run demo 每次启动时使用）"
        )

    def handle(self, *args, if_missing: bool, **options) -> None:
        if if_missing and SuggestionModel.objects.filter(status=SuggestionModel.Status.READY).exists():
            self.stdout.write("推荐模型已存在，跳过构建。")
            return
        try:
            build = suggestion_model_build()
        except ApplicationError as error:
            raise CommandError(error.message) from error
        if build.status != SuggestionModel.Status.READY:
            last_line = build.error.strip().splitlines()[-1] if build.error.strip() else ""
            raise CommandError(f"推荐模型 #{build.pk} 构建失败，继续使用上一个模型：{last_line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"推荐模型 #{build.pk} 已构建：用时 {build.seconds:.1f} 秒，内存峰值 {build.peak_mb:,.0f} MB"
            )
        )
        self.stdout.write(
            f"  订单行 {build.lines:,}，购物篮 {build.baskets:,}，商品 {build.items:,}，"
            f"模型 {build.payload_bytes / 1024 / 1024:.1f} MB"
        )
