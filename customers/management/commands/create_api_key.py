"""`manage.py create_api_key --channel pos --store CODE [--scope NAME …]`: make an integration API key and print
its secret once.

The secret is stored only hashed (customers.ingestion.api_key_create): an operator copies it from this output
into the brand system (POS, mini-program, mall) and cannot read it again later. Without `--scope` the key may do
everything its stores allow: members, orders, coupons, stock (for its stores only), and the catalogue when it is
not limited to stores.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from associates.models import Store
from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel
from omni.errors import ApplicationError

CHANNEL_ALIASES = {
    "pos": Channel.STORE_POS,
    "mini_program": Channel.MINI_PROGRAM,
    "mall": Channel.ONLINE_MALL,
    "marketplace": Channel.MARKETPLACE,
    **{channel.value: channel for channel in Channel},
}


class Command(BaseCommand):
    help = "Create an API key for a brand system and print its secret (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel", required=True, choices=sorted(CHANNEL_ALIASES), help="pos, mini_program, mall, marketplace"
        )
        parser.add_argument(
            "--store",
            action="append",
            default=[],
            metavar="CODE",
            help="store code the key may act for (repeatable); none: any store",
        )
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiKey.Scope.values,
            metavar="SCOPE",
            help=f"what the key may do (repeatable): {', '.join(ApiKey.Scope.values)}; "
            "default: all its stores allow (catalogue only for a key not limited to stores; "
            "stock writes only the stock of the key's stores)",
        )
        parser.add_argument(
            "--name", default="", help="what the key is for, shown in admin (default: channel and stores)"
        )

    def handle(self, *args, channel: str, store: list[str], scope: list[str] | None, name: str, **options) -> None:
        channel = CHANNEL_ALIASES[channel]
        codes = list(dict.fromkeys(code.strip() for code in store if code.strip()))
        stores = {s.code: s for s in Store.objects.filter(code__in=codes)}
        if missing := [code for code in codes if code not in stores]:
            raise CommandError(f"没有这些门店编码：{', '.join(missing)}。未创建密钥。")
        name = name.strip() or " ".join([channel.label, *codes])
        try:
            with transaction.atomic():
                api_key, secret = api_key_create(
                    name=name, channel=channel, stores=[stores[code] for code in codes], scopes=scope
                )
        except ApplicationError as error:
            raise CommandError(f"{error.message}未创建密钥。") from error
        where = "、".join(codes) if codes else "不限门店"
        scopes = "、".join(api_key.scopes) or "无"
        self.stderr.write(f"已创建接口密钥「{api_key.name}」（渠道：{channel.label}，门店：{where}，权限：{scopes}）。")
        self.stderr.write("密钥只显示这一次，请妥善保存；请求头：Authorization: Api-Key <密钥>")
        self.stdout.write(secret)
