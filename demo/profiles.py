"""What Omni knows of each demo customer besides their orders: their identities in every channel they use
(`identities_write`: phone, POS member number, WeCom and WeChat ids, mini-program, mall and marketplace accounts,
shaped like each platform's own and unique by construction), the tags their purchases earn (`tags_write`, from
TAGS) and the notes their associates wrote (`notes_write`)."""

from functools import partial

import numpy as np

from customers.models import CustomerNote, CustomerTag, Identity
from demo.arrays import DAY, db_datetimes, nullable
from demo.brand import HISTORY_DAYS
from demo.catalog import CATEGORIES, CATEGORY_INDEX, COLOUR_CODES, MEN_SIZES, STYLES, WOMEN_SIZES
from demo.history import CHANNELS, COMPLETED, PAID, Lines, Orders
from demo.people import SKIN_TAGS, People, phones
from demo.world import DemoSummary, World
from omni.bulk import bulk_copy, next_ids

TAGS = (
    ("客户价值", "VIP"),
    ("客户价值", "高潜客户"),
    ("客户价值", "新客"),
    ("肤质", "敏感肌"),
    ("肤质", "干皮"),
    ("肤质", "油皮"),
    ("肤质", "混合肌"),
    ("风格偏好", "职场通勤"),
    ("风格偏好", "法式优雅"),
    ("风格偏好", "简约基础"),
    ("风格偏好", "休闲度假"),
    ("兴趣", "护肤达人"),
    ("兴趣", "会员日常客"),
)

_OTHER_STYLE_TAGS = ("法式优雅", "简约基础", "休闲度假")

_WORKWEAR = np.array([CATEGORY_INDEX[c] for c in ("suit", "shirt", "trousers")])

_NOTES_WOMEN = (
    "常穿{size}码，偏爱{colour}，{category}上新时优先通知。",
    "上次试穿{style}很满意，{colour}补货后联系。",
    "周末常来店，喜欢真丝和羊绒面料，对价格不太敏感。",
    "在准备婚礼宾客着装，想要一条{colour}连衣裙，预算两千左右。",
    "肩宽偏窄，外套建议{size}码并改短袖长。",
)
_NOTES_MEN = (
    "商务场合穿着为主，衬衫{size}码，喜欢{colour}西装。",
    "下个月出差多，推荐免烫衬衫和领带搭配。",
    "一般和太太一起来挑选，周末下午到店。",
)
_NOTES_BEAUTY = (
    "{skin}，对酒精和香精敏感，推荐温和洁面和修护精华。",
    "护肤步骤完整，精华大概两个月用完，到时提醒回购。",
    "喜欢小程序下单到店自提，下班后来取。",
    "夏天要清爽型防晒，偏好喷雾。",
)
_NOTE_STYLES = tuple(s.name for s in STYLES if s.wardrobe == "women" and s.category in ("dress", "coat", "knitwear"))
_NOTES_ANY = (
    "不喜欢频繁推送，一个月联系一次即可。",
    "会员日活动参与积极，喜欢提前锁定优惠。",
    "生日前一周发生日券包，很在意仪式感。",
)

_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_BASE36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def _opaque_ids(
    rng: np.random.Generator,
    index: np.ndarray,
    *,
    prefix: str,
    length: int,
    alphabet: np.ndarray,
    multiplier: int,
    offset: int,
) -> list[str]:
    """Ids shaped like the platform's own and unique by construction: random characters, then six that encode the
    customer number through a bijection of [0, len(alphabet) ** 6) (`multiplier` is coprime to that)."""
    base = len(alphabet)
    scrambled = (index * multiplier + offset) % base**6
    digits = np.empty((len(index), 6), dtype=np.int64)
    for position in range(5, -1, -1):
        digits[:, position] = scrambled % base
        scrambled //= base
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(index), len(prefix)))
    body = alphabet[rng.integers(0, base, (len(index), length - len(prefix) - 6))]
    raw = np.ascontiguousarray(np.column_stack([head, body, alphabet[digits]]))
    return raw.view(f"S{length}").ravel().astype(f"U{length}").tolist()


def _member_numbers(index: np.ndarray) -> list[str]:
    number = (index * 374_761_393 + 5_772_156_649) % 10**10
    return [f"QM{value:010d}" for value in number.tolist()]


def identities_write(
    *,
    rng: np.random.Generator,
    people: People,
    orders: Orders,
    customer_ids: np.ndarray,
    joined: list,
    summary: DemoSummary,
) -> tuple[np.ndarray, list[str]]:
    """Every customer's identities; returns the customers with a WeCom external_userid (positions) and those ids."""
    n = len(people.index)
    bought_in = np.zeros((n, len(CHANNELS)), dtype=bool)
    bought_in[orders.customer, orders.channel] = True
    prospect = ~people.fashion & ~people.beauty
    has_pos = bought_in[:, 0] | (~prospect & (rng.random(n) < 0.3))
    has_openid = bought_in[:, 1] | (rng.random(n) < 0.2)
    has_mall = bought_in[:, 2] | (rng.random(n) < 0.04)
    has_wecom = (people.associate >= 0) & (prospect | (rng.random(n) < 0.8))
    has_unionid = rng.random(n) < np.where(has_openid | has_wecom, 0.9, 0.25)
    # Only marketplace buyers who joined the brand's membership there share their buyer id.
    has_marketplace = bought_in[:, 3] & (rng.random(n) < 0.7)

    opaque = partial(_opaque_ids, rng)
    kinds = (
        (Identity.Kind.PHONE, "pos", np.ones(n, dtype=bool), phones),
        (Identity.Kind.POS_MEMBER_NO, "pos", has_pos, _member_numbers),
        (
            Identity.Kind.WECOM_EXTERNAL_USERID,
            "wecom",
            has_wecom,
            partial(opaque, prefix="wm", length=32, alphabet=_BASE62, multiplier=2_246_822_519, offset=31_415_926_535),
        ),
        (
            Identity.Kind.WECHAT_UNIONID,
            "wecom",
            has_unionid,
            partial(
                opaque, prefix="o6_bm", length=28, alphabet=_BASE62, multiplier=3_266_489_917, offset=27_182_818_284
            ),
        ),
        (
            Identity.Kind.MINI_PROGRAM_OPENID,
            "mini_program",
            has_openid,
            partial(opaque, prefix="oQm3v", length=28, alphabet=_BASE62, multiplier=668_265_263, offset=16_180_339_887),
        ),
        (
            Identity.Kind.MALL_ACCOUNT,
            "online_mall",
            has_mall,
            partial(opaque, prefix="qm_", length=15, alphabet=_BASE36, multiplier=2_654_435_761, offset=1_414_213_562),
        ),
        (
            Identity.Kind.MARKETPLACE_BUYER,
            "marketplace",
            has_marketplace,
            partial(opaque, prefix="AAH", length=24, alphabet=_BASE62, multiplier=1_597_334_677, offset=57_721_566_490),
        ),
    )
    customer, kind, value, source = [], [], [], []
    for identity_kind, identity_source, has, make in kinds:
        holders = np.flatnonzero(has)
        customer.append(holders)
        kind += [identity_kind.value] * len(holders)
        made = make(people.index[holders])
        value += made
        source += [identity_source] * len(holders)
        if identity_kind == Identity.Kind.WECOM_EXTERNAL_USERID:
            wecom = (holders, made)
    holders = np.concatenate(customer)
    joined_at = np.array(joined, dtype=object)[holders].tolist()
    summary.add(
        "身份标识",
        bulk_copy(
            Identity,
            ("id", "customer_id", "kind", "value", "source", "created_at"),
            zip(
                next_ids(Identity, len(holders)),
                customer_ids[holders].tolist(),
                kind,
                value,
                source,
                joined_at,
                strict=True,
            ),
        ),
    )
    return wecom


def tags_write(
    *,
    rng: np.random.Generator,
    world: World,
    people: People,
    orders: Orders,
    lines: Lines,
    customer_ids: np.ndarray,
    summary: DemoSummary,
) -> None:
    n = len(people.index)
    kept = (orders.status == COMPLETED) | (orders.status == PAID)
    spend_fen = np.bincount(orders.customer[kept], weights=lines.order_total_fen[kept], minlength=n)
    kept_orders = np.bincount(orders.customer[kept], minlength=n)
    recent_orders = np.bincount(orders.customer[kept & (orders.day >= HISTORY_DAYS - 120)], minlength=n)
    discounted = np.bincount(orders.customer[kept & (orders.discount_level > 0)], minlength=n)
    bought = np.zeros((n, len(CATEGORIES)), dtype=bool)
    bought[orders.customer[lines.order], lines.category] = True

    vip = spend_fen >= 1_500_000
    workwear = people.fashion & bought[:, _WORKWEAR].any(axis=1) & (rng.random(n) < 0.8)
    other_style = people.fashion & ~workwear & (rng.random(n) < 0.45)
    skin_tagged = people.beauty & (rng.random(n) < 0.75)
    rules = (
        (vip, "客户价值", np.full(n, "VIP")),
        (~vip & (recent_orders >= 3), "客户价值", np.full(n, "高潜客户")),
        (people.joined_at >= world.reference_epoch - 90 * DAY, "客户价值", np.full(n, "新客")),
        (skin_tagged, "肤质", np.array(SKIN_TAGS)[people.skin]),
        (workwear, "风格偏好", np.full(n, "职场通勤")),
        (other_style, "风格偏好", np.array(_OTHER_STYLE_TAGS)[rng.integers(0, len(_OTHER_STYLE_TAGS), n)]),
        (people.beauty & people.regimen[:, :5].all(axis=1), "兴趣", np.full(n, "护肤达人")),
        ((kept_orders >= 3) & (3 * discounted >= 2 * kept_orders), "兴趣", np.full(n, "会员日常客")),
    )
    tagged, tag_ids = [], []
    for applies, group, names in rules:
        holders = np.flatnonzero(applies)
        tagged.append(holders)
        tag_ids += [world.tag_ids[group, name] for name in names[holders].tolist()]
    holders = np.concatenate(tagged)
    tagged_at = people.joined_at[holders] + (
        rng.random(len(holders)) * (world.reference_epoch - people.joined_at[holders])
    ).astype(np.int64)
    summary.add(
        "客户标签",
        bulk_copy(
            CustomerTag,
            ("id", "customer_id", "tag_id", "added_by_id", "created_at"),
            zip(
                next_ids(CustomerTag, len(holders)),
                customer_ids[holders].tolist(),
                tag_ids,
                nullable(world.associate_ids, people.associate[holders]),
                db_datetimes(tagged_at),
                strict=True,
            ),
        ),
    )


def notes_write(
    *, rng: np.random.Generator, world: World, people: People, customer_ids: np.ndarray, summary: DemoSummary
) -> None:
    n = len(people.index)
    noted = (people.associate >= 0) & (rng.random(n) < 0.12)
    twice = noted & (rng.random(n) < 0.25)
    holders = np.sort(np.concatenate([np.flatnonzero(noted), np.flatnonzero(twice)]), kind="stable")
    colours = list(COLOUR_CODES)[:10]
    picks = rng.integers(0, 1 << 30, (len(holders), 4)).tolist()
    texts = []
    for holder, (template_pick, colour_pick, style_pick, category_pick) in zip(holders.tolist(), picks, strict=True):
        menswear = people.wardrobe[holder] == 1
        pool = _NOTES_ANY
        if people.fashion[holder]:
            pool += _NOTES_MEN if menswear else _NOTES_WOMEN
        if people.beauty[holder]:
            pool += _NOTES_BEAUTY
        sizes = MEN_SIZES if menswear else WOMEN_SIZES
        texts.append(
            pool[template_pick % len(pool)].format(
                size=sizes[people.size[holder]],
                colour=colours[colour_pick % len(colours)],
                style=_NOTE_STYLES[style_pick % len(_NOTE_STYLES)],
                category=("连衣裙", "大衣", "针织")[category_pick % 3],
                skin=SKIN_TAGS[people.skin[holder]],
            )
        )
    written_at = people.joined_at[holders] + (
        rng.random(len(holders)) * (world.reference_epoch - people.joined_at[holders])
    ).astype(np.int64)
    summary.add(
        "客户备注",
        bulk_copy(
            CustomerNote,
            ("id", "customer_id", "author_id", "text", "created_at"),
            zip(
                next_ids(CustomerNote, len(holders)),
                customer_ids[holders].tolist(),
                world.associate_ids[people.associate[holders]].tolist(),
                texts,
                db_datetimes(written_at),
                strict=True,
            ),
        ),
    )
