"""JS-SDK signing (Doc 96909): the signature wx.config and wx.agentConfig need for a page URL."""

import hashlib


def jssdk_signature(*, ticket: str, noncestr: str, timestamp: str | int, url: str) -> str:
    """sha1 of "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" in that order; the URL without its #fragment."""
    url = url.split("#", 1)[0]
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()
