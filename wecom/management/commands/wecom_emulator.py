"""`manage.py wecom_emulator`: run the local WeCom emulator (wecom/emulator) in the foreground."""

import signal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wecom.emulator.config import DEMO_OA_APPID, DEMO_OA_SECRET, EmulatorConfig
from wecom.emulator.server import Emulator, bind


class Command(BaseCommand):
    # The emulator is not Omni: it must start even while Omni's own apps fail their checks.
    requires_system_checks = []
    help = (
        "运行本地企业微信模拟器：企业微信服务端 API（/cgi-bin/）、加密回调、OAuth、JS-SDK 替身和模拟客户端界面。"
        "企业与应用取自 WECOM_CORP_ID、WECOM_AGENT_ID、WECOM_SECRET、WECOM_TOKEN、WECOM_ENCODING_AES_KEY，"
        "可用参数覆盖。Omni 通过 WECOM_API_BASE=http://127.0.0.1:<port>/cgi-bin/ 连接它。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
        parser.add_argument("--port", type=int, default=8001, help="端口（默认 8001；0 为任一空闲端口）")
        parser.add_argument(
            "--state",
            type=Path,
            default=settings.VAR_DIR / "wecom_emulator.json",
            help="状态文件，重启后保留（默认 var/wecom_emulator.json）",
        )
        parser.add_argument("--memory", action="store_true", help="不保存状态（覆盖 --state）")
        parser.add_argument("--callback-url", help="回调地址（默认 OMNI_PUBLIC_URL + /wecom/callback/）")
        parser.add_argument("--sidebar-url", help="侧边栏页面（默认 OMNI_PUBLIC_URL + /sidebar/）")
        parser.add_argument("--public-url", help="浏览器访问模拟器的地址（默认 http://<host>:<port>）")
        parser.add_argument(
            "--trusted-host",
            action="append",
            default=[],
            help="OAuth redirect_uri 允许的主机（可信域名，可重复；默认取回调与侧边栏地址的主机）",
        )
        parser.add_argument("--corp-id", default=settings.WECOM_CORP_ID)
        parser.add_argument("--agent-id", default=str(settings.WECOM_AGENT_ID or ""))
        parser.add_argument("--secret", default=settings.WECOM_SECRET)
        parser.add_argument("--token", default=settings.WECOM_TOKEN)
        parser.add_argument("--encoding-aes-key", default=settings.WECOM_ENCODING_AES_KEY)
        parser.add_argument(
            "--oa-appid",
            default=settings.WECHAT_OA_APPID or DEMO_OA_APPID,
            help="客户在微信里授权的公众号 AppID（默认 WECHAT_OA_APPID，未设置时为演示公众号）",
        )
        parser.add_argument("--oa-secret", default=settings.WECHAT_OA_SECRET or DEMO_OA_SECRET)

    def handle(self, *args, **options) -> None:
        public = settings.OMNI_PUBLIC_URL.rstrip("/")
        config = EmulatorConfig(
            corp_id=options["corp_id"],
            agent_id=options["agent_id"],
            secret=options["secret"],
            token=options["token"],
            encoding_aes_key=options["encoding_aes_key"],
            callback_url=options["callback_url"] or f"{public}/wecom/callback/",
            sidebar_url=options["sidebar_url"] or f"{public}/sidebar/",
            public_url=(options["public_url"] or "").rstrip("/"),
            state_path=None if options["memory"] else options["state"],
            trusted_hosts=options["trusted_host"],
            oa_appid=options["oa_appid"],
            oa_secret=options["oa_secret"],
        )
        missing = config.missing()
        if missing:
            raise CommandError(
                f"模拟器需要企业与应用的配置，缺少：{', '.join(missing)}。"
                "请设置这些环境变量（与 Omni 使用同一组值），或用对应的命令行参数（--corp-id 等）指定。"
            )
        try:
            config.crypto()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            server = bind(options["host"], options["port"])
        except OSError as exc:
            raise CommandError(f"无法监听 {options['host']}:{options['port']}：{exc}") from exc
        # The port actually bound: --port 0 takes any free one.
        config.public_url = config.public_url or f"http://{options['host']}:{server.server_address[1]}"
        emulator = Emulator(config)
        server.set_app(emulator)
        try:
            # Before the banner: whoever reads it may stop the emulator at once.
            signal.signal(signal.SIGINT, _interrupt)
            signal.signal(signal.SIGTERM, _interrupt)
            # Every URL printed answers a GET (the API bases list what the emulator implements); Omni's two are shown
            # under Omni's own address, since its callback endpoint answers only WeCom's signed requests.
            self.stdout.write(
                self.style.SUCCESS("企业微信模拟器已启动（Ctrl-C 停止）：")
                + f"\n  模拟客户端界面  {config.public_url}/"
                f"\n  API 地址        {config.public_url}/cgi-bin/   （WECOM_API_BASE）"
                f"\n  OAuth 授权页    {config.public_url}/connect/oauth2/authorize   （企业微信与公众号网页授权）"
                f"\n  公众号 API      {config.public_url}/sns/   （WECHAT_API_BASE 为模拟器地址）"
                f"\n  JS-SDK 替身     {config.public_url}/jssdk/jwxwork.js   （WECOM_JSSDK_URL）"
                f"\n  控制 API        {config.public_url}/control/   （接口列表）"
                f"\n  Omni            {public}/   （回调发往 {_below(config.callback_url, public)}，"
                f"侧边栏 {_below(config.sidebar_url, public)}）"
                f"\n  状态文件        {config.state_path or '（不保存）'}"
                f"\n  企业 {config.corp_id} · 应用 {config.agent_id} · 公众号 {config.oa_appid}"
            )
            self.stdout.flush()  # a banner piped to a log is there before the first request
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            # One signal stops it; a second (Ctrl-C, then the launcher's SIGTERM) must not cut the state's saving
            # short with a traceback.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stdout.write("正在停止…")
        finally:
            server.server_close()
            emulator.close()


def _below(url: str, base: str) -> str:
    """`url` as a path when it is on `base`; in full when it was set elsewhere."""
    return url.removeprefix(base) if url.startswith(f"{base}/") else url


def _interrupt(signum, frame) -> None:
    # SIGTERM (from the demo launcher) stops like Ctrl-C, so the state file is written before exit; SIGINT is set
    # too because a shell starts background jobs with it ignored.
    raise KeyboardInterrupt
