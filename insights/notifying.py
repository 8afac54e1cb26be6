"""What insights tells associates (`notices.notify.notice_send`): a sale credited to them through their chat — a
customer bought after their product card, coupon pack, welcome, invite or mass message, or redeemed their coupon.
Only new orders (those the incremental attribution just took) placed in the last day; once per order and associate."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from insights.models import Attribution, TouchKind
from notices.models import Notice
from notices.notify import notice_send

# The chat's own touches; a cashier's or the store's natural sale is not news to the associate.
CHAT_TOUCHES = (
    TouchKind.WELCOME,
    TouchKind.PRODUCT_CARD,
    TouchKind.COUPON_PACK,
    TouchKind.COUPON_REDEEM,
    TouchKind.INVITE,
    TouchKind.CAMPAIGN,
)
RECENT = dt.timedelta(days=1)


def sales_notify(*, after_order_id: int, through_order_id: int) -> int:
    """Notices for the chat-credited sales of orders in (after_order_id, through_order_id]; returns how many."""
    rows = (
        Attribution.objects.filter(
            order_id__gt=after_order_id,
            order_id__lte=through_order_id,
            associate__isnull=False,
            touch_kind__in=CHAT_TOUCHES,
            placed_at__gte=timezone.now() - RECENT,
        )
        .select_related("associate", "order__customer")
        .order_by("order_id", "associate_id")
    )
    told = 0
    for row in rows.iterator():
        customer = row.order.customer
        name = (customer.name if customer else "") or "客户"
        redeemed = row.touch_kind == TouchKind.COUPON_REDEEM
        notice_send(
            associate=row.associate,
            kind=Notice.Kind.COUPON_REDEEMED if redeemed else Notice.Kind.SALE,
            dedupe_key=f"sale:{row.order_id}:{row.associate_id}",
            title=f"{name} 核销了你的券" if redeemed else f"你的客户下单了：{name}",
            description=(
                f"{name} 消费 ¥{row.order.total_amount:.2f}，"
                f"计入你的业绩 ¥{row.amount:.2f}（{row.get_touch_kind_display()}）。"
            ),
            url=reverse("workbench-customer", args=[row.customer_id]) if row.customer_id else "/workbench/",
        )
        told += 1
    return told
