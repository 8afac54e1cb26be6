"""The customer's coupon page (H5 in WeChat's webview) and the shareable image of one coupon.

Reached by the signed, expiring link of `coupons.links`: the token names one customer, and the page shows only the
coupons of that person (their One ID record and every record merged into it). Nothing else in the URL picks a
customer, so a forged, altered or old token, or another customer's code, gets the same "link expired" page. The
token is in the URL, so these responses are never kept by shared caches, sent on as a Referer, or indexed.
"""

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from coupons.images import barcode_svg, coupon_card_png, qr_svg
from coupons.links import coupon_page_customer_id
from coupons.models import Channels, Coupon, CouponTemplate, Redemption, code_display, yuan
from customers.categories import category_label
from customers.consent import consent_opt_out
from customers.models import ConsentChange
from customers.selectors import customer_record_ids, membership_of
from omni.errors import ApplicationError
from omni.throttling import FailureThrottle, Throttled, caller_ident

ENDED_SHOWN = 30  # used, expired and revoked coupons listed under the usable ones, most recent first
EXPIRING_SOON = dt.timedelta(days=3)
WEEKDAYS = "一二三四五六日"
PAGE_FAILURE_SCOPE = "coupon_page_failed"


def _private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Headers for a page whose URL is a credential."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def _failures_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Links that answer "link expired" (forged, altered, expired, another customer's code) count against the
    client's address; past OMNI_THROTTLE_RATES["coupon_page_failed"] of them in the window, every link answers 429
    (a page saying how long to wait, and Retry-After) until the oldest leaves it. A customer opening their own page
    again and again is never counted."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle, ident = FailureThrottle(PAGE_FAILURE_SCOPE), caller_ident(request)
        try:
            throttle.check(ident)
        except Throttled as refused:
            response = render(request, "coupons/throttled.html", {"wait": refused.wait}, status=429)
            response["Retry-After"] = str(refused.wait)
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 404:
            throttle.failure_record(ident)
        return response

    return wrapped


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "coupons/gone.html", status=404)


# ---------------------------------------------------------------------------------------------------------------
# Whose coupons


def _person_ids(*, token: str) -> list[int] | None:
    """The customer ids of the person the token was made for, or None when it is forged, altered or expired."""
    customer_id = coupon_page_customer_id(token=token)
    if customer_id is None:
        return None
    try:
        return customer_record_ids(customer_id=customer_id)
    except ApplicationError:
        return None


def _coupons(*, customer_ids: list[int]):
    return (
        Coupon.objects.filter(customer_id__in=customer_ids)
        .select_related("template__gift_product", "store", "associate")
        .prefetch_related(
            "template__stores",
            "template__products",
            Prefetch(
                "redemptions",
                queryset=Redemption.objects.filter(kind=Redemption.Kind.REDEEM).select_related("store").order_by("-pk"),
                to_attr="uses",
            ),
        )
    )


# ---------------------------------------------------------------------------------------------------------------
# How a coupon reads


def _start(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def _end(moment: dt.datetime, *, short: bool = False, now: dt.datetime | None = None) -> str:
    """An end time as people say it: midnight is 24:00 of the day before ("有效期至 12月19日 24:00")."""
    local = timezone.localtime(moment)
    day, clock = local.date(), f"{local:%H:%M}"
    if clock == "00:00":
        day, clock = day - dt.timedelta(days=1), "24:00"
    if not short:
        return f"{day:%Y-%m-%d} {clock}"
    year = "" if now is not None and timezone.localtime(now).year == day.year else f"{day.year}年"
    return f"{year}{day.month}月{day.day}日 {clock}"


def _value(template: CouponTemplate) -> tuple[str, str, str]:
    """The value in big type, split for styling: (prefix, number, suffix), e.g. ("¥", "50", "") or ("", "8.5", "折")."""
    if template.kind == CouponTemplate.Kind.PERCENT_OFF:
        return "", yuan((Decimal(100) - template.value) / 10), "折"
    if template.kind == CouponTemplate.Kind.GIFT:
        return "", "赠品", ""
    return "¥", yuan(template.value), ""


def _caption(template: CouponTemplate) -> str:
    if template.kind == CouponTemplate.Kind.GIFT:
        gift = template.gift_product.name if template.gift_product_id else "精选赠品"
        return f"满{yuan(template.threshold)}元赠{gift}" if template.threshold else gift
    if template.kind == CouponTemplate.Kind.PERCENT_OFF and template.max_discount is not None:
        cap = f"最多减{yuan(template.max_discount)}元"
        return f"满{yuan(template.threshold)}元可用 · {cap}" if template.threshold else cap
    return f"满{yuan(template.threshold)}元可用" if template.threshold else "无门槛"


def _scope(template: CouponTemplate) -> str:
    if template.scope == CouponTemplate.Scope.CATEGORIES:
        return "指定品类：" + "、".join(category_label(code) for code in template.categories)
    if template.scope == CouponTemplate.Scope.SKUS:
        names = [product.name for product in template.products.all()]
        shown = "、".join(names[:3])
        return f"指定商品：{shown}" + (f" 等 {len(names)} 件" if len(names) > 3 else "")
    return "全场通用"


def _where(template: CouponTemplate) -> str:
    where = {Channels.STORE: "仅限门店使用", Channels.ONLINE: "仅限线上使用"}.get(template.channels, "门店和线上均可用")
    stores = [store.name for store in template.stores.all()]
    if stores and template.channels != Channels.ONLINE:
        where += "；门店限" + "、".join(stores)
    return where


def _hours(template: CouponTemplate) -> str:
    parts = []
    if template.weekdays:
        parts.append("每周" + "、".join(WEEKDAYS[day - 1] for day in sorted(template.weekdays)))
    if template.day_starts or template.day_ends:
        starts = f"{template.day_starts:%H:%M}" if template.day_starts else "00:00"
        ends = f"{template.day_ends:%H:%M}" if template.day_ends else "24:00"
        parts.append(f"每天 {starts}–{ends}")
    return " ".join(parts)


def _used_note(coupon: Coupon) -> str:
    use = coupon.uses[0] if coupon.uses else None
    when = f"{timezone.localtime(coupon.redeemed_at):%Y-%m-%d}" if coupon.redeemed_at else ""
    if use is not None and use.channel == Channels.ONLINE:
        return f"{when} 线上使用".strip()
    if use is not None and use.store_id:
        return f"{when} 于{use.store.name}使用".strip()
    return f"{when} 已使用".strip()


@dataclasses.dataclass(frozen=True)
class CouponFace:
    """One coupon as the customer reads it."""

    coupon: Coupon
    usable: bool
    status: str
    note: str
    value: tuple[str, str, str]
    caption: str
    scope: str
    where: str
    hours: str
    period: str
    until: str
    starts: str  # set while the coupon is not valid yet
    soon: bool
    qr: SafeString | None = None
    barcode: SafeString | None = None

    @property
    def code(self) -> str:
        return code_display(self.coupon.code)


def _face(coupon: Coupon, *, now: dt.datetime, symbols: bool) -> CouponFace:
    template = coupon.template
    usable = coupon.usable_at(now)
    if usable:
        status, note = "未使用", ""
    elif coupon.status == Coupon.Status.REDEEMED:
        status, note = "已使用", _used_note(coupon)
    elif coupon.status == Coupon.Status.REVOKED:
        status, note = "已作废", ""
    else:
        status, note = "已过期", f"{_end(coupon.valid_until)} 到期"
    return CouponFace(
        coupon=coupon,
        usable=usable,
        status=status,
        note=note,
        value=_value(template),
        caption=_caption(template),
        scope=_scope(template),
        where=_where(template),
        hours=_hours(template),
        period=f"{_start(coupon.valid_from)} 至 {_end(coupon.valid_until)}",
        until=f"有效期至 {_end(coupon.valid_until, short=True, now=now)}",
        starts=f"{_end(coupon.valid_from, short=True, now=now)} 起可用" if coupon.valid_from > now else "",
        soon=usable and coupon.valid_until - now <= EXPIRING_SOON,
        # The symbols are built here from our own code alphabet, so they are safe to put in the page as they are.
        qr=mark_safe(qr_svg(coupon.code)) if symbols and usable else None,
        barcode=mark_safe(barcode_svg(coupon.code)) if symbols and usable else None,
    )


def _ended_at(coupon: Coupon) -> dt.datetime:
    if coupon.status == Coupon.Status.REDEEMED and coupon.redeemed_at:
        return coupon.redeemed_at
    if coupon.status == Coupon.Status.REVOKED:
        return coupon.issued_at
    return coupon.valid_until


# ---------------------------------------------------------------------------------------------------------------
# Views


@require_safe
@_private
@_failures_throttled
def coupon_page(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's coupons: usable ones first (soonest to end on top) with QR code and barcode, then the used,
    expired and revoked ones, greyed."""
    customer_ids = _person_ids(token=token)
    if customer_ids is None:
        return _gone(request)
    now = timezone.now()
    coupons = list(_coupons(customer_ids=customer_ids))
    live, ended = [], []
    for coupon in coupons:
        (live if coupon.usable_at(now) else ended).append(coupon)
    live.sort(key=lambda c: (c.valid_from > now, c.valid_until, c.pk))
    ended.sort(key=lambda c: (_ended_at(c), c.pk), reverse=True)
    sender = next((c for c in sorted(live or coupons, key=lambda c: -c.pk) if c.associate_id), None)
    membership = membership_of(customer_ids=customer_ids)
    return render(
        request,
        "coupons/page.html",
        {
            "token": token,
            "usable": [_face(c, now=now, symbols=True) for c in live],
            "ended": [_face(c, now=now, symbols=False) for c in ended[:ENDED_SHOWN]],
            "sender": sender,
            "membership": membership,
            "points_expiring": membership is not None and membership.expiring_on(timezone.localdate(now)),
        },
    )


@require_safe
@_private
@_failures_throttled
def coupon_image(request: HttpRequest, token: str, code: str) -> HttpResponse:
    """A PNG card of one usable coupon of the token's customer, to save from WeChat and show at the till."""
    customer_ids = _person_ids(token=token)
    if customer_ids is None:
        return _gone(request)
    coupon = _coupons(customer_ids=customer_ids).filter(code=code).first()
    now = timezone.now()
    if coupon is None or not coupon.usable_at(now):
        return _gone(request)
    face = _face(coupon, now=now, symbols=False)
    png = coupon_card_png(
        heading=coupon.store.name if coupon.store_id else "专属优惠券",
        value="".join(face.value),
        caption=face.caption,
        name=coupon.template.name,
        rule=" · ".join(part for part in (face.scope, face.where, face.hours) if part),
        validity=f"有效期 {face.period}",
        code=coupon.code,
        code_display=face.code,
    )
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="coupon-{coupon.code}.png"'
    return response


# The signed token in the URL is the credential a forged cross-site post would need, so it stands for the CSRF
# token; and the page's no-referrer policy makes browsers send `Origin: null`, which Django's check refuses.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@_private
@_failures_throttled
def coupon_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """不再接收: the page asks once (GET), the button records the opt-out (POST, source coupon_page) on the
    person's One ID record; from then every marketing send to them is refused (`customers.consent`)."""
    customer_ids = _person_ids(token=token)
    if customer_ids is None:
        return _gone(request)
    done = request.method == "POST"
    if done:
        consent_opt_out(customer_id=customer_ids[0], source=ConsentChange.Source.COUPON_PAGE, note="客户在券包页面退订")
    return render(request, "coupons/unsubscribe.html", {"token": token, "done": done})
