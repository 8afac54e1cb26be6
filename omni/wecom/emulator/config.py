"""The one corp and self-built app the emulator plays, and where it sends callbacks and points its UI."""

from dataclasses import dataclass, field
from pathlib import Path

from omni.wecom.crypto import CallbackCrypto


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

    def crypto(self) -> CallbackCrypto:
        crypto = CallbackCrypto(token=self.token, encoding_aes_key=self.encoding_aes_key, corp_id=self.corp_id)
        crypto.key  # noqa: B018 - fail at start, not at the first callback, when the key is malformed
        return crypto
