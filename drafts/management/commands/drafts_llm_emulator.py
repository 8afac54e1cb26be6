"""`manage.py drafts_llm_emulator [--port 8090] [--api-key KEY]`: the local OpenAI-compatible server of
drafts/llm_emulator.py, for a demo or a manual try: point OMNI_DRAFTS_API_URL at http://127.0.0.1:PORT/v1."""

import time

from django.core.management.base import BaseCommand

from drafts.llm_emulator import start_llm_emulator


class Command(BaseCommand):
    help = "运行本地 OpenAI 兼容的对话补全接口模拟器（消息草稿的大模型）"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument("--api-key", default="", help="要求的 Bearer 密钥；留空表示不校验")

    def handle(self, *args, host: str, port: int, api_key: str, **options):
        running = start_llm_emulator(host=host, port=port, api_key=api_key)
        self.stdout.write(f"OMNI_DRAFTS_API_URL={running.api_base}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            running.stop()
