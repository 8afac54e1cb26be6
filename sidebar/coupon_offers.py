"""The sidebar's coupon reads: the packs this associate may send this customer, and the coupons the customer holds.

A pack the associate may send but that cannot go to this customer right now (today's quota used, the
customer already holds the most allowed, stock or budget gone) is still listed, with the reason, so the
associate knows why instead of meeting an error.
"""

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils import timezone

from associates.models import Associate
from coupons.models import AssociatePackDay, Coupon, CouponPack, CouponPackItem, CustomerHolding
from coupons.sending import coupon_pack_cost, coupon_pack_sendable
from coupons.validity import local_day
from customers.selectors import customer_record_ids

COUPONS_SHOWN = 20


@dataclasses.dataclass(frozen=True)
class PackOffer:
    pack: CouponPack
    items: list[CouponPackItem]
    face_value: Decimal
    sent_today: int
    blocked: str  # "" when it can be sent now, else the stable code of what stops it
    blocked_text: str


def _blocked(
    pack: CouponPack, items: list[CouponPackItem], cost: Decimal, sent_today: int, held: dict[int, int]
) -> tuple[str, str]:
    if sent_today >= pack.daily_quota:
        return "quota_reached", f"今天已发 {sent_today} 份，达到每日上限"
    if pack.spent + cost > pack.budget:
        return "budget_exhausted", "券包预算已用完"
    for item in items:
        template = item.template
        if template.status != template.Status.RUNNING:
            return "template_unavailable", f"「{template.name}」暂停发放"
        if template.issued_count + item.quantity > template.total_stock:
            return "out_of_stock", f"「{template.name}」已发完"
        if held.get(template.pk, 0) + item.quantity > template.per_customer_limit:
            return "limit_reached", f"客户已领过「{template.name}」"
    return "", ""


def sidebar_pack_offers(*, associate: Associate, customer_id: int, now: dt.datetime | None = None) -> list[PackOffer]:
    """Running packs this associate may send, newest first, each with what (if anything) stops it for this customer."""
    now = now or timezone.now()
    packs = [
        pack
        for pack in CouponPack.objects.filter(status=CouponPack.Status.RUNNING)
        .filter(Q(stores__isnull=True) | Q(stores=associate.store_id))
        .distinct()
        .prefetch_related(
            "stores",
            Prefetch("items", queryset=CouponPackItem.objects.select_related("template__gift_product").order_by("pk")),
        )
        if coupon_pack_sendable(pack=pack, associate=associate) and pack.items.all()
    ]
    if not packs:
        return []
    sent = dict(
        AssociatePackDay.objects.filter(pack__in=packs, associate=associate, day=local_day(now)).values_list(
            "pack_id", "sent"
        )
    )
    template_ids = {item.template_id for pack in packs for item in pack.items.all()}
    held = dict(
        CustomerHolding.objects.filter(customer_id=customer_id, template_id__in=template_ids).values_list(
            "template_id", "issued"
        )
    )
    offers = []
    for pack in packs:
        items = list(pack.items.all())
        cost = coupon_pack_cost(items=items)
        blocked, blocked_text = _blocked(pack, items, cost, sent.get(pack.pk, 0), held)
        offers.append(
            PackOffer(
                pack=pack,
                items=items,
                face_value=cost,
                sent_today=sent.get(pack.pk, 0),
                blocked=blocked,
                blocked_text=blocked_text,
            )
        )
    return offers


def sidebar_customer_coupons(*, customer_id: int, now: dt.datetime | None = None) -> list[Coupon]:
    """The customer's coupons for the sidebar: usable ones first (soonest to expire first), then the newest others."""
    now = now or timezone.now()
    coupons = list(
        Coupon.objects.filter(customer_id__in=customer_record_ids(customer_id=customer_id))
        .select_related("template__gift_product", "associate")
        .order_by("-issued_at", "-pk")[: COUPONS_SHOWN * 5]
    )
    usable = sorted((c for c in coupons if c.usable_at(now)), key=lambda c: c.valid_until)
    others = [c for c in coupons if not c.usable_at(now)]
    return (usable + others)[:COUPONS_SHOWN]
