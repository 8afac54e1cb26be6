"""The demo's coupons: the templates and the packs associates send (`coupon_packs_write`, part of the fixed part),
and the last COUPON_DAYS of welcome and birthday sends and in-store redemptions, written through the coupon
service once every customer is in (`coupons_write`)."""

from datetime import timedelta

from associates.models import Store
from clientbook.models import FollowRelation
from customers.models import Channel, Order, Product
from demo.brand import COUPON_DAYS
from demo.world import DemoSummary, World


def coupon_packs_write() -> dict[str, int]:
    """The demo's coupon templates and the packs associates send from the sidebar (one goes with the welcome);
    returns the packs' ids by name."""
    from coupons.models import CouponPack, CouponPackItem, CouponTemplate

    gift = Product.objects.filter(category="serum").order_by("price", "sku").first()
    templates = {
        key: CouponTemplate.objects.create(status=CouponTemplate.Status.RUNNING, **fields)
        for key, fields in {
            "300-50": dict(name="满300减50", kind="threshold", value=50, threshold=300, valid_days=30),
            "20": dict(name="20元无门槛券", kind="amount_off", value=20, valid_days=14, per_customer_limit=4),
            "85": dict(name="全场85折券", kind="percent_off", value=15, max_discount=200, valid_days=14),
            "gift": dict(
                name="满500赠精华小样", kind="gift", threshold=500, gift_product=gift, valid_days=30, channels="store"
            ),
        }.items()
        for fields in [{"total_stock": 1_000_000, **fields}]
    }
    packs = {
        ("新客礼包", "欢迎来到栖木：满300减50 + 20元无门槛", True): [("300-50", 1), ("20", 1)],
        ("老客回购礼", "好久不见，85折 + 2张20元无门槛券", False): [("85", 1), ("20", 2)],
        ("生日礼", "生日快乐！到店消费满500元赠精华小样", False): [("gift", 1), ("20", 1)],
    }
    pack_ids = {}
    for (name, description, welcome), items in packs.items():
        pack = CouponPack.objects.create(
            name=name, description=description, budget=1_000_000, daily_quota=30, welcome=welcome
        )
        CouponPackItem.objects.bulk_create(
            CouponPackItem(pack=pack, template=templates[key], quantity=quantity) for key, quantity in items
        )
        pack_ids[name] = pack.pk
    return pack_ids


def coupons_write(*, world: World, summary: DemoSummary) -> None:
    """The last COUPON_DAYS days of coupon sends, through the coupon service (counters, budgets and limits as in
    production): each day's new WeCom contacts got the welcome pack, and each contact whose birthday it was got the
    birthday pack from HQ in the associate's name. Customers used them on their next store visit: the first
    in-store purchase in a coupon's window that meets its threshold, one coupon per order (the templates do not
    stack). Coupons whose window has closed by the reference are expired."""
    from coupons.expiry import coupons_expire
    from coupons.models import Channels, Coupon, IssueRequest
    from coupons.redemption import OrderIn
    from coupons.sending_many import coupon_pack_send_many
    from coupons.till import coupon_redeem

    follows = FollowRelation.objects.filter(ended_at__isnull=True, customer__merged_into__isnull=True)
    for days_before in range(COUPON_DAYS, 0, -1):
        day = world.reference - timedelta(days=days_before)
        welcomed = follows.filter(
            welcome=FollowRelation.Welcome.SENT, followed_at__gte=day, followed_at__lt=day + timedelta(days=1)
        ).order_by("pk")
        sent = coupon_pack_send_many(
            pack_id=world.pack_ids["新客礼包"],
            recipients=list(welcomed.values_list("customer_id", "associate_id")),
            request_prefix=f"demo-welcome:{day:%Y%m%d}",
            source=IssueRequest.Source.WELCOME,
            # After the day's last contact was added (members join in the morning).
            now=day + timedelta(hours=11),
        )
        summary.add("欢迎礼包（份）", sent.issued)
        # One follow per customer in the demo: their own associate.
        birthdays = follows.filter(
            followed_at__lt=day,
            customer__birthday__month=day.month,
            customer__birthday__day=day.day,
            customer__marketing_consent=True,
            customer__opted_out=False,
        ).order_by("customer_id")
        sent = coupon_pack_send_many(
            pack_id=world.pack_ids["生日礼"],
            recipients=list(birthdays.values_list("customer_id", "associate_id")),
            request_prefix=f"demo-birthday:{day:%Y%m%d}",
            source=IssueRequest.Source.ADMIN,
            now=day + timedelta(hours=9),
        )
        summary.add("生日礼包（份）", sent.issued)

    held: dict[int, list[Coupon]] = {}
    for coupon in Coupon.objects.select_related("template").order_by("customer_id", "valid_until", "issued_at", "pk"):
        held.setdefault(coupon.customer_id, []).append(coupon)
    visits = Order.objects.filter(
        channel=Channel.STORE_POS,
        status=Order.Status.COMPLETED,
        placed_at__gte=world.reference - timedelta(days=COUPON_DAYS),
        customer_id__in=Coupon.objects.values("customer_id"),
    ).order_by("placed_at", "external_id")
    stores = {store.pk: store for store in Store.objects.filter(pk__in=world.store_ids.tolist())}
    redeemed = 0
    for order in visits:
        usable = (
            coupon
            for coupon in held[order.customer_id]
            if coupon.redeemed_at is None
            and coupon.valid_from <= order.placed_at < coupon.valid_until
            and coupon.template.threshold <= order.total_amount
            and coupon.template.channels != Channels.ONLINE
        )
        coupon = next(usable, None)
        if coupon is None:
            continue
        coupon_redeem(
            code=coupon.code,
            order=OrderIn(
                channel=Channels.STORE,
                store=stores[order.store_id],
                order_ref=order.external_id,
                amount=order.total_amount,
            ),
            request_no=f"demo:{order.external_id}",
            now=order.placed_at,
        )
        coupon.redeemed_at = order.placed_at
        redeemed += 1
    summary.add("优惠券核销（张）", redeemed)
    summary.add("优惠券过期（张）", coupons_expire(now=world.reference))
