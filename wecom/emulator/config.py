"""The one corp and self-built app the emulator plays, the brand's WeChat Official Account, and where it sends
callbacks and points its UI."""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wecom.crypto import CallbackCrypto

# The demo's Official Account (服务号): Omni's WECHAT_OA_APPID / WECHAT_OA_SECRET in `./run demo`.
DEMO_OA_APPID = "wx0d3m0a0000000001"
DEMO_OA_SECRET = "0d3m00a5ec7e70000000000000000001"


@dataclass
class EmulatorConfig:
    corp_id: str
    agent_id: str
    secret: str
    token: str
    encoding_aes_key: str
    callback_url: str
    sidebar_url: str
    # The emulator's own base URL as browsers reach it (QR code URLs, the JS-SDK script); set at start.
    public_url: str = ""
    state_path: Path | None = None
    # Hosts a redirect_uri may point to in OAuth (WeCom's 可信域名); empty = the callback and sidebar hosts.
    trusted_hosts: list[str] = field(default_factory=list)
    # The brand's Official Account, whose web authorization (网页授权) customers go through in WeChat.
    oa_appid: str = DEMO_OA_APPID
    oa_secret: str = DEMO_OA_SECRET

    def missing(self) -> list[str]:
        """The settings this config cannot do without, by their environment variable names."""
        names = {
            "WECOM_CORP_ID": self.corp_id,
            "WECOM_AGENT_ID": self.agent_id,
            "WECOM_SECRET": self.secret,
            "WECOM_TOKEN": self.token,
            "WECOM_ENCODING_AES_KEY": self.encoding_aes_key,
        }
        return [name for name, value in names.items() if not value]

    def redirect_hosts(self) -> set[str]:
        """The hosts an OAuth redirect_uri may point to: WeCom's 可信域名 and the OA's 网页授权域名 alike."""
        if self.trusted_hosts:
            return set(self.trusted_hosts)
        urls = (self.callback_url, self.sidebar_url)
        return {urlsplit(url).hostname for url in urls if urlsplit(url).hostname}

    def default_trusted_domain(self) -> str:
        """The app's trusted domain (agent/get's redirect_domain) unless the corp admin state sets one: the first
        trusted host given, else the sidebar's host and port."""
        return self.trusted_hosts[0] if self.trusted_hosts else urlsplit(self.sidebar_url).netloc

    def crypto(self) -> CallbackCrypto:
        crypto = CallbackCrypto(token=self.token, encoding_aes_key=self.encoding_aes_key, corp_id=self.corp_id)
        crypto.key  # noqa: B018 - fail at start, not at the first callback, when the key is malformed
        return crypto
