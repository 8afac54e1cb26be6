"""Omni behind a TLS-terminating load balancer: which forwarded headers to believe, and the client's address.

The balancer connects to Omni and tells it, in X-Forwarded-Proto and X-Forwarded-For, the scheme and the address it
was reached with. Those headers are believed only from the proxies named in OMNI_TRUSTED_PROXIES (IPs or CIDR
networks): `ForwardedHeadersMiddleware` strips them from every other request, so Django's SECURE_PROXY_SSL_HEADER
(set by the settings when there are trusted proxies) and `client_ip` never read a value a client made up.
"""

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")


@cache
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies if proxy.strip())


def _from_trusted_proxy(remote_addr: str) -> bool:
    networks = _trusted_networks(tuple(settings.OMNI_TRUSTED_PROXIES))
    if not networks or not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in networks)


class ForwardedHeadersMiddleware:
    """Drops the forwarded headers of a request that did not come from a trusted proxy (all of them, when none is
    configured)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if not _from_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str | None:
    """The address of the person making the request, for the audit log.

    From a trusted proxy, the last address of X-Forwarded-For: the one the balancer itself saw (anything before it
    was written by the client or by proxies nobody vouches for). Otherwise the connection's own address. django-ipware
    parses the header (ports, IPv6 brackets, junk entries)."""
    if "HTTP_X_FORWARDED_FOR" in request.META:  # only still there when a trusted proxy sent it
        # proxy_count=0, not strict: the client is the right-most entry, however many came before it.
        address, _routable = get_client_ip(
            request, proxy_count=0, request_header_order=["HTTP_X_FORWARDED_FOR"], strict=False
        )
        if address:
            return address
    return request.META.get("REMOTE_ADDR") or None
