"""The page a campaign's chat card opens (H5 in WeChat's webview).

One mass message carries the same card to every recipient, so the card cannot hold a personal coupon link; the
coupons themselves were issued to each recipient's account at send time. When the campaign carries a coupon pack
and the brand's Official Account is configured, the page asks WeChat who opened it (web authorization, snsapi_base:
silent) and sends a recipient of this campaign on to their own coupon page. Everyone else — an unknown person,
someone who was not sent the campaign, a replayed or forwarded callback, WeChat failing — gets the same page for
everyone: what the campaign offers and where coupons are, nothing personal.
"""

import logging

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
from omni.wechat.oauth import (
    STATE_MAX_AGE,
    WeChatError,
    oa_authorize_url,
    oa_code_exchange,
    oa_configured,
    oa_state_issue,
    oa_state_verify,
)

logger = logging.getLogger(__name__)
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
            return _authorize(request, campaign)
        coupons = _own_coupon_page(request, campaign)
        if coupons is not None:
            return _callback_done(request, campaign, HttpResponseRedirect(coupons))
    items = []
    if campaign.coupon_pack_id:
        items = list(CouponPackItem.objects.filter(pack_id=campaign.coupon_pack_id).select_related("template"))
    response = render(request, "campaigns/landing.html", {"campaign": campaign, "items": items})
    return _callback_done(request, campaign, response)


def _purpose(campaign: Campaign) -> str:
    return f"campaign-landing:{campaign.pk}"


def _authorize(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    state, nonce = oa_state_issue(purpose=_purpose(campaign))
    response = HttpResponseRedirect(oa_authorize_url(redirect_uri=campaign_landing_url(campaign=campaign), state=state))
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        max_age=STATE_MAX_AGE,
        path=_path(campaign),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


def _own_coupon_page(request: HttpRequest, campaign: Campaign) -> str | None:
    """The coupon page URL of the recipient WeChat says came back, or None for anyone and anything else."""
    code, state = request.GET.get("code", ""), request.GET.get("state", "")
    nonce = request.COOKIES.get(NONCE_COOKIE, "")
    if not code or not oa_state_verify(state=state, nonce=nonce, purpose=_purpose(campaign)):
        return None
    try:
        user = oa_code_exchange(code=code)
    except WeChatError as exc:
        logger.warning("campaign %s landing: WeChat OAuth code exchange failed: %s", campaign.pk, exc)
        return None
    customer = customer_by_wechat_oa(openid=user.openid, unionid=user.unionid)
    if customer is None:
        return None
    record = campaign_recipient_record(campaign_id=campaign.pk, customer_id=customer.pk)
    return coupon_page_url(customer_id=record) if record is not None else None


def _path(campaign: Campaign) -> str:
    return reverse("campaign-landing", kwargs={"token": campaign.landing_token})


def _callback_done(request: HttpRequest, campaign: Campaign, response: HttpResponse) -> HttpResponse:
    """The nonce is spent, and the URL (which may carry a code and state) is not sent on as a Referer."""
    if NONCE_COOKIE in request.COOKIES:
        response.delete_cookie(NONCE_COOKIE, path=_path(campaign), samesite="Lax")
    response["Referrer-Policy"] = "no-referrer"
    return response
