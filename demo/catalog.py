"""The demo's catalogue: fashion and skincare styles whose every colour × size is a SKU (`demo_catalog`), what sells
with what (COMPLEMENTS, which the baskets follow, and the fewer DEMO_COMPLEMENT_RULES a merchandiser writes), the
catalogue as lookup arrays for drawing baskets (`catalog_build`), and its stock in the stores and online."""

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

import numpy as np

from customers.categories import CATEGORY_LABELS
from customers.models import StoreStock
from demo.arrays import DAY, db_datetimes
from demo.brand import DEMO_SEED
from omni.bulk import bulk_copy, next_ids
from suggestions.models import ComplementRule

SKU_PREFIX = "QM-"

SKINCARE_ROUTINE = ("cleanser", "toner", "serum", "moisturizer", "sunscreen")
SKINCARE_CATEGORIES = (*SKINCARE_ROUTINE, "mask")
# What sells with what: for a basket anchored on the key category, the categories added to it. Baskets are
# generated from this, and the add-on recommendation is evaluated against it.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "dress": ("belt", "scarf", "shoes", "bag"),
    "skirt": ("knitwear", "belt", "shoes"),
    "shirt": ("tie", "trousers", "belt"),
    "suit": ("shirt", "tie", "shoes"),
    "trousers": ("shirt", "belt", "shoes"),
    "knitwear": ("scarf", "skirt", "trousers"),
    "coat": ("scarf", "knitwear", "bag"),
    "shoes": ("socks",),
    "bag": ("scarf",),
    **{step: (following,) for step, following in pairwise(SKINCARE_ROUTINE)},
    "mask": ("serum",),
}
# The complement rules a merchandiser would write in admin (suggestions.ComplementRule): fewer than the
# baskets follow, so that what the model learns from orders shows beside what the rules say.
DEMO_COMPLEMENT_RULES: dict[str, tuple[str, ...]] = {
    "dress": ("belt", "scarf"),
    "suit": ("shirt", "tie"),
    "coat": ("scarf",),
    "shoes": ("socks",),
    "cleanser": ("toner",),
}

COLOUR_CODES = {
    "黑色": "BK",
    "白色": "WH",
    "米白": "IV",
    "藏青": "NV",
    "驼色": "CM",
    "灰色": "GY",
    "酒红": "WN",
    "雾蓝": "BL",
    "卡其": "KH",
    "燕麦": "OT",
    "棕色": "BR",
    "肤色": "NU",
}
WOMEN_SIZES = ("S", "M", "L")
MEN_SIZES = ("M", "L", "XL")
_WOMEN_SHOE_SIZES = ("35", "36", "37", "38", "39")
_MEN_SHOE_SIZES = ("40", "41", "42", "43", "44")


@dataclass(frozen=True)
class Style:
    """One design; each colour × size is its own SKU."""

    code: str
    category: str
    name: str
    wardrobe: str  # "women", "men" or "all"
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    prices: tuple[str, ...]  # one per size


def _apparel(code: str, category: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    sizes = WOMEN_SIZES if wardrobe == "women" else MEN_SIZES
    return Style(code, category, name, wardrobe, colours, sizes, (price,) * len(sizes))


def _shoes(code: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    sizes = _WOMEN_SHOE_SIZES if wardrobe == "women" else _MEN_SHOE_SIZES
    return Style(code, "shoes", name, wardrobe, colours, sizes, (price,) * len(sizes))


def _accessory(code: str, category: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    return Style(code, category, name, wardrobe, colours, ("",), (price,))


def _skincare(code: str, category: str, name: str, *volumes: tuple[str, str]) -> Style:
    # The first volume is the full size; a second one is the travel size.
    return Style(code, category, name, "all", ("",), tuple(v for v, _ in volumes), tuple(p for _, p in volumes))


STYLES = (
    _apparel("DR01", "dress", "真丝连衣裙", "women", "1699.00", ("黑色", "藏青")),
    _apparel("DR02", "dress", "针织连衣裙", "women", "1099.00", ("燕麦", "黑色")),
    _apparel("DR03", "dress", "法式碎花连衣裙", "women", "1299.00", ("雾蓝", "米白")),
    _apparel("DR04", "dress", "西装连衣裙", "women", "1899.00", ("黑色", "驼色")),
    _apparel("SK01", "skirt", "百褶半身裙", "women", "899.00", ("黑色", "卡其")),
    _apparel("SK02", "skirt", "羊毛A字半身裙", "women", "999.00", ("灰色", "驼色")),
    _apparel("SH01", "shirt", "真丝衬衫", "women", "999.00", ("白色", "米白")),
    _apparel("SH02", "shirt", "廓形棉质衬衫", "women", "599.00", ("白色", "雾蓝")),
    _apparel("SH03", "shirt", "商务免烫衬衫", "men", "599.00", ("白色", "雾蓝")),
    _apparel("SH04", "shirt", "牛津纺衬衫", "men", "499.00", ("白色", "卡其")),
    _apparel("SU01", "suit", "羊毛西装套装", "men", "3999.00", ("藏青", "灰色")),
    _apparel("SU02", "suit", "修身单排扣西装", "men", "2999.00", ("黑色", "藏青")),
    _apparel("TR01", "trousers", "西装阔腿裤", "women", "799.00", ("黑色", "卡其")),
    _apparel("TR02", "trousers", "商务西裤", "men", "899.00", ("黑色", "藏青")),
    _apparel("KN01", "knitwear", "羊绒圆领毛衣", "women", "1599.00", ("燕麦", "灰色")),
    _apparel("KN02", "knitwear", "羊毛V领开衫", "men", "1299.00", ("藏青", "灰色")),
    _apparel("KN03", "knitwear", "短款针织开衫", "women", "899.00", ("米白", "雾蓝")),
    _apparel("CT01", "coat", "双面羊绒大衣", "women", "3599.00", ("驼色", "黑色")),
    _apparel("CT02", "coat", "羊毛大衣", "men", "3299.00", ("藏青", "灰色")),
    _apparel("CT03", "coat", "经典风衣", "women", "2599.00", ("卡其", "黑色")),
    _shoes("SO01", "尖头高跟鞋", "women", "1299.00", ("黑色",)),
    _shoes("SO02", "乐福鞋", "women", "1099.00", ("黑色",)),
    _shoes("SO03", "德比皮鞋", "men", "1599.00", ("黑色",)),
    _shoes("SO04", "牛津皮鞋", "men", "1699.00", ("棕色",)),
    _accessory("BT01", "belt", "细款真皮腰带", "women", "499.00", ("黑色", "驼色")),
    _accessory("BT02", "belt", "针扣牛皮腰带", "men", "599.00", ("黑色", "棕色")),
    _accessory("BT03", "belt", "编织腰带", "women", "399.00", ("米白", "卡其")),
    _accessory("SF01", "scarf", "真丝方巾", "women", "599.00", ("雾蓝", "酒红")),
    _accessory("SF02", "scarf", "羊绒围巾", "all", "899.00", ("驼色", "灰色")),
    _accessory("SF03", "scarf", "印花长丝巾", "women", "699.00", ("米白", "黑色")),
    _accessory("TI01", "tie", "真丝领带", "men", "399.00", ("藏青", "酒红", "灰色")),
    _accessory("TI02", "tie", "针织领带", "men", "299.00", ("藏青", "黑色")),
    _accessory("SX01", "socks", "中筒棉袜", "all", "59.00", ("黑色", "白色")),
    _accessory("SX02", "socks", "羊毛商务袜", "men", "99.00", ("灰色", "藏青")),
    _accessory("SX03", "socks", "超薄丝袜", "women", "79.00", ("黑色", "肤色")),
    _accessory("BG01", "bag", "真皮托特包", "women", "2599.00", ("黑色", "驼色")),
    _accessory("BG02", "bag", "腋下包", "women", "1899.00", ("黑色", "米白")),
    _accessory("BG03", "bag", "链条小方包", "women", "1599.00", ("黑色", "酒红")),
    _accessory("BG04", "bag", "商务公文包", "men", "2999.00", ("黑色",)),
    _skincare("CL01", "cleanser", "氨基酸温和洁面乳", ("120ml", "168.00"), ("50ml", "78.00")),
    _skincare("CL02", "cleanser", "净澈洁面慕斯", ("150ml", "198.00")),
    _skincare("CL03", "cleanser", "舒缓卸妆油", ("200ml", "238.00")),
    _skincare("TN01", "toner", "玻尿酸保湿水", ("200ml", "228.00"), ("50ml", "78.00")),
    _skincare("TN02", "toner", "清透平衡爽肤水", ("200ml", "198.00")),
    _skincare("TN03", "toner", "舒缓修护精华水", ("150ml", "268.00")),
    _skincare("SM01", "serum", "烟酰胺焕亮精华", ("30ml", "498.00"), ("10ml", "188.00")),
    _skincare("SM02", "serum", "玻色因紧致精华", ("30ml", "598.00")),
    _skincare("SM03", "serum", "积雪草修护精华", ("30ml", "398.00")),
    _skincare("MO01", "moisturizer", "神经酰胺修护面霜", ("50g", "428.00"), ("15g", "168.00")),
    _skincare("MO02", "moisturizer", "清爽保湿乳液", ("100ml", "298.00")),
    _skincare("MO03", "moisturizer", "夜间修护晚霜", ("50g", "468.00")),
    _skincare("SS01", "sunscreen", "轻透防晒乳 SPF50+", ("50ml", "258.00")),
    _skincare("SS02", "sunscreen", "敏感肌物理防晒霜", ("40ml", "238.00")),
    _skincare("SS03", "sunscreen", "清爽防晒喷雾", ("150ml", "198.00")),
    _skincare("MK01", "mask", "补水修护面膜 5片装", ("5片", "198.00")),
    _skincare("MK02", "mask", "清洁泥膜", ("100g", "238.00")),
    _skincare("MK03", "mask", "睡眠面膜", ("80ml", "268.00")),
)


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    category: str
    size: str  # clothing and shoe sizes; skincare volumes are not a size
    price: Decimal
    style: str
    colour: str = ""


def demo_catalog() -> list[CatalogItem]:
    """Every SKU of the demo catalog, in a fixed order: style, then colour, then size."""
    items = []
    for style in STYLES:
        for colour in style.colours:
            for size, price in zip(style.sizes, style.prices, strict=True):
                code_parts = ("QM", style.code, COLOUR_CODES.get(colour, ""), size.upper())
                items.append(
                    CatalogItem(
                        sku="-".join(part for part in code_parts if part),
                        name=" ".join(part for part in (style.name, colour, size) if part),
                        category=style.category,
                        size=size if style.category not in SKINCARE_CATEGORIES else "",
                        price=Decimal(price),
                        style=style.code,
                        colour=colour,
                    )
                )
    return items


@dataclass(frozen=True)
class Catalog:
    """The catalog as lookup arrays, so baskets can be drawn for a whole chunk at once."""

    items: list[CatalogItem]
    price_fen: np.ndarray  # product → price in fen
    variant: np.ndarray  # (style, colour, size) → product, -1 where absent
    style_colours: np.ndarray  # style → number of colours
    style_volumes: np.ndarray  # style → number of sizes
    style_size_kind: np.ndarray  # style → 0 one size, 1 clothing, 2 shoes, 3 skincare volume
    category_styles: np.ndarray  # (category, wardrobe, k) → style
    category_style_count: np.ndarray  # (category, wardrobe) → number of styles


CATEGORIES = tuple(CATEGORY_LABELS)
CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}
_WARDROBES = ("women", "men")


def catalog_build() -> Catalog:
    items = demo_catalog()
    price_fen = np.array([int(item.price * 100) for item in items], dtype=np.int64)
    n_styles = len(STYLES)
    variant = np.full((n_styles, 3, 5), -1, dtype=np.int64)
    size_kind = np.zeros(n_styles, dtype=np.int64)
    product = 0
    for s, style in enumerate(STYLES):
        for c in range(len(style.colours)):
            for z in range(len(style.sizes)):
                variant[s, c, z] = product
                product += 1
        if style.category in SKINCARE_CATEGORIES:
            size_kind[s] = 3
        elif style.category == "shoes":
            size_kind[s] = 2
        elif len(style.sizes) == 3:
            size_kind[s] = 1
    category_styles = np.zeros((len(CATEGORIES), 2, 4), dtype=np.int64)
    category_style_count = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
    for s, style in enumerate(STYLES):
        for w, wardrobe in enumerate(_WARDROBES):
            if style.wardrobe in (wardrobe, "all"):
                cat = CATEGORY_INDEX[style.category]
                category_styles[cat, w, category_style_count[cat, w]] = s
                category_style_count[cat, w] += 1
    return Catalog(
        items=items,
        price_fen=price_fen,
        variant=variant,
        style_colours=np.array([len(s.colours) for s in STYLES]),
        style_volumes=np.array([len(s.sizes) for s in STYLES]),
        style_size_kind=size_kind,
        category_styles=category_styles,
        category_style_count=category_style_count,
    )


def stock_write(
    *,
    rng: np.random.Generator,
    catalog: Catalog,
    store_ids: np.ndarray,
    product_ids: np.ndarray,
    reference_epoch: int,
) -> int:
    stores, products = np.meshgrid(np.arange(len(store_ids)), np.arange(len(product_ids)), indexing="ij")
    stores, products = stores.ravel(), products.ravel()
    skincare = np.array([item.category in SKINCARE_CATEGORIES for item in catalog.items])
    # Clothing is stocked a few per size, skincare by the carton; about one line in ten is sold out.
    quantity = np.where(skincare[products], rng.integers(6, 61, len(products)), rng.integers(1, 13, len(products)))
    quantity[rng.random(len(products)) < 0.09] = 0
    updated = reference_epoch - rng.integers(600, 3 * DAY, len(products))
    return bulk_copy(
        StoreStock,
        ("id", "store_id", "product_id", "quantity", "updated_at"),
        zip(
            next_ids(StoreStock, len(products)),
            store_ids[stores].tolist(),
            product_ids[products].tolist(),
            quantity.tolist(),
            db_datetimes(updated),
            strict=True,
        ),
    )


def online_stock(catalog: Catalog) -> list[int | None]:
    """Units in the online warehouse per product: None for the few styles sold only in stores, about one
    SKU in eight sold out. A generator of its own, so that the store stock drawn after it stays as it was."""
    rng = np.random.default_rng([DEMO_SEED, 0, 1])
    store_only = rng.random(len(STYLES)) < 0.06
    style_of = {style.code: s for s, style in enumerate(STYLES)}
    skincare = np.array([item.category in SKINCARE_CATEGORIES for item in catalog.items])
    quantity = np.where(skincare, rng.integers(20, 501, len(skincare)), rng.integers(1, 41, len(skincare)))
    quantity[rng.random(len(skincare)) < 0.12] = 0
    return [
        None if store_only[style_of[item.style]] else units
        for item, units in zip(catalog.items, quantity.tolist(), strict=True)
    ]


def complement_rules_write() -> int:
    """The demo's complement rules; a category the brand already has a rule for keeps its own."""
    existing = set(ComplementRule.objects.values_list("category", flat=True))
    rules = [
        ComplementRule(category=category, complements="、".join(complements))
        for category, complements in DEMO_COMPLEMENT_RULES.items()
        if category not in existing
    ]
    return len(ComplementRule.objects.bulk_create(rules))
