"""The customer 360 behind the chat sidebar, read in a few hand-written SQL statements.

This is Omni's hottest read: every chat an associate opens. Django's query compiler costs several times
what PostgreSQL takes to answer these statements, so they are written out once, here, as plain SQL that
runs on PostgreSQL and SQLite. Who may see whom stays one rule (`selectors.customer_scope`), which both
`customers_visible` (ORM) and `customer_head` below (SQL) are built from. Every statement takes the same
time however long the customer's history is: aggregates are computed by the database, pages are LIMITed.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from associates.models import Associate, Store
from clientbook.models import FollowRelation, add_way_label
from clientbook.selectors import customer_scope
from customers.categories import category_label, size_family
from customers.models import (
    Channel,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Membership,
    Order,
    OrderLine,
    Product,
    Tag,
)
from customers.phones import phone_mask
from customers.selectors import customer_segment, customer_tier
from omni import rawsql

NOTES_SHOWN = 10
FAVOURITE_CATEGORIES = 3

_CUSTOMER, _STORE, _ASSOCIATE = Customer._meta.db_table, Store._meta.db_table, Associate._meta.db_table
_FOLLOW, _IDENTITY, _TAG = FollowRelation._meta.db_table, Identity._meta.db_table, Tag._meta.db_table
_CUSTOMER_TAG, _NOTE = CustomerTag._meta.db_table, CustomerNote._meta.db_table
_ORDER, _LINE, _PRODUCT = Order._meta.db_table, OrderLine._meta.db_table, Product._meta.db_table
# Returned and cancelled orders are reversed whole; partial returns are negative lines.
_REVERSED = f"('{Order.Status.CANCELLED}', '{Order.Status.RETURNED}')"
_CHANNEL_LABELS = dict(Channel.choices)
_STATUS_LABELS, _FULFILMENT_LABELS = dict(Order.Status.choices), dict(Order.Fulfilment.choices)
_CONTACT_TYPE_LABELS = dict(FollowRelation.ContactType.choices)
_MEMBERSHIP = Membership._meta.db_table


@dataclass(frozen=True)
class Friendship:
    """The signed-in associate's WeCom friendship with the customer."""

    remark: str
    followed_at: datetime | None
    add_way: str
    contact_type: str


@dataclass(frozen=True)
class CustomerHead:
    pk: int
    name: str
    gender: str
    birthday: date | None
    phone: str
    avatar_url: str
    opted_out: bool
    created_at: datetime
    primary_store: str
    primary_associate: str
    friendship: Friendship | None
    # The loyalty system's standing (`with_membership`); None: none kept, or not asked for.
    membership: Membership | None = None

    @property
    def phone_masked(self) -> str:
        return phone_mask(self.phone)


@dataclass(frozen=True)
class Figures:
    lifetime_spend: Decimal
    orders: int
    returns: int
    average_order_value: Decimal
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    favourite_categories: list[str]
    usual_sizes: list[tuple[str, str]]  # (family, size), e.g. ("服装", "M"), ("鞋", "37")
    tier: str
    segment: str


def customer_head(
    *, viewer, customer_id: int, with_friendship: bool = False, with_membership: bool = False
) -> CustomerHead | None:
    """The customer's own fields, primary store and associate, if `viewer` may see them (else None).

    `with_friendship` also reads the viewer's (an associate's) current WeCom friendship with them; after a
    merge one person can be two WeCom contacts of the same associate, and the newest is taken.
    `with_membership` also reads their level and points (customers.Membership), in the same statement.
    """
    scope = customer_scope(viewer=viewer)
    where, params = ["c.id = %s", "c.merged_into_id IS NULL"], [customer_id]
    if not scope.everyone:
        seen = ["FALSE"]
        if scope.store_ids:
            seen.append(f"c.primary_store_id IN ({', '.join(['%s'] * len(scope.store_ids))})")
            params.extend(sorted(scope.store_ids))
        if scope.follower_id is not None:
            # EXISTS probes this customer's follows by index; `c.id IN (SELECT …)` under an OR is a hashed subplan
            # that reads every follow of the associate, 170k of them each at 5M customers (bench sidebar).
            seen.append(
                f"EXISTS (SELECT 1 FROM {_FOLLOW} sf WHERE sf.customer_id = c.id AND sf.associate_id = %s"
                " AND sf.ended_at IS NULL)"
            )
            params.append(scope.follower_id)
        where.append(f"({' OR '.join(seen)})")
    follow_join, follow_columns = "", "NULL, NULL, NULL, NULL, NULL"
    if with_friendship and isinstance(viewer, Associate):
        follow_join = f"LEFT JOIN {_FOLLOW} f ON f.customer_id = c.id AND f.associate_id = %s AND f.ended_at IS NULL"
        follow_columns = "f.id, f.remark, f.followed_at, f.add_way, f.contact_type"
        params.insert(0, viewer.pk)
    member_join, member_columns = "", "NULL, NULL, NULL, NULL, NULL"
    if with_membership:
        member_join = f"LEFT JOIN {_MEMBERSHIP} m ON m.customer_id = c.id"
        member_columns = "m.customer_id, m.level, m.points, m.points_expiring, m.points_expire_on"
    rows = rawsql.rows(
        f"""
        SELECT c.id, c.name, c.gender, c.birthday, c.phone, c.avatar_url, c.opted_out, c.created_at,
               s.name, a.name, {follow_columns}, {member_columns}
        FROM {_CUSTOMER} c
        LEFT JOIN {_STORE} s ON s.id = c.primary_store_id
        LEFT JOIN {_ASSOCIATE} a ON a.id = c.primary_associate_id
        {follow_join}
        {member_join}
        WHERE {" AND ".join(where)}
        ORDER BY 13 DESC NULLS LAST
        LIMIT 1
        """,
        params,
    )
    if not rows:
        return None
    (pk, name, gender, birthday, phone, avatar, opted_out, created, store, associate, follow_id, *rest) = rows[0]
    follow, (member_id, level, points, points_expiring, points_expire_on) = rest[:4], rest[4:]
    friendship = None
    if follow_id is not None:
        remark, followed_at, add_way, contact_type = follow
        friendship = Friendship(
            remark=remark,
            followed_at=rawsql.moment(followed_at),
            add_way=add_way_label(add_way),
            contact_type=_CONTACT_TYPE_LABELS.get(contact_type, ""),
        )
    return CustomerHead(
        pk=pk,
        name=name,
        gender=gender,
        birthday=birthday,
        phone=phone,
        avatar_url=avatar,
        opted_out=bool(opted_out),
        created_at=rawsql.moment(created),
        primary_store=store or "",
        primary_associate=associate or "",
        friendship=friendship,
        membership=None
        if member_id is None
        else Membership(
            customer_id=member_id,
            level=level,
            points=points,
            points_expiring=points_expiring,
            points_expire_on=points_expire_on,
        ),
    )


def customer_figures(*, customer_id: int) -> Figures:
    """Spend, counts, favourite categories and usual sizes across every channel, in one statement: the
    order totals (the row without a category), then what they kept per (category, size) — a few dozen
    rows at most, read into favourites and sizes."""
    kept = f"status NOT IN {_REVERSED}"
    rows = rawsql.rows(
        f"""
        SELECT NULL, NULL,
               COALESCE(SUM(CASE WHEN {kept} THEN total_amount END), 0),
               COUNT(CASE WHEN {kept} AND total_amount > 0 THEN 1 END),
               COUNT(CASE WHEN status = %s OR total_amount < 0 THEN 1 END),
               MIN(placed_at),
               MAX(CASE WHEN {kept} AND total_amount > 0 THEN placed_at END)
        FROM {_ORDER} WHERE customer_id = %s
        UNION ALL
        SELECT p.category, p.size, SUM(l.quantity * l.unit_price - l.discount), SUM(l.quantity), NULL, NULL, NULL
        FROM {_LINE} l
        JOIN {_ORDER} o ON o.id = l.order_id
        JOIN {_PRODUCT} p ON p.id = l.product_id
        WHERE o.customer_id = %s AND o.{kept} AND l.quantity > 0 AND p.category <> ''
        GROUP BY p.category, p.size
        """,
        [Order.Status.RETURNED, customer_id, customer_id],
    )
    ((_, _, spend, orders, returns, first, last),) = [row for row in rows if row[0] is None]
    bought = [row[:4] for row in rows if row[0] is not None]
    spend_by_category: dict[str, Decimal] = {}
    units_by_size: dict[tuple[str, str], int] = {}
    for category, size, amount, units in bought:
        spend_by_category[category] = spend_by_category.get(category, Decimal("0")) + rawsql.money(amount)
        if size:
            key = (size_family(category), size)
            units_by_size[key] = units_by_size.get(key, 0) + int(units)
    favourites = sorted(spend_by_category, key=lambda code: (-spend_by_category[code], code))[:FAVOURITE_CATEGORIES]
    usual: dict[str, str] = {}
    for family, size in sorted(units_by_size, key=lambda key: (-units_by_size[key], key)):
        usual.setdefault(family, size)
    spend, last = rawsql.money(spend), rawsql.moment(last)
    return Figures(
        lifetime_spend=spend,
        orders=orders,
        returns=returns,
        average_order_value=(spend / orders).quantize(rawsql.CENT) if orders else Decimal("0.00"),
        first_purchase_at=rawsql.moment(first),
        last_purchase_at=last,
        favourite_categories=[category_label(code) for code in favourites],
        usual_sizes=sorted(usual.items()),
        tier=customer_tier(lifetime_spend=spend),
        segment=customer_segment(orders=orders, lifetime_spend=spend, last_purchase_at=last),
    )


@dataclass(frozen=True)
class CustomerLists:
    identities: list[Identity]  # unsaved instances: they carry the masking rules
    tags: list[str]
    notes: list[dict]  # the newest, with their authors


def customer_lists(*, customer_id: int) -> CustomerLists:
    """The customer's identities by kind, tags, and newest notes, in one statement (the notes first: their
    timestamps give the column its type on PostgreSQL)."""
    rows = rawsql.rows(
        f"""
        SELECT * FROM (
            SELECT 'note', n.text, a.name, n.created_at, n.id
            FROM {_NOTE} n LEFT JOIN {_ASSOCIATE} a ON a.id = n.author_id
            WHERE n.customer_id = %s ORDER BY n.created_at DESC, n.id DESC LIMIT {NOTES_SHOWN}
        ) newest
        UNION ALL
        SELECT 'identity', kind, value, NULL, id FROM {_IDENTITY} WHERE customer_id = %s
        UNION ALL
        SELECT 'tag', t."group", t.name, NULL, ct.id
        FROM {_CUSTOMER_TAG} ct JOIN {_TAG} t ON t.id = ct.tag_id WHERE ct.customer_id = %s
        """,
        [customer_id, customer_id, customer_id],
    )
    parts: dict[str, list] = {"identity": [], "tag": [], "note": []}
    for part, first, second, at, pk in rows:
        parts[part].append((first, second, rawsql.moment(at), pk))
    return CustomerLists(
        identities=[
            Identity(kind=kind, value=value)
            for kind, value, _, _ in sorted(parts["identity"], key=lambda identity: (identity[0], identity[3]))
        ],
        tags=[f"{group}/{name}" if group else name for group, name, _, _ in sorted(parts["tag"], key=lambda t: t[3])],
        notes=[
            {"text": text, "author": author or "", "at": at}
            for text, author, at, _ in sorted(parts["note"], key=lambda note: (note[2], note[3]), reverse=True)
        ],
    )


def customer_orders_page(*, customer_id: int, offset: int = 0, limit: int = 10) -> list[dict]:
    """Newest first, every channel, each order with its store, lines and products (one query)."""
    rows = rawsql.rows(
        f"""
        WITH page AS (
            SELECT o.id, o.external_id, o.channel, s.name AS store, o.placed_at, o.status, o.fulfilment,
                   o.total_amount
            FROM {_ORDER} o LEFT JOIN {_STORE} s ON s.id = o.store_id
            WHERE o.customer_id = %s
            ORDER BY o.placed_at DESC, o.id DESC
            LIMIT %s OFFSET %s
        )
        SELECT page.id, page.external_id, page.channel, page.store, page.placed_at, page.status,
               page.fulfilment, page.total_amount,
               p.sku, p.name, p.category, l.quantity, l.unit_price, l.discount
        FROM page
        LEFT JOIN {_LINE} l ON l.order_id = page.id
        LEFT JOIN {_PRODUCT} p ON p.id = l.product_id
        ORDER BY page.placed_at DESC, page.id DESC, l.line_no
        """,
        [customer_id, limit, offset],
    )
    orders: dict[int, dict] = {}
    for pk, external_id, channel, store, placed_at, status, fulfilment, total, *line in rows:
        order = orders.get(pk)
        if order is None:
            order = orders[pk] = {
                "external_id": external_id,
                "channel": channel,
                "channel_label": _CHANNEL_LABELS.get(channel, channel),
                "store": store or "",
                "placed_at": rawsql.moment(placed_at),
                "status": status,
                "status_label": _STATUS_LABELS.get(status, status),
                "fulfilment": fulfilment,
                "fulfilment_label": _FULFILMENT_LABELS.get(fulfilment, fulfilment),
                "total_amount": rawsql.money(total),
                "lines": [],
            }
        sku, name, category, quantity, unit_price, discount = line
        if sku is not None:
            order["lines"].append(
                {
                    "sku": sku,
                    "name": name,
                    "category": category,
                    "quantity": quantity,
                    "unit_price": rawsql.money(unit_price),
                    "discount": rawsql.money(discount),
                }
            )
    return list(orders.values())
