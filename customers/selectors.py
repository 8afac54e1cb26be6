"""Reads about customers: their tiers and segments. Who may see whom is the client book's
(`clientbook.selectors`)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

# Lifetime-spend tiers (CNY) and the recency that makes a customer "lapsing".
TIERS = [(Decimal("20000"), "黑金"), (Decimal("8000"), "金卡"), (Decimal("2000"), "银卡"), (Decimal("0"), "普通")]
LAPSING_AFTER = timedelta(days=120)


def customer_tier(*, lifetime_spend: Decimal) -> str:
    return next(name for threshold, name in TIERS if lifetime_spend >= threshold)


def customer_segment(*, orders: int, lifetime_spend: Decimal, last_purchase_at: datetime | None) -> str:
    """A plain-words RFM segment an associate can act on."""
    if not orders or last_purchase_at is None:
        return "潜在客户"
    lapsing = timezone.now() - last_purchase_at > LAPSING_AFTER
    valuable = lifetime_spend >= TIERS[2][0] or orders >= 5
    if orders == 1 and not lapsing:
        return "新客"
    if valuable:
        return "重要挽回" if lapsing else "重要价值"
    return "流失风险" if lapsing else "一般维护"
