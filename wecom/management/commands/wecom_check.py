"""`manage.py wecom_check [--warn-only] [--skip NAME]`: test each piece of the WeCom set-up against WeCom
(wecom.checks), one line per check; exit status 1 when a check fails, unless --warn-only (for a server's start-up)."""

import logging

from django.core.management.base import BaseCommand, CommandError

from wecom.checks import FAIL, OK, wecom_check_names, wecom_checks_run

logger = logging.getLogger("wecom.checks")


class Command(BaseCommand):
    help = (
        "检查企业微信接入：Secret 与 access_token、企业可信IP、回调URL、JS-SDK 与可信域名、应用可见范围、"
        "客户联系权限、时钟；"
        "每项一行，写明哪里不对、到企业微信管理后台哪里改。有失败项时退出码为 1（--warn-only 时为 0）。"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--warn-only",
            action="store_true",
            help="失败项只作为警告（写入日志），退出码总是 0：供服务启动时调用，企业微信的问题不挡住启动",
        )
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            choices=wecom_check_names(),
            help="跳过这一项（可重复），例如在 Omni 尚未监听时跳过 callback",
        )

    def handle(self, *args, warn_only: bool, skip: list[str], **options):
        results = wecom_checks_run(skip=frozenset(skip))
        for result in results:
            style = (
                self.style.SUCCESS
                if result.status == OK
                else self.style.ERROR
                if result.status == FAIL
                else self.style.WARNING
            )
            self.stdout.write(style(result.line))
            if warn_only and result.status != OK:
                logger.warning("wecom_check %s %s: %s", result.name, result.status, result.message)
        failed = [result.name for result in results if result.status == FAIL]
        if failed and not warn_only:
            raise CommandError(f"企业微信接入检查：{len(failed)} 项失败（{', '.join(failed)}）", returncode=1)
        warned = sum(result.status != OK for result in results)
        self.stdout.write(f"企业微信接入检查：{len(results)} 项，{len(failed)} 项失败，{warned - len(failed)} 项警告。")
