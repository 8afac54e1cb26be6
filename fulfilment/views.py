"""The customer's pickup card (/h/<token>/): what is held or waiting for them, in which store (address, opening
hours), until when, and the pickup code as text, QR code and barcode for the till — the coupon page's look and
symbols (`coupons.images`). The token (Pickup.token, random, unguessable) is the only key, so the response is private
like the coupon page's; an unknown token answers the coupon page's "link expired" page, counted by its throttle.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_safe

from coupons.images import barcode_svg, qr_svg
from coupons.views import _failures_throttled, _gone, _private
from fulfilment.models import Pickup

WEEKDAYS = "一二三四五六日"


def pickup_card_url(*, pickup: Pickup) -> str:
    return settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("pickup-card", kwargs={"token": pickup.token})


@require_safe
@_private
@_failures_throttled
def pickup_card(request: HttpRequest, token: str) -> HttpResponse:
    pickup = (
        Pickup.objects.select_related("store", "associate", "customer")
        .prefetch_related("lines__product")
        .filter(token=token)
        .first()
    )
    if pickup is None:
        return _gone(request)
    until = timezone.localtime(pickup.expires_at)
    is_open = pickup.status in Pickup.OPEN
    return render(
        request,
        "fulfilment/card.html",
        {
            "pickup": pickup,
            "lines": list(pickup.lines.all()),
            "is_open": is_open,
            "until": f"{until:%m月%d日} 周{WEEKDAYS[until.weekday()]} {until:%H:%M}",
            "qr": mark_safe(qr_svg(pickup.code)) if is_open else None,
            "bar": mark_safe(barcode_svg(pickup.code)) if is_open else None,
        },
    )
