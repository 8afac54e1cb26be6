"""Reads about customers: merged customers' survivors, tiers and segments. Who may see whom is the client book's
(`clientbook.selectors`)."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, CharField, Func, IntegerField, Q, Value, When
from django.utils import timezone

from customers.models import Customer, Membership
from omni import rawsql
from omni.errors import ApplicationError

# Lifetime-spend tiers (CNY) and the recency that makes a customer "lapsing".
TIERS = [(Decimal("20000"), "黑金"), (Decimal("8000"), "金卡"), (Decimal("2000"), "银卡"), (Decimal("0"), "普通")]
LAPSING_AFTER = timedelta(days=120)

# ---------------------------------------------------------------------------------------------------------------
# Merged customers. A merge points the retired record at the kept one (`merged_into`), and the kept one may be
# merged again later: a record stands for the record at the end of its chain, its survivor. Every reader that
# follows merges does so here (tests/test_merge_chain.py holds them to it).

_CUSTOMER = Customer._meta.db_table


def _merge_chain(seed: str) -> str:
    """A recursive CTE `chain(start_id, id, next_id)`: each record matching `seed` (SQL on alias `seed`) and every
    record its merges lead to. UNION, not UNION ALL, ends the walk on a cycle, which `customer_merge` cannot make
    (it merges only records not merged themselves) but the column alone would allow."""
    return (
        f"WITH RECURSIVE chain(start_id, id, next_id) AS ("
        f"SELECT seed.id, seed.id, seed.merged_into_id FROM {_CUSTOMER} seed WHERE {seed} "
        f"UNION SELECT chain.start_id, c.id, c.merged_into_id FROM chain JOIN {_CUSTOMER} c ON c.id = chain.next_id) "
    )


def customer_survivor_ids(*, customer_ids: Iterable[int] | None = None) -> dict[int, int]:
    """{id: its survivor's id} for `customer_ids` (an unmerged id maps to itself, an unknown one is left out), or,
    without them, for every merged-away record. One statement whatever the chains' length; an id on a cycle stands
    for itself."""
    if customer_ids is None:
        seed, params = "seed.merged_into_id IS NOT NULL", []
    else:
        params = sorted(set(customer_ids))
        if not params:
            return {}
        seed = f"seed.id IN ({', '.join(['%s'] * len(params))})"
    rows = rawsql.rows(
        _merge_chain(seed) + "SELECT start_id, MAX(CASE WHEN next_id IS NULL THEN id END) FROM chain GROUP BY start_id",
        params,
    )
    return {start: survivor or start for start, survivor in rows}


class CustomerSurvivorId(Func):
    """`customer_survivor_ids` as an SQL expression, for readers that stay in the database: the survivor's id of a
    customer id (a column, an OuterRef, a Value); NULL for no customer."""

    template = (
        "(" + _merge_chain("seed.id = %(expressions)s") + "SELECT COALESCE(MAX(CASE WHEN next_id IS NULL THEN id END), "
        "MAX(start_id)) FROM chain)"
    )
    output_field = IntegerField()


def customer_survivor(*, customer_id: int) -> Customer | None:
    """The record `customer_id` stands for today (`customer_survivor_ids`), or None when there is no such customer."""
    return Customer.objects.filter(pk=CustomerSurvivorId(Value(customer_id))).first()


def customer_record_ids(*, customer_id: int) -> list[int]:
    """The ids of one person's records: the survivor `customer_id` stands for, first, then every record whose
    survivor it is (by pk). Coupons and campaign receipts stay on the record they were made for, so a person's are
    those of all these records."""
    survivor_id = customer_survivor_ids(customer_ids=[customer_id]).get(customer_id)
    if survivor_id is None:
        raise ApplicationError("customer_not_found", "没有找到这位客户。", status_code=404)
    rows = rawsql.rows(
        f"WITH RECURSIVE person(id) AS (SELECT id FROM {_CUSTOMER} WHERE id = %s "
        f"UNION SELECT c.id FROM {_CUSTOMER} c JOIN person ON c.merged_into_id = person.id) "
        f"SELECT id FROM person WHERE id <> %s ORDER BY id",
        [survivor_id, survivor_id],
    )
    return [survivor_id, *(pk for (pk,) in rows)]


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


def customer_segment_case(*, orders: str, lifetime_spend: str, last_purchase_at: str, now: datetime) -> Case:
    """`customer_segment` as an SQL expression over three annotations named by the caller (the customer's counted
    orders, lifetime spend and last purchase), for readers that filter whole audiences in the database; `now` stands
    for the moment `customer_segment` reads. tests/test_customer_selectors.py holds the two to the same answers."""
    lapsing = Q(**{f"{last_purchase_at}__lt": now - LAPSING_AFTER})
    valuable = Q(**{f"{lifetime_spend}__gte": TIERS[2][0]}) | Q(**{f"{orders}__gte": 5})
    return Case(
        When(
            Q(**{f"{orders}__isnull": True}) | Q(**{orders: 0}) | Q(**{f"{last_purchase_at}__isnull": True}),
            then=Value("潜在客户"),
        ),
        When(Q(**{orders: 1}) & ~lapsing, then=Value("新客")),
        When(valuable & lapsing, then=Value("重要挽回")),
        When(valuable, then=Value("重要价值")),
        When(lapsing, then=Value("流失风险")),
        default=Value("一般维护"),
        output_field=CharField(),
    )


def membership_of(*, customer_ids: Sequence[int]) -> Membership | None:
    """The loyalty standing of one person, given their records' ids survivor first (`customer_record_ids`): the
    first record's that has one (the members API writes the record its member resolves to)."""
    found = {m.customer_id: m for m in Membership.objects.filter(customer_id__in=customer_ids)}
    return next((found[pk] for pk in customer_ids if pk in found), None)
