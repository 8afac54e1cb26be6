"""The local WeCom emulator beside a live Omni (pytest-django's live_server), and Omni's settings pointed at it."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import RunningEmulator, start_emulator


@contextmanager
def live_emulator(
    settings,
    omni_url: str,
    *,
    corp_id: str,
    agent_id: str,
    secret: str,
    token: str,
    encoding_aes_key: str,
    callbacks: bool = True,
    **config,
) -> Iterator[RunningEmulator]:
    """An emulator whose callbacks and sidebar go to the Omni at `omni_url` (callbacks off: events are logged as
    skipped), with Omni's WeCom settings and public URL set for it — and its WeChat Official Account settings when
    `config` names the OA (oa_appid, oa_secret); `config`: other EmulatorConfig fields."""
    running = start_emulator(
        EmulatorConfig(
            corp_id=corp_id,
            agent_id=agent_id,
            secret=secret,
            token=token,
            encoding_aes_key=encoding_aes_key,
            callback_url=f"{omni_url}/wecom/callback/",
            sidebar_url=f"{omni_url}/sidebar/",
            **config,
        )
    )
    try:
        if not callbacks:
            running.control("POST", "faults", {"callbacks": "off"})
        settings.WECOM_API_BASE = running.api_base
        settings.WECOM_CORP_ID, settings.WECOM_AGENT_ID, settings.WECOM_SECRET = corp_id, agent_id, secret
        settings.WECOM_TOKEN, settings.WECOM_ENCODING_AES_KEY = token, encoding_aes_key
        settings.WECOM_OAUTH_AUTHORIZE_URL = running.authorize_url
        settings.WECOM_WEB_LOGIN_URL = f"{running.url}/wwlogin/sso/login"
        settings.WECOM_RETRY_BACKOFF = 0.01
        settings.OMNI_PUBLIC_URL = omni_url
        if config.get("oa_appid"):
            settings.WECHAT_OA_APPID, settings.WECHAT_OA_SECRET = config["oa_appid"], config["oa_secret"]
            settings.WECHAT_OAUTH_AUTHORIZE_URL = running.authorize_url
            settings.WECHAT_API_BASE = running.url
        cache.clear()
        yield running
    finally:
        running.stop()
