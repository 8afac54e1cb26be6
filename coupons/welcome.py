"""The store's welcome coupon pack as an attachment of the welcome message (registered with the client book's
`welcome_attachments` from `CouponsConfig.ready()`): issued when the customer adds the associate, linked to their
coupon page."""

from django.db.models import Q

from clientbook.models import FollowRelation
from coupons.links import coupon_card_image_url, coupon_page_url
from coupons.models import CouponPack
from coupons.sending import coupon_welcome_pack_send


def welcome_coupons(follow: FollowRelation) -> list[dict]:
    """The store's welcome coupon pack, issued now, as a link attachment to the customer's coupon page."""
    sent = coupon_welcome_pack_send(follow_id=follow.pk)
    if sent is None:
        return []
    customer_id = sent.request.customer_id
    return [
        {
            "msgtype": "link",
            "link": {
                "title": f"送您一份新客礼：{sent.request.pack.name}",
                "picurl": coupon_card_image_url(),
                "desc": sent.request.pack.description or f"{len(sent.coupons)} 张优惠券已放入您的券包，点开查看。",
                "url": coupon_page_url(customer_id=customer_id),
            },
        }
    ]


def welcome_pack_choices(store_ids: list[int] | None) -> list[tuple[int, str]]:
    """The running packs a code of these stores (None: every store) may carry in its welcome message."""
    packs = CouponPack.objects.filter(status=CouponPack.Status.RUNNING).order_by("-pk")
    if store_ids is not None:
        packs = packs.filter(Q(stores__isnull=True) | Q(stores__in=store_ids)).distinct()
    return [(pack.pk, pack.name) for pack in packs[:200]]
