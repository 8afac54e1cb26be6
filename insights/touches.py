"""Touches: the things an associate did through Omni that earn them credit for a customer's next order.

A touch source is a function `(customer_ids, start, end) -> Iterable[Touch]` returning the touches of those
customers (raw ids, merged-away ones included) with start <= at <= end. Register one with `@touch_source`;
another app's touches (community invites, mass messages) plug in with a few lines and a `TouchKind`.
"""

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable

from campaigns.models import CampaignRecipient
from clientbook.models import FollowRelation
from communities.models import Invite
from coupons.models import IssueRequest, Redemption
from insights.models import TouchKind
from suggestions.models import Outreach


@dataclasses.dataclass(frozen=True)
class Touch:
    associate_id: int
    store_id: int | None
    customer_id: int
    at: dt.datetime
    kind: str
    ref_id: int
    # A coupon redemption names the order it was used in: it is that order's touch whatever the clocks say.
    order_ref: str = ""


TouchSource = Callable[[list[int], dt.datetime, dt.datetime], Iterable[Touch]]
TOUCH_SOURCES: list[TouchSource] = []


def touch_source(source: TouchSource) -> TouchSource:
    TOUCH_SOURCES.append(source)
    return source


@touch_source
def welcome_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    """The welcome message Omni sent when the customer added the associate."""
    rows = FollowRelation.objects.filter(
        customer_id__in=customer_ids,
        followed_at__range=(start, end),
        welcome=FollowRelation.Welcome.SENT,
    ).values_list("associate_id", "associate__store_id", "customer_id", "followed_at", "pk")
    for associate_id, store_id, customer_id, at, pk in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.WELCOME, pk)


@touch_source
def product_card_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    rows = Outreach.objects.filter(customer_id__in=customer_ids, sent_at__range=(start, end)).values_list(
        "associate_id", "store_id", "customer_id", "sent_at", "pk"
    )
    for associate_id, store_id, customer_id, at, pk in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.PRODUCT_CARD, pk)


@touch_source
def coupon_pack_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    rows = IssueRequest.objects.filter(
        customer_id__in=customer_ids, created_at__range=(start, end), associate__isnull=False
    ).values_list("associate_id", "store_id", "customer_id", "created_at", "pk")
    for associate_id, store_id, customer_id, at, pk in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.COUPON_PACK, pk)


@touch_source
def coupon_redeem_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    """A coupon from an associate's pack redeemed (a return cancels nothing here: the order's status does)."""
    rows = Redemption.objects.filter(
        coupon__customer_id__in=customer_ids,
        created_at__range=(start, end),
        kind=Redemption.Kind.REDEEM,
        credited_associate__isnull=False,
    ).values_list("credited_associate_id", "credited_store_id", "coupon__customer_id", "created_at", "pk", "order_ref")
    for associate_id, store_id, customer_id, at, pk, order_ref in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.COUPON_REDEEM, pk, order_ref)


@touch_source
def invite_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    """A community invite (the group's QR poster) sent to the customer."""
    rows = Invite.objects.filter(customer_id__in=customer_ids, sent_at__range=(start, end)).values_list(
        "associate_id", "store_id", "customer_id", "sent_at", "pk"
    )
    for associate_id, store_id, customer_id, at, pk in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.INVITE, pk)


@touch_source
def campaign_touches(customer_ids: list[int], start: dt.datetime, end: dt.datetime) -> Iterable[Touch]:
    """A mass message the associate confirmed and WeCom delivered to the customer."""
    rows = CampaignRecipient.objects.filter(
        customer_id__in=customer_ids,
        status=CampaignRecipient.Status.SENT,
        sent_at__range=(start, end),
        associate__isnull=False,
    ).values_list("associate_id", "associate__store_id", "customer_id", "sent_at", "pk")
    for associate_id, store_id, customer_id, at, pk in rows.iterator():
        yield Touch(associate_id, store_id, customer_id, at, TouchKind.CAMPAIGN, pk)
