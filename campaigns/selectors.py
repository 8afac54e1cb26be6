"""Reads for campaigns: the audience a campaign's filters select, admin scoping, progress and CSV rows, and who
of a campaign's recipients opened its landing page."""

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns import constants as K
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from communities.models import GroupMember
from coupons.models import Coupon
from customers.models import Customer, CustomerTag, Order, OrderLine
from customers.selectors import TIERS, customer_record_ids, customer_segment_case
from omni.errors import ApplicationError
from omni.replicas import replica_reads

_COUNTED = ~Q(status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])


def _tier_bounds(tier: str) -> tuple[Decimal, Decimal | None]:
    """[low, high) lifetime spend of a tier name (TIERS is ordered from the highest threshold down)."""
    for position, (threshold, name) in enumerate(TIERS):
        if name == tier:
            return threshold, TIERS[position - 1][0] if position else None
    raise ValueError(tier)


def campaign_store_ids(*, campaign: Campaign) -> list[int]:
    """The audience's stores as literal ids: the planner then sizes a store filter right (a subquery on the M2M table
    is estimated at one store, and a keyset range of customer ids would be read through the store index)."""
    return sorted(campaign.stores.values_list("pk", flat=True))


def campaign_audience(*, campaign: Campaign, now: dt.datetime | None = None) -> QuerySet[Customer]:
    """The customers a campaign's filters select, every filter (segments too) in one SQL query (consent, opt-outs
    and caps are applied when the audience is resolved, with a reason per skipped customer)."""
    now = now or timezone.now()
    customers = Customer.objects.filter(
        merged_into__isnull=True, primary_store_id__in=campaign_store_ids(campaign=campaign)
    ).order_by()
    tag_ids = list(campaign.tags.values_list("pk", flat=True))
    if tag_ids:
        customers = customers.filter(Exists(CustomerTag.objects.filter(customer=OuterRef("pk"), tag_id__in=tag_ids)))
    orders = Order.objects.filter(_COUNTED, customer=OuterRef("pk")).order_by().values("customer")
    if campaign.tiers or campaign.segments:
        spend = orders.annotate(total=Sum("total_amount")).values("total")
        customers = customers.annotate(
            lifetime_spend=Coalesce(Subquery(spend), Value(Decimal("0")), output_field=DecimalField())
        )
        if campaign.tiers:
            match = Q()
            for tier in campaign.tiers:
                low, high = _tier_bounds(tier)
                match |= Q(lifetime_spend__gte=low) & (Q(lifetime_spend__lt=high) if high is not None else Q())
            customers = customers.filter(match)
    if campaign.last_purchase_after or campaign.last_purchase_before or campaign.segments:
        customers = customers.annotate(last_purchase_at=Subquery(orders.annotate(last=Max("placed_at")).values("last")))
        if campaign.last_purchase_after:
            customers = customers.filter(last_purchase_at__date__gte=campaign.last_purchase_after)
        if campaign.last_purchase_before:
            customers = customers.filter(last_purchase_at__date__lt=campaign.last_purchase_before)
    if campaign.bought_category:
        bought = OrderLine.objects.filter(
            order__customer=OuterRef("pk"), product__category=campaign.bought_category, quantity__gt=0
        ).exclude(order__status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
        customers = customers.filter(Exists(bought))
    if campaign.holds_unused_coupon:
        customers = customers.filter(
            Exists(Coupon.objects.filter(customer=OuterRef("pk"), status=Coupon.Status.ISSUED, valid_until__gt=now))
        )
    if campaign.birthday_month:
        customers = customers.filter(birthday__month=campaign.birthday_month)
    if campaign.community_id and campaign.community_membership:
        member = GroupMember.objects.filter(
            customer=OuterRef("pk"), is_member=True, chat__communities=campaign.community_id
        )
        customers = customers.filter(Exists(member) if campaign.community_membership == "in" else ~Exists(member))
    if campaign.segments:
        customers = customers.annotate(
            order_count=Subquery(orders.annotate(n=Count("pk")).values("n")),
            segment=customer_segment_case(
                orders="order_count", lifetime_spend="lifetime_spend", last_purchase_at="last_purchase_at", now=now
            ),
        ).filter(segment__in=list(campaign.segments))
    return customers


def campaign_audience_ids(*, campaign: Campaign, now: dt.datetime | None = None) -> list[int]:
    """The ids of the audience in id order (for tests and small audiences; resolution stays in SQL)."""
    return list(campaign_audience(campaign=campaign, now=now).order_by("pk").values_list("pk", flat=True))


def campaign_audience_count(*, campaign: Campaign, now: dt.datetime | None = None) -> int:
    """The exact size of the audience: one COUNT in the database, on the replica when one is configured."""
    with replica_reads():
        return campaign_audience(campaign=campaign, now=now).count()


_ESTIMATE_WINDOWS = 16


@dataclass(frozen=True)
class AudienceEstimate:
    count: int
    exact: bool


def campaign_audience_estimate(*, campaign: Campaign, sample: int | None = None) -> AudienceEstimate:
    """The audience's size within a second at any size: exact on small stores, else counted on id windows that cover
    about `sample` ids and scaled to the whole id range (the exact figure follows from `campaign_audience_count`
    in the background)."""
    sample = sample or K.estimate_sample()
    with replica_reads():
        bounds = Customer.objects.filter(
            merged_into__isnull=True, primary_store_id__in=campaign_store_ids(campaign=campaign)
        ).aggregate(low=Min("pk"), high=Max("pk"))
        audience = campaign_audience(campaign=campaign)
        if bounds["low"] is None:
            return AudienceEstimate(count=0, exact=True)
        span = bounds["high"] - bounds["low"] + 1
        if span <= sample:
            return AudienceEstimate(count=audience.count(), exact=True)
        width = max(1, sample // _ESTIMATE_WINDOWS)
        windows = Q()
        for n in range(_ESTIMATE_WINDOWS):
            start = bounds["low"] + n * span // _ESTIMATE_WINDOWS
            windows |= Q(pk__gte=start, pk__lt=start + width)
        counted = audience.filter(windows).count()
    return AudienceEstimate(count=round(counted * span / (width * _ESTIMATE_WINDOWS)), exact=False)


@dataclass(frozen=True)
class AudiencePreview:
    count: int
    exact: bool
    counted_at: dt.datetime | None = None


def campaign_audience_preview(*, campaign: Campaign) -> AudiencePreview:
    """What the admin shows at once: the exact count stored for the campaign's current filters, else an estimate
    (the caller queues the exact count, `campaigns.services.campaign_audience_count_queue`)."""
    if campaign.audience_count is not None and campaign.audience_count_key == campaign_audience_key(campaign=campaign):
        return AudiencePreview(count=campaign.audience_count, exact=True, counted_at=campaign.audience_counted_at)
    estimate = campaign_audience_estimate(campaign=campaign)
    return AudiencePreview(count=estimate.count, exact=estimate.exact)


def campaign_audience_key(*, campaign: Campaign) -> str:
    """A fingerprint of the campaign's filters: an exact count stored under another key counted other filters."""
    fields = {name: getattr(campaign, name) for name in AUDIENCE_FILTERS}
    fields["stores"] = sorted(campaign.stores.values_list("pk", flat=True))
    fields["tags"] = sorted(campaign.tags.values_list("pk", flat=True))
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


AUDIENCE_FILTERS = [
    "tiers",
    "segments",
    "last_purchase_after",
    "last_purchase_before",
    "bought_category",
    "holds_unused_coupon",
    "birthday_month",
    "community_id",
    "community_membership",
]


def campaigns_visible(*, store_ids: frozenset[int] | None, queryset: QuerySet[Campaign] | None = None):
    """Campaigns a manager may see: every store of the audience is one of theirs (HQ: all)."""
    queryset = Campaign.objects.all() if queryset is None else queryset
    if store_ids is None:
        return queryset
    foreign = Campaign.stores.through.objects.filter(campaign=OuterRef("pk")).exclude(store_id__in=store_ids)
    mine = Campaign.stores.through.objects.filter(campaign=OuterRef("pk"), store_id__in=store_ids)
    return queryset.filter(Exists(mine)).exclude(Exists(foreign))


@dataclass(frozen=True)
class CampaignProgress:
    chunks: int
    chunks_created: int
    chunks_failed: int
    chunks_confirmed: int
    recipients: int
    skipped: int
    by_status: dict[str, int]
    skipped_by_reason: dict[str, int]

    @property
    def percent(self) -> int:
        """WeCom tasks created (or given up) out of all chunks."""
        return 100 if not self.chunks else round(100 * (self.chunks_created + self.chunks_failed) / self.chunks)


def campaign_recipients_summary(*, campaign_id: int) -> dict[str, dict[str, int]]:
    """The recipients' counts by status and by skip reason, from their rows: what `campaign_progress` shows, and what
    retention keeps on the campaign before deleting the rows (Campaign.recipients_summary)."""
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id).values_list("status", "skip_reason")
    by_status: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for status, reason, count in rows.order_by().annotate(n=Count("pk")).values_list("status", "skip_reason", "n"):
        by_status[status] = by_status.get(status, 0) + count
        if reason:
            reasons[reason] = reasons.get(reason, 0) + count
    return {"by_status": by_status, "skipped_by_reason": reasons}


def campaign_progress(*, campaign_id: int) -> CampaignProgress:
    chunks = CampaignChunk.objects.filter(campaign_id=campaign_id).aggregate(
        total=Count("pk"),
        created=Count("pk", filter=Q(status=CampaignChunk.Status.CREATED)),
        failed=Count("pk", filter=Q(status=CampaignChunk.Status.FAILED)),
        confirmed=Count("pk", filter=Q(confirmed_at__isnull=False)),
    )
    summary = Campaign.objects.filter(pk=campaign_id).values_list("recipients_summary", flat=True).first()
    if summary is None:
        summary = campaign_recipients_summary(campaign_id=campaign_id)
    by_status, reasons = summary["by_status"], summary["skipped_by_reason"]
    total = sum(by_status.values())
    return CampaignProgress(
        chunks=chunks["total"],
        chunks_created=chunks["created"],
        chunks_failed=chunks["failed"],
        chunks_confirmed=chunks["confirmed"],
        recipients=total,
        skipped=by_status.get(CampaignRecipient.Status.SKIPPED, 0),
        by_status=by_status,
        skipped_by_reason=reasons,
    )


EXPORT_HEADER = ["客户ID", "客户", "导购", "导购UserID", "状态", "跳过原因", "送达时间", "分片", "msgid"]


def campaign_recipients_export_rows(*, campaign_id: int) -> Iterator[list]:
    """CSV rows of every recipient: who, through whom, and what happened (times in Asia/Shanghai)."""
    yield EXPORT_HEADER
    recipients = (
        CampaignRecipient.objects.filter(campaign_id=campaign_id)
        .select_related("customer", "associate", "chunk")
        .order_by("pk")
    )
    statuses = dict(CampaignRecipient.Status.choices)
    reasons = dict(CampaignRecipient.Skip.choices)
    for r in recipients.iterator(chunk_size=2000):
        yield [
            r.customer_id,
            r.customer.name,
            r.associate.name if r.associate else "",
            r.associate.wecom_userid if r.associate else "",
            statuses.get(r.status, r.status),
            reasons.get(r.skip_reason, "") if r.skip_reason else "",
            timezone.localtime(r.sent_at).strftime("%Y-%m-%d %H:%M") if r.sent_at else "",
            r.chunk.key if r.chunk else "",
            r.chunk.msgid if r.chunk else "",
        ]


def campaign_recipient_record(*, campaign_id: int, customer_id: int) -> int | None:
    """The One ID record of the person `customer_id` stands for, when that person — under any of their records, as
    recipients are recorded before later merges — was sent this campaign (not skipped); else None."""
    try:
        record_ids = customer_record_ids(customer_id=customer_id)
    except ApplicationError:
        return None
    sent = (
        CampaignRecipient.objects.filter(campaign_id=campaign_id, customer_id__in=record_ids)
        .exclude(status=CampaignRecipient.Status.SKIPPED)
        .exists()
    )
    return record_ids[0] if sent else None
