"""Omni behind a TLS-terminating load balancer: which forwarded headers to believe, and the client's address.

The balancer connects to Omni and tells it, in X-Forwarded-Proto and X-Forwarded-For, the scheme and the address it
was reached with. Those headers are believed only from the proxies named in OMNI_TRUSTED_PROXIES (IPs or CIDR
networks): `ForwardedHeadersMiddleware` strips them from every other request, so Django's SECURE_PROXY_SSL_HEADER
(set by the settings when there are trusted proxies) and `client_ip` never read a value a client made up. Several
layers (a CDN, then the balancer) are all named in OMNI_TRUSTED_PROXIES.
"""

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")
# Set on a request that came with any forwarded header, kept or dropped: it came through a proxy (omni.metrics lets
# such a request in by token only).
FORWARDED_MARK = "omni.forwarded"


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
        if any(header in request.META for header in FORWARDED_HEADERS):
            request.META[FORWARDED_MARK] = True
        if not _from_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str | None:
    """The address of the person making the request: for the audit log, the admin sign-in lockout and the throttles.

    Each proxy appends the address it was reached from to X-Forwarded-For, so the header is read from the right:
    entries that are themselves trusted proxies (a CDN in front of the balancer, say) are skipped, and the first one
    that is not is the client. Anything left of it was written by the client and is never read. The header is only
    still there when a trusted proxy sent the request (ForwardedHeadersMiddleware). Without a usable entry, the
    connection's own address; None for a request built in code without one (django-axes stores NULL)."""
    client = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = _address(entry)
        if address is None:
            break  # junk: nothing left of it can be placed
        client = address
        if not _from_trusted_proxy(address):
            break
    return client


def _address(entry: str) -> str | None:
    """An X-Forwarded-For entry as an address: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443` or `2001:db8::1`."""
    if entry.startswith("["):
        entry = entry[1 : entry.find("]")]
    elif entry.count(":") == 1:
        entry = entry.split(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None
