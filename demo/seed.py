"""Seeding the demo brand 栖木 QIMU: a deterministic, realistic data set for demos, manual testing and benchmarks.

`demo_seed` writes six stores with their associates, the logins a demo needs, a fashion and skincare catalog
with stock, and customers with identities in every channel, tags, notes and about 18 months of orders whose
baskets follow `COMPLEMENTS` (a dress sells with a belt or a scarf) and whose skincare buyers replenish their
routine every 60-90 days; customers with a WeCom id are their associate's contacts, and the last COUPON_DAYS days
of coupon sends and redemptions go through the coupon service (coupon codes stay random: they are secrets).
This module runs the seed; the modules of `demo` beside it hold each part (brand, accounts, catalog, people,
history, profiles, contacts, coupons).

Every random draw comes from numpy generators with fixed seeds ((DEMO_SEED, 0) for stores and catalog,
(DEMO_SEED, 0, 1) for online stock, (DEMO_SEED, k + 1) for customer chunk k), every time is an offset from
the reference day's midnight in Asia/Shanghai (`today`, the seeding day unless given), and rows are written in
array order: the same day, customer count and chunk size on an empty database give the same rows, on SQLite and
PostgreSQL alike. History ends at the reference: the demo shows live figures whenever it is seeded, and nothing
lies in the future. Customers are generated and written a chunk at a time with
`omni.bulk`, so memory stays flat however many are asked for.

A return is the whole order with status "returned" and its lines as sold, so spend and basket figures
exclude returned and cancelled orders by status; no line is ever negative here.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.models import FollowRelation
from customers.models import (
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Order,
    OrderLine,
    Product,
    StoreStock,
    Tag,
)
from demo.accounts import logins_create
from demo.arrays import DAY, cumulative, db_datetimes, money, nullable
from demo.brand import (
    DEMO_SEED,
    DEMO_STORES,
    DEMO_TZ,
    HISTORY_DAYS,
    HQ_USERNAME,
    demo_department_id,
    demo_reference,
)
from demo.campaigns import campaigns_demo_seed
from demo.catalog import SKU_PREFIX, STYLES, catalog_build, complement_rules_write, online_stock, stock_write
from demo.communities import communities_demo_seed
from demo.contacts import follows_write
from demo.coupons import coupon_packs_write, coupons_write
from demo.history import (
    CHANNELS,
    FULFILMENTS,
    ONLINE_ORDER_PREFIXES,
    RETURNED,
    STATUSES,
    STORE_POS,
    lines_draw,
    orders_draw,
)
from demo.library import library_demo_seed
from demo.people import GENDERS, people_draw, phones
from demo.profiles import TAGS, identities_write, notes_write, tags_write
from demo.world import DemoSummary, World
from omni.bulk import bulk_copy, is_postgres, next_ids
from omni.errors import ApplicationError

CUSTOMERS_PER_SCALE = 2_000
CHUNK_SIZE = 50_000
# The identity and phone bijections (demo.people.phones, demo.profiles) stay unique up to this many customers.
MAX_CUSTOMERS = 100_000_000
MAX_ACTIVITY = 10.0


def demo_data_present() -> list[str]:
    """What of the demo brand the database already holds; empty when seeding can start."""
    found = []
    codes = list(Store.objects.filter(code__in=[s.code for s in DEMO_STORES]).values_list("code", flat=True))
    if codes:
        found.append(f"门店 {'、'.join(codes)}")
    usernames = [HQ_USERNAME, *(s.manager_username for s in DEMO_STORES)]
    users = list(get_user_model().objects.filter(username__in=usernames).values_list("username", flat=True))
    if users:
        found.append(f"账号 {'、'.join(sorted(users))}")
    userids = [userid for s in DEMO_STORES for _, userid in s.staff]
    associates = Associate.objects.filter(wecom_userid__in=userids).count()
    if associates:
        found.append(f"导购 {associates} 位")
    products = Product.objects.filter(sku__startswith=SKU_PREFIX).count()
    if products:
        found.append(f"商品 {products} 个")
    return found


def demo_seed(
    *,
    customers: int,
    activity: float = 1.0,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
) -> DemoSummary:
    """Write the demo brand with `customers` customers in one transaction; refuse if any of it exists.

    The history ends where `today` (by default the current day in Asia/Shanghai) begins, so the dashboard's last
    30 days, journeys and coupon expiries are live on the day of seeding; the same day gives the same data.

    `activity` scales how often customers buy: 1 gives the brand's usual mix (about 4 orders each),
    2.5 about 10 (the sidebar benchmark's data set). `progress(done, total)` is called after each chunk
    of customers is written.
    """
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ApplicationError("demo_size_invalid", f"客户数须在 1 到 {MAX_CUSTOMERS} 之间。")
    if not 0.1 <= activity <= MAX_ACTIVITY:
        raise ApplicationError("demo_activity_invalid", f"购买频次倍数须在 0.1 到 {MAX_ACTIVITY} 之间。")
    summary = DemoSummary()
    with transaction.atomic():
        present = demo_data_present()
        if present:
            raise ApplicationError(
                "demo_exists",
                f"数据库中已有演示数据（{'；'.join(present)}），未写入任何数据。"
                "如需重建，请先清空数据库（python manage.py flush）再运行。",
            )
        world = _world_create(summary=summary, reference=demo_reference(today or timezone.localdate(timezone=DEMO_TZ)))
        orders_written = 0
        with _foreign_keys_suspended(Customer, Identity, Order, OrderLine, CustomerTag, CustomerNote, FollowRelation):
            for chunk_no, first in enumerate(range(0, customers, chunk_size)):
                count = min(chunk_size, customers - first)
                orders_written += _chunk_write(
                    rng=np.random.default_rng([DEMO_SEED, chunk_no + 1]),
                    world=world,
                    first_index=first,
                    count=count,
                    first_order_no=orders_written + 1,
                    activity=activity,
                    summary=summary,
                )
                if progress:
                    progress(first + count, customers)
        coupons_write(world=world, summary=summary)
        if is_postgres():
            # Freshly loaded tables have no statistics until autovacuum gets to them, and the first pages
            # would be planned as if they were empty.
            with connection.cursor() as cursor:
                for model in (
                    Customer,
                    Identity,
                    Order,
                    OrderLine,
                    CustomerTag,
                    CustomerNote,
                    StoreStock,
                    FollowRelation,
                ):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return summary


@contextmanager
def _foreign_keys_suspended(*models: type[Model]) -> Iterator[None]:
    """On PostgreSQL, drop the foreign keys of `models` while they are loaded and add them back after.

    A foreign key checks each inserted row with its own query, which was half the time of a large seed; adding
    it back checks all rows in one join, as PostgreSQL's "Populating a Database" advises. The keys come back
    with their exact definitions and names, inside the caller's transaction, so a failure leaves them as they
    were. The tables stay locked for everyone else until the transaction ends.
    """
    if not is_postgres():
        yield
        return
    # PostgreSQL will not alter a table whose deferred checks are pending (the associates just written).
    connection.check_constraints()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [[model._meta.db_table for model in models]],
        )
        keys = cursor.fetchall()
        for table, name, _ in keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")


_DISCOUNT_PERCENT = np.array([0, 10, 20])
_MAX_QUANTITY = 3


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _world_create(*, summary: DemoSummary, reference: datetime) -> World:
    rng = np.random.default_rng([DEMO_SEED, 0])
    managers = logins_create(summary=summary, reference=reference)
    reference_epoch = _epoch(reference)
    window_start_epoch = _epoch(reference - timedelta(days=HISTORY_DAYS))

    store_ids = np.asarray(next_ids(Store, len(DEMO_STORES)), dtype=np.int64)
    opened = np.array([_epoch(datetime.fromisoformat(s.opened).replace(hour=10, tzinfo=DEMO_TZ)) for s in DEMO_STORES])
    summary.add(
        "门店",
        bulk_copy(
            Store,
            (
                "id",
                "code",
                "name",
                "city",
                "address",
                "opening_hours",
                "is_active",
                "wecom_department_id",
                "created_at",
            ),
            zip(
                store_ids.tolist(),
                [s.code for s in DEMO_STORES],
                [s.name for s in DEMO_STORES],
                [s.city for s in DEMO_STORES],
                [s.address for s in DEMO_STORES],
                [s.opening_hours for s in DEMO_STORES],
                [True] * len(DEMO_STORES),
                [demo_department_id(i) for i in range(len(DEMO_STORES))],
                db_datetimes(opened),
                strict=True,
            ),
        ),
    )
    through = Store.managers.through
    through.objects.bulk_create(
        through(store_id=store_id, user_id=managers[s.code].pk)
        for store_id, s in zip(store_ids.tolist(), DEMO_STORES, strict=True)
    )

    staff = [(i, k, name, userid) for i, s in enumerate(DEMO_STORES) for k, (name, userid) in enumerate(s.staff)]
    associate_ids = np.asarray(next_ids(Associate, len(staff)), dtype=np.int64)
    associate_store = np.array([i for i, _, _, _ in staff])
    hired = opened[associate_store] + (
        rng.random(len(staff)) * (reference_epoch - 30 * DAY - opened[associate_store])
    ).astype(np.int64)
    summary.add(
        "导购",
        bulk_copy(
            Associate,
            ("id", "wecom_userid", "name", "store_id", "role", "user_id", "is_active", "created_at"),
            zip(
                associate_ids.tolist(),
                [userid for _, _, _, userid in staff],
                [name for _, _, name, _ in staff],
                store_ids[associate_store].tolist(),
                [Associate.Role.STORE_MANAGER if k == 0 else Associate.Role.ASSOCIATE for _, k, _, _ in staff],
                [managers[DEMO_STORES[i].code].pk if k == 0 else None for i, k, _, _ in staff],
                [True] * len(staff),
                db_datetimes(hired),
                strict=True,
            ),
        ),
    )
    max_staff = max(len(s.staff) for s in DEMO_STORES)
    store_staff = np.full((len(DEMO_STORES), max_staff), -1, dtype=np.int64)
    for index, (i, k, _, _) in enumerate(staff):
        store_staff[i, k] = index
    # A store manager looks after half as many customers as an associate.
    staff_cum = np.array(
        [cumulative(0.5, *[1.0] * (len(s.staff) - 1), *[0.0] * (max_staff - len(s.staff))) for s in DEMO_STORES]
    )

    catalog = catalog_build()
    product_ids = np.asarray(next_ids(Product, len(catalog.items)), dtype=np.int64)
    style_of = {style.code: s for s, style in enumerate(STYLES)}
    launched = window_start_epoch - rng.integers(30, 400, len(STYLES)) * DAY
    product_created = launched[[style_of[item.style] for item in catalog.items]]
    summary.add(
        "商品",
        bulk_copy(
            Product,
            (
                "id",
                "sku",
                "name",
                "category",
                "size",
                "colour",
                "style_code",
                "price",
                "image_url",
                "is_active",
                "online_stock",
                "created_at",
            ),
            zip(
                product_ids.tolist(),
                [item.sku for item in catalog.items],
                [item.name for item in catalog.items],
                [item.category for item in catalog.items],
                [item.size for item in catalog.items],
                [item.colour for item in catalog.items],
                [item.style for item in catalog.items],
                [item.price for item in catalog.items],
                [""] * len(catalog.items),
                [True] * len(catalog.items),
                online_stock(catalog),
                db_datetimes(product_created),
                strict=True,
            ),
        ),
    )
    summary.add(
        "门店库存",
        stock_write(
            rng=rng, catalog=catalog, store_ids=store_ids, product_ids=product_ids, reference_epoch=reference_epoch
        ),
    )
    summary.add("搭配规则", complement_rules_write())
    pack_ids = coupon_packs_write()
    summary.add("券包", len(pack_ids))
    summary.add("社群", communities_demo_seed())
    summary.add("话术与素材", library_demo_seed(store=Store.objects.get(pk=int(store_ids[0]))))
    # Drafts to go out at 10:00 the day after the reference.
    drafts = campaigns_demo_seed(creator=managers[DEMO_STORES[0].code], send_at=reference + timedelta(days=1, hours=10))
    summary.add("群发活动（草稿）", drafts["campaigns"])

    tag_ids = {(group, name): Tag.objects.get_or_create(group=group, name=name)[0].pk for group, name in TAGS}
    summary.add("标签", len(tag_ids))

    discount_fen = (catalog.price_fen[:, None] * _DISCOUNT_PERCENT[None, :] + 5_000) // 10_000 * 100
    quantities = np.arange(1, _MAX_QUANTITY + 1)
    discounts = np.array(
        [money(v) for v in (discount_fen[:, :, None] * quantities).ravel().tolist()], dtype=object
    ).reshape(*discount_fen.shape, _MAX_QUANTITY)
    return World(
        catalog=catalog,
        product_ids=product_ids,
        prices=np.array([item.price for item in catalog.items], dtype=object),
        discount_fen=discount_fen,
        discounts=discounts,
        store_ids=store_ids,
        store_codes=np.array([s.code for s in DEMO_STORES]),
        store_cum=cumulative(*(s.member_share for s in DEMO_STORES)),
        associate_ids=associate_ids,
        store_staff=store_staff,
        staff_cum=staff_cum,
        tag_ids=tag_ids,
        pack_ids=pack_ids,
        reference=reference,
        reference_epoch=reference_epoch,
        window_start_epoch=window_start_epoch,
        day_strings=np.array(
            [(reference.date() - timedelta(days=HISTORY_DAYS - day)).strftime("%Y%m%d") for day in range(HISTORY_DAYS)]
        ),
    )


def _chunk_write(
    *,
    rng: np.random.Generator,
    world: World,
    first_index: int,
    count: int,
    first_order_no: int,
    activity: float,
    summary: DemoSummary,
) -> int:
    """Draw and write `count` customers with everything that hangs off them; returns how many orders."""
    # Each part draws from its own stream, so changing how one is drawn leaves the others as they were.
    people_rng, orders_rng, lines_rng, identities_rng, tags_rng, notes_rng, follows_rng = rng.spawn(7)
    people = people_draw(rng=people_rng, world=world, first_index=first_index, count=count)
    orders = orders_draw(rng=orders_rng, world=world, people=people, activity=activity)
    lines = lines_draw(rng=lines_rng, world=world, people=people, orders=orders)

    customer_ids = np.asarray(next_ids(Customer, count), dtype=np.int64)
    joined = db_datetimes(people.joined_at)
    summary.add(
        "客户",
        bulk_copy(
            Customer,
            (
                "id", "name", "gender", "birthday", "phone", "primary_store_id", "primary_associate_id",
                "marketing_consent", "opted_out", "merged_into_id", "created_at", "updated_at",
            ),
            zip(
                customer_ids.tolist(),
                people.name,
                GENDERS[people.gender].tolist(),
                people.birthday.tolist(),
                phones(people.index),
                world.store_ids[people.store].tolist(),
                nullable(world.associate_ids, people.associate),
                people.consent.tolist(),
                people.opted_out.tolist(),
                [None] * count,
                joined,
                joined,
                strict=True,
            ),
        ),
    )  # fmt: skip
    wecom_holders, external_userids = identities_write(
        rng=identities_rng, people=people, orders=orders, customer_ids=customer_ids, joined=joined, summary=summary
    )
    follows_write(
        rng=follows_rng,
        world=world,
        people=people,
        customer_ids=customer_ids,
        holders=wecom_holders,
        external_userids=external_userids,
        summary=summary,
    )

    m = len(orders.customer)
    order_ids = np.asarray(next_ids(Order, m), dtype=np.int64)
    prefixes = np.where(
        orders.channel == STORE_POS,
        world.store_codes[np.maximum(orders.store, 0)],
        ONLINE_ORDER_PREFIXES[orders.channel],
    )
    external_ids = [
        f"{prefix}{day}{number:09d}"
        for prefix, day, number in zip(
            prefixes.tolist(),
            world.day_strings[orders.day].tolist(),
            range(first_order_no, first_order_no + m),
            strict=True,
        )
    ]
    placed = db_datetimes(orders.placed_at)
    updated = list(placed)
    returned = np.flatnonzero(orders.status == RETURNED)
    # A return is recorded a few days after the sale.
    returned_at = np.minimum(
        orders.placed_at[returned] + orders_rng.integers(2, 15, len(returned)) * DAY, world.reference_epoch - 1
    )
    for position, moment in zip(returned.tolist(), db_datetimes(returned_at), strict=True):
        updated[position] = moment
    summary.add(
        "订单",
        bulk_copy(
            Order,
            (
                "id", "channel", "external_id", "store_id", "customer_id", "associate_id", "placed_at", "status",
                "fulfilment", "currency", "total_amount", "created_at", "updated_at",
            ),
            zip(
                order_ids.tolist(),
                CHANNELS[orders.channel].tolist(),
                external_ids,
                nullable(world.store_ids, orders.store),
                customer_ids[orders.customer].tolist(),
                nullable(world.associate_ids, orders.associate),
                placed,
                STATUSES[orders.status].tolist(),
                FULFILMENTS[orders.fulfilment].tolist(),
                ["CNY"] * m,
                [money(fen) for fen in lines.order_total_fen.tolist()],
                placed,
                updated,
                strict=True,
            ),
        ),
    )  # fmt: skip
    summary.add("退货订单", len(returned))

    level = orders.discount_level[lines.order]
    summary.add(
        "订单行",
        bulk_copy(
            OrderLine,
            ("id", "order_id", "line_no", "product_id", "quantity", "unit_price", "discount"),
            zip(
                next_ids(OrderLine, len(lines.order)),
                order_ids[lines.order].tolist(),
                lines.line_no.tolist(),
                world.product_ids[lines.product].tolist(),
                lines.quantity.tolist(),
                world.prices[lines.product].tolist(),
                world.discounts[lines.product, level, lines.quantity - 1].tolist(),
                strict=True,
            ),
        ),
    )
    tags_write(
        rng=tags_rng, world=world, people=people, orders=orders, lines=lines, customer_ids=customer_ids, summary=summary
    )
    notes_write(rng=notes_rng, world=world, people=people, customer_ids=customer_ids, summary=summary)
    return m
