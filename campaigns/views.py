"""The page a campaign's chat card opens (H5 in WeChat's webview).

One mass message carries the same card to every recipient, so the card cannot hold a personal coupon link; the
coupons themselves were issued to each recipient's account at send time. When the campaign carries a coupon pack
and the brand's Official Account is configured, the page asks WeChat who opened it (web authorization, snsapi_base:
silent) and sends a recipient of this campaign on to their own coupon page. Everyone else — an unknown person,
someone who was not sent the campaign, a replayed or forwarded callback, WeChat failing — gets the same page for
everyone: what the campaign offers and where coupons are, nothing personal.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from campaigns.models import Campaign
from campaigns.selectors import campaign_recipient_record
from campaigns.services import campaign_landing_url
from coupons.links import coupon_page_url
from coupons.models import CouponPackItem
from customers.services import customer_by_wechat_oa
from wecom.wechat_oauth import OaSignIn, oa_configured

# Holds the nonce the OAuth state is bound to; scoped to the campaign's landing path.
NONCE_COOKIE = "omni_wx_nonce"


@require_safe
@never_cache
def campaign_landing(request: HttpRequest, token: str) -> HttpResponse:
    campaign = Campaign.objects.filter(landing_token=token).exclude(status=Campaign.Status.DRAFT).first()
    if campaign is None:
        return render(request, "coupons/gone.html", status=404)
    if campaign.coupon_pack_id and oa_configured():
        if "code" not in request.GET and "state" not in request.GET:
            return _sign_in(campaign).redirect(request, redirect_uri=campaign_landing_url(campaign=campaign))
        coupons = _own_coupon_page(request, campaign)
        if coupons is not None:
            return _sign_in(campaign).done(request, HttpResponseRedirect(coupons))
    items = []
    if campaign.coupon_pack_id:
        items = list(CouponPackItem.objects.filter(pack_id=campaign.coupon_pack_id).select_related("template"))
    response = render(request, "campaigns/landing.html", {"campaign": campaign, "items": items})
    return _sign_in(campaign).done(request, response)


def _sign_in(campaign: Campaign) -> OaSignIn:
    path = reverse("campaign-landing", kwargs={"token": campaign.landing_token})
    return OaSignIn(purpose=f"campaign-landing:{campaign.pk}", cookie=NONCE_COOKIE, path=path)


def _own_coupon_page(request: HttpRequest, campaign: Campaign) -> str | None:
    """The coupon page URL of the recipient WeChat says came back, or None for anyone and anything else."""
    user = _sign_in(campaign).user(request)
    if user is None:
        return None
    customer = customer_by_wechat_oa(openid=user.openid, unionid=user.unionid)
    if customer is None:
        return None
    record = campaign_recipient_record(campaign_id=campaign.pk, customer_id=customer.pk)
    return coupon_page_url(customer_id=record) if record is not None else None
