"""The page a campaign's chat card opens (H5 in WeChat's webview).

One mass message carries the same card to every recipient, so the card cannot hold a personal coupon link; the
coupons themselves were issued to each recipient's account at send time. This page tells the customer what the
campaign offers and where their coupons are; it shows nothing personal.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from campaigns.models import Campaign
from coupons.models import CouponPackItem


@require_safe
def campaign_landing(request: HttpRequest, token: str) -> HttpResponse:
    campaign = Campaign.objects.filter(landing_token=token).exclude(status=Campaign.Status.DRAFT).first()
    if campaign is None:
        return render(request, "coupons/gone.html", status=404)
    items = []
    if campaign.coupon_pack_id:
        items = list(CouponPackItem.objects.filter(pack_id=campaign.coupon_pack_id).select_related("template"))
    return render(request, "campaigns/landing.html", {"campaign": campaign, "items": items})
