"""What the demo's customers bought, drawn as arrays for a chunk of them: their orders over the HISTORY_DAYS
(`orders_draw`: clothing visits, skincare refills every 60-90 days, channel, store and associate, returns and
cancellations), the baskets (`lines_draw`: an anchor garment with its COMPLEMENTS, or the routine's refills), and
the codes the order rows are written with."""

from dataclasses import dataclass

import numpy as np

from customers.models import Channel, Order
from demo.arrays import DAY, cumulative, pick
from demo.brand import HISTORY_DAYS
from demo.catalog import CATEGORIES, CATEGORY_INDEX, COMPLEMENTS, SKINCARE_CATEGORIES, SKINCARE_ROUTINE
from demo.people import People
from demo.world import World

CHANNELS = np.array([Channel.STORE_POS, Channel.MINI_PROGRAM, Channel.ONLINE_MALL, Channel.MARKETPLACE])
STORE_POS, MINI_PROGRAM = 0, 1
FULFILMENTS = np.array([Order.Fulfilment.IN_STORE, Order.Fulfilment.DELIVERY, Order.Fulfilment.STORE_PICKUP])
STATUSES = np.array([Order.Status.COMPLETED, Order.Status.PAID, Order.Status.CANCELLED, Order.Status.RETURNED])
COMPLETED, PAID, CANCELLED, RETURNED = range(4)
ONLINE_ORDER_PREFIXES = np.array(["", "MP", "QM", "TM"])
# Marketplace buyers return the most, store buyers (who tried it on) the least: about 4% overall.
_RETURN_RATE = np.array([0.025, 0.045, 0.06, 0.08])
_CANCEL_RATE = np.array([0.0, 0.015, 0.015, 0.02])

_SKINCARE_STEPS = np.array([CATEGORY_INDEX[c] for c in SKINCARE_CATEGORIES])

# The garment a clothing basket is built around, by wardrobe.
_ANCHOR_WEIGHTS = (
    {"dress": 26, "skirt": 10, "shirt": 12, "knitwear": 14, "coat": 10, "trousers": 8, "bag": 10, "shoes": 10},
    {"suit": 22, "shirt": 28, "knitwear": 14, "coat": 12, "trousers": 12, "shoes": 12},
)
_ANCHOR_CUM = np.array([cumulative(*(weights.get(c, 0) for c in CATEGORIES)) for weights in _ANCHOR_WEIGHTS])
# (skincare order?, channel profile) → store_pos, mini_program, online_mall, marketplace.
_CHANNEL_CUM = np.array(
    [
        [cumulative(0.80, 0.12, 0.05, 0.03), cumulative(0.50, 0.28, 0.12, 0.10), cumulative(0.10, 0.35, 0.30, 0.25)],
        [cumulative(0.55, 0.30, 0.08, 0.07), cumulative(0.30, 0.40, 0.15, 0.15), cumulative(0.05, 0.35, 0.30, 0.30)],
    ]
)
_DISCOUNT_CUM = np.array(
    [
        cumulative(0.72, 0.20, 0.08),
        cumulative(0.60, 0.30, 0.10),
        cumulative(0.60, 0.30, 0.10),
        cumulative(0.40, 0.40, 0.20),
    ]
)
_COMPLEMENT_TABLE = np.full((len(CATEGORIES), 4), -1, dtype=np.int64)
for _anchor, _addons in COMPLEMENTS.items():
    _COMPLEMENT_TABLE[CATEGORY_INDEX[_anchor], : len(_addons)] = [CATEGORY_INDEX[c] for c in _addons]
# Chances of one, two or three units on a line: socks and masks come in multiples.
_UNITS = {"socks": (0.60, 0.30, 0.10), "mask": (0.70, 0.30, 0.0), **{c: (0.92, 0.08, 0.0) for c in SKINCARE_ROUTINE}}
_UNITS_CUM = np.array([cumulative(*_UNITS.get(c, (1.0, 0.0, 0.0))) for c in CATEGORIES])


@dataclass(frozen=True)
class Orders:
    customer: np.ndarray  # index into the chunk's people
    day: np.ndarray
    placed_at: np.ndarray
    skincare: np.ndarray
    opening: np.ndarray  # a skincare buyer's first order: the whole regimen
    channel: np.ndarray
    store: np.ndarray  # -1 for none
    associate: np.ndarray  # -1 for none
    fulfilment: np.ndarray
    status: np.ndarray
    discount_level: np.ndarray


@dataclass(frozen=True)
class Lines:
    order: np.ndarray  # index into the chunk's orders, ascending
    line_no: np.ndarray
    category: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    order_total_fen: np.ndarray  # per order


def orders_draw(*, rng: np.random.Generator, world: World, people: People, activity: float) -> Orders:
    n = len(people.index)
    span = people.end_day - people.start_day
    # Clothing: a long tail of visits, fewer for recent members, and a few big spenders.
    visits = (1 + rng.negative_binomial(1.5, 0.42, n)) * (0.4 + 0.6 * span / HISTORY_DAYS) * activity
    visits *= np.where(rng.random(n) < 0.03, 3, 1)
    fashion_count = np.where(people.fashion, np.clip(np.rint(visits), 1, 60 * activity), 0).astype(np.int64)
    fashion_customer = np.repeat(np.arange(n), fashion_count)
    fashion_day = people.start_day[fashion_customer] + (
        rng.random(len(fashion_customer)) * span[fashion_customer]
    ).astype(np.int64)

    # Skincare: the routine runs out every 60-90 days; some refills are bought elsewhere.
    cadence = np.maximum(rng.integers(60, 91, n) / activity, 14).astype(np.int64)
    first = (rng.random(n) * np.minimum(cadence, span)).astype(np.int64)
    refills = np.where(people.beauty, (span - 1 - first) // cadence + 1, 0)
    skin_customer = np.repeat(np.arange(n), refills)
    step = np.arange(len(skin_customer)) - np.repeat(np.cumsum(refills) - refills, refills)
    skin_day = (
        people.start_day[skin_customer]
        + first[skin_customer]
        + step * cadence[skin_customer]
        + rng.integers(-6, 7, len(skin_customer))
    )
    skin_day = np.clip(skin_day, people.start_day[skin_customer], people.end_day[skin_customer] - 1)
    keep = (step == 0) | (rng.random(len(step)) < np.where(people.fashion, 0.6, 0.8)[skin_customer])

    customer = np.concatenate([fashion_customer, skin_customer[keep]])
    day = np.concatenate([fashion_day, skin_day[keep]])
    skincare = np.concatenate([np.zeros(len(fashion_customer), bool), np.ones(int(keep.sum()), bool)])
    opening = np.concatenate([np.zeros(len(fashion_customer), bool), (step == 0)[keep]])
    by_time = np.lexsort((day, customer))
    customer, day, skincare, opening = customer[by_time], day[by_time], skincare[by_time], opening[by_time]
    m = len(customer)

    channel = pick(rng, _CHANNEL_CUM[skincare.astype(np.int64), people.profile[customer]])
    in_store = channel == STORE_POS
    home = people.store[customer]
    own = people.associate[customer]
    travelling = rng.random(m) < 0.1
    store = np.where(in_store, np.where(travelling, pick(rng, world.store_cum, m), home), -1)
    mini_program = channel == MINI_PROGRAM
    pickup = mini_program & (rng.random(m) < 0.35)
    # A mini-program delivery bought from a product card the associate sent is credited to them and the store.
    shared = mini_program & ~pickup & (own >= 0) & (rng.random(m) < 0.45)
    store = np.where(pickup | shared, home, store)
    serving = world.store_staff[np.maximum(store, 0), pick(rng, world.staff_cum[np.maximum(store, 0)])]
    served_by_own = (store == home) & (own >= 0) & (rng.random(m) < 0.75)
    associate = np.where(in_store, np.where(served_by_own, own, serving), -1)
    associate = np.where(shared | (pickup & (own >= 0) & (rng.random(m) < 0.5)), own, associate)

    draw = rng.random(m)
    returned = draw < _RETURN_RATE[channel]
    cancelled = ~returned & (draw < _RETURN_RATE[channel] + _CANCEL_RATE[channel])
    in_transit = ~in_store & (day >= HISTORY_DAYS - 2)
    status = np.select([returned, cancelled, in_transit], [RETURNED, CANCELLED, PAID], COMPLETED)
    time_of_day = np.where(in_store, rng.integers(10 * 3600, 22 * 3600, m), rng.integers(10 * 3600, 24 * 3600, m))
    return Orders(
        customer=customer,
        day=day,
        placed_at=world.window_start_epoch + day * DAY + time_of_day,
        skincare=skincare,
        opening=opening,
        channel=channel,
        store=store,
        associate=associate,
        fulfilment=np.where(in_store, 0, np.where(pickup, 2, 1)),
        status=status,
        discount_level=pick(rng, _DISCOUNT_CUM[channel]),
    )


def lines_draw(*, rng: np.random.Generator, world: World, people: People, orders: Orders) -> Lines:
    """Baskets: an anchor and its complements for clothing, the regimen's refills for skincare."""
    m = len(orders.customer)
    wardrobe = people.wardrobe[orders.customer]
    anchor = pick(rng, _ANCHOR_CUM[wardrobe])
    candidates = _COMPLEMENT_TABLE[anchor]
    shuffle = np.where(candidates >= 0, rng.random((m, 4)), 2.0)
    addons = np.take_along_axis(candidates, np.argsort(shuffle, axis=1)[:, :2], axis=1)
    addon_count = pick(rng, cumulative(0.35, 0.45, 0.20), m)
    addons = np.where(np.arange(2)[None, :] < addon_count[:, None], addons, -1)
    # Now and then something unrelated goes in the bag too.
    stray = np.where(rng.random(m) < 0.05, rng.integers(0, len(CATEGORIES), m), -1)
    stray = np.where((stray == anchor) | (stray == addons[:, 0]) | (stray == addons[:, 1]), -1, stray)
    clothing = np.column_stack([anchor, addons, stray, np.full((m, 2), -1)])

    refill = people.regimen[orders.customer] & (orders.opening[:, None] | (rng.random((m, 6)) < 0.7))
    # A refill order buys at least one step: the one that ran out first.
    empty = ~refill.any(axis=1)
    ran_out = np.argmax(people.regimen[orders.customer] * rng.random((m, 6)), axis=1)
    refill[empty, ran_out[empty]] = True
    skincare = np.where(refill, _SKINCARE_STEPS[None, :], -1)
    slots = np.where(orders.skincare[:, None], skincare, clothing)

    order, slot = np.nonzero(slots >= 0)
    category = slots[order, slot]
    customer = orders.customer[order]
    style_wardrobe = people.wardrobe[customer]
    style_count = world.catalog.category_style_count[category, style_wardrobe]
    # A complement with no style for this wardrobe (a tie for a womenswear shopper) is simply not added.
    sold = style_count > 0
    order, category, customer, style_wardrobe, style_count = (
        order[sold], category[sold], customer[sold], style_wardrobe[sold], style_count[sold]
    )  # fmt: skip
    count = len(order)
    loyal = rng.random(count) < 0.7
    choice = np.where(
        loyal,
        (people.favourite[customer] + 7 * category) % style_count,
        (rng.random(count) * style_count).astype(np.int64),
    )
    style = world.catalog.category_styles[category, style_wardrobe, choice]
    colour = (rng.random(count) * world.catalog.style_colours[style]).astype(np.int64)
    kind = world.catalog.style_size_kind[style]
    travel_size = (rng.random(count) < 0.15) & (world.catalog.style_volumes[style] > 1)
    size = np.select(
        [kind == 1, kind == 2, kind == 3], [people.size[customer], people.shoe_size[customer], travel_size], 0
    )
    product = world.catalog.variant[style, colour, size]
    quantity = 1 + pick(rng, _UNITS_CUM[category])

    # Every order keeps its anchor or a refill, so each has at least one line and `first_line` ascends.
    per_order = np.bincount(order, minlength=m)
    first_line = np.cumsum(per_order) - per_order
    level = orders.discount_level[order]
    amount_fen = quantity * (world.catalog.price_fen[product] - world.discount_fen[product, level])
    return Lines(
        order=order,
        line_no=np.arange(count) - first_line[order] + 1,
        category=category,
        product=product,
        quantity=quantity,
        order_total_fen=np.add.reduceat(amount_fen, first_line) if m else np.zeros(0, np.int64),
    )
