"""Coupon reads for managers (admin) and reports: which rows a user's stores reach, a coupon's story, ledger exports.

Scoping takes the store ids from `associates.selectors.user_store_ids` (None: every store, for HQ). Templates and
packs with no stores apply to every store, so every manager sees them; only HQ manages them.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterator

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from coupons.models import Coupon, CouponPack, CouponTemplate, IssueRequest, Redemption
from customers.models import Customer
from customers.selectors import customer_survivor
from omni.errors import ApplicationError

StoreIds = frozenset[int] | None

EXPORT_CHUNK = 2000


def _by_stores(through: type, owner: str, store_ids: frozenset[int]) -> Q:
    """Rows whose stores include one of these, or that have no stores (they apply to every store)."""
    rows = through.objects.filter(**{owner: OuterRef("pk")})
    return Q(Exists(rows.filter(store_id__in=store_ids))) | ~Q(Exists(rows))


def coupon_templates_visible(
    *, store_ids: StoreIds, queryset: QuerySet[CouponTemplate] | None = None
) -> QuerySet[CouponTemplate]:
    """Templates usable in one of these stores (or in every store)."""
    queryset = CouponTemplate.objects.all() if queryset is None else queryset
    if store_ids is None:
        return queryset
    return queryset.filter(_by_stores(CouponTemplate.stores.through, "coupontemplate_id", store_ids))


def coupon_packs_visible(*, store_ids: StoreIds, queryset: QuerySet[CouponPack] | None = None) -> QuerySet[CouponPack]:
    """Packs that associates of one of these stores may send (packs with no stores: every store)."""
    queryset = CouponPack.objects.all() if queryset is None else queryset
    if store_ids is None:
        return queryset
    return queryset.filter(_by_stores(CouponPack.stores.through, "couponpack_id", store_ids))


def coupon_pack_manageable(*, pack: CouponPack, store_ids: StoreIds) -> bool:
    """Whether a user with these stores may change the pack: HQ any; a manager only a pack for their stores alone."""
    if store_ids is None:
        return True
    pack_store_ids = {store.pk for store in pack.stores.all()}
    return bool(pack_store_ids) and pack_store_ids <= store_ids


def redemptions_visible(*, store_ids: StoreIds, queryset: QuerySet[Redemption] | None = None) -> QuerySet[Redemption]:
    """Redemptions made in one of these stores or credited to one of them."""
    queryset = Redemption.objects.all() if queryset is None else queryset
    if store_ids is None:
        return queryset
    return queryset.filter(Q(store_id__in=store_ids) | Q(credited_store_id__in=store_ids))


def issue_requests_with_counts(*, queryset: QuerySet[IssueRequest]) -> QuerySet[IssueRequest]:
    """Issue requests annotated with `coupon_count`, computed per row shown (not by grouping the whole ledger); a
    request's coupons are found among its customer's (Coupon.issue_request has no index of its own)."""
    counts = (
        Coupon.objects.filter(customer_id=OuterRef("customer_id"), issue_request=OuterRef("pk"))
        .order_by()
        .values("issue_request")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return queryset.annotate(coupon_count=Coalesce(Subquery(counts), 0))


@dataclasses.dataclass(frozen=True)
class CouponStory:
    coupon: Coupon
    issue_request: IssueRequest
    redemptions: list[Redemption]  # redeems and returns, oldest first


def coupon_story_get(*, coupon_id: int) -> CouponStory:
    """Who sent the coupon, from which store and when, to whom, and where it was used (and returned)."""
    coupon = Coupon.objects.select_related(
        "template", "customer", "associate", "store", "issue_request__pack", "issue_request__associate"
    ).get(pk=coupon_id)
    redemptions = list(
        coupon.redemptions.select_related("store", "credited_associate", "credited_store").order_by("created_at", "pk")
    )
    return CouponStory(coupon=coupon, issue_request=coupon.issue_request, redemptions=redemptions)


def _local(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _text(value: object) -> str:
    return "" if value is None else str(value)


REDEMPTION_EXPORT_HEADER = [
    "时间",
    "类型",
    "请求号",
    "券码",
    "批次",
    "渠道",
    "核销门店",
    "订单号",
    "订单金额",
    "优惠金额",
    "净优惠金额",
    "业绩归属导购",
    "业绩归属门店",
]


def redemptions_export_rows(*, redemptions: QuerySet[Redemption]) -> Iterator[list]:
    """The redemption ledger as spreadsheet rows, header first; a return's net discount is negative, so the
    column sums to what coupons actually took off."""
    yield REDEMPTION_EXPORT_HEADER
    rows = redemptions.select_related("coupon__template", "store", "credited_associate", "credited_store").iterator(
        chunk_size=EXPORT_CHUNK
    )
    for row in rows:
        yield [
            _local(row.created_at),
            row.get_kind_display(),
            row.request_no,
            row.coupon.code,
            row.coupon.template.name,
            row.get_channel_display(),
            _text(row.store),
            row.order_ref,
            row.amount,
            row.discount,
            row.discount if row.kind == Redemption.Kind.REDEEM else -row.discount,
            _text(row.credited_associate),
            _text(row.credited_store),
        ]


ISSUE_REQUEST_EXPORT_HEADER = [
    "发放时间",
    "请求号",
    "券包",
    "客户ID",
    "客户",
    "发送导购",
    "门店",
    "来源",
    "券数",
    "占用预算（元）",
]


def issue_requests_export_rows(*, issue_requests: QuerySet[IssueRequest]) -> Iterator[list]:
    """The send ledger as spreadsheet rows, header first."""
    yield ISSUE_REQUEST_EXPORT_HEADER
    if "coupon_count" not in issue_requests.query.annotations:
        issue_requests = issue_requests_with_counts(queryset=issue_requests)
    rows = issue_requests.select_related("pack", "customer", "associate", "store").iterator(chunk_size=EXPORT_CHUNK)
    for row in rows:
        yield [
            _local(row.created_at),
            row.request_no,
            row.pack.name,
            row.customer_id,
            _text(row.customer),
            _text(row.associate),
            _text(row.store),
            row.get_source_display(),
            row.coupon_count,
            row.cost,
        ]


def customer_golden(*, customer_id: int) -> Customer:
    """The One ID record a (possibly merged) customer id stands for today (`customers.selectors.customer_survivor`)."""
    customer = customer_survivor(customer_id=customer_id)
    if customer is None:
        raise ApplicationError("customer_not_found", "没有找到这位客户。", status_code=404)
    return customer
