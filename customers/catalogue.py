"""The catalogue search an associate runs in the chat sidebar: by name (any substring, Chinese included), SKU prefix,
barcode (exact, what a scan gives), category, price range and "in stock here"; each result is a style with its
variants (sizes, colours: `Product.style_code`) and their stock at the associate's store and at the nearby stores.

Only the brand's catalogue (products on sale, `is_active`) is searched. Other stores' stock is only a count per
store. On PostgreSQL a name is matched with ILIKE '%keyword%' over a pg_trgm GIN index (Chinese
included), a SKU prefix with UPPER(sku) LIKE 'KEYWORD%' over a btree prefix index, a barcode by its own index
(migration customers 0011); SQLite matches with LIKE (icontains, istartswith).
"""

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, F, Lookup, OuterRef, Q, Value
from django.db.models.functions import Upper

from associates.models import Store
from customers.models import Product, StoreStock
from omni.errors import ApplicationError

PAGE_SIZE = 20
MAX_PAGE = 50
NEARBY_STORES = 5
MAX_KEYWORDS = 5
# What a scanner reads off a retail barcode: EAN-8, UPC-A, EAN-13, ITF-14.
BARCODE_DIGITS = re.compile(r"^\d{8,14}$")


class _ILike(Lookup):
    """`column ILIKE pattern` on PostgreSQL (what the trigram indexes serve; UPPER(column) LIKE would not)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _word_match(word: str) -> Q:
    """A name containing the word, or a SKU starting with it. On PostgreSQL the name's ILIKE is served by its trigram
    index and the SKU's UPPER(sku) LIKE 'WORD%' by its prefix index (migration customers 0011)."""
    if connection.vendor == "postgresql":
        name = Q(_ILike(F("name"), Value("%" + _like_escaped(word) + "%")))
    else:
        name = Q(name__icontains=word)
    return name | Q(sku__istartswith=word)


@dataclass(frozen=True)
class NearbyStore:
    pk: int
    code: str
    name: str
    city: str
    distance_km: float | None


@dataclass
class Variant:
    sku: str
    name: str
    size: str
    price: Decimal
    barcode: str
    online_stock: int | None
    store_stock: int = 0
    # (store name, units) at the nearby stores that have it, nearest first.
    nearby_stock: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class StyleResult:
    """One style in the results: the SKU that matched first, and every variant of the style on sale."""

    sku: str
    name: str
    style_code: str
    category: str
    price: Decimal
    image_url: str
    variants: list[Variant]


@dataclass(frozen=True)
class CatalogueResults:
    store: Store
    nearby: list[NearbyStore]
    results: list[StyleResult]
    page: int
    has_more: bool


def catalogue_store_get(*, code: str, default: Store) -> Store:
    """The store whose stock "here" means: the one named by its code, else the associate's own.

    Raises ApplicationError `unknown_store` (400) for a code no open store has."""
    if not code or code == default.code:
        return default
    store = Store.objects.filter(code=code, is_active=True).first()
    if store is None:
        raise ApplicationError("unknown_store", f"没有编码为 {code} 的门店。", details={"store": code})
    return store


def _distance_km(a: Store | dict, b: dict) -> float | None:
    lat1, lng1 = (a["latitude"], a["longitude"]) if isinstance(a, dict) else (a.latitude, a.longitude)
    lat2, lng2 = b["latitude"], b["longitude"]
    if None in (lat1, lng1, lat2, lng2):
        return None
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lng2) - float(lng1))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def nearby_stores(*, store: Store, limit: int = NEARBY_STORES) -> list[NearbyStore]:
    """The open stores nearest to `store`: by distance when both have coordinates, then those of the same city."""
    others = Store.objects.filter(is_active=True).exclude(pk=store.pk)
    rows = list(others.values("pk", "code", "name", "city", "latitude", "longitude"))
    measured = sorted(
        ((d, row) for row in rows if (d := _distance_km(store, row)) is not None), key=lambda p: (p[0], p[1]["code"])
    )
    chosen = [NearbyStore(row["pk"], row["code"], row["name"], row["city"], round(d, 1)) for d, row in measured[:limit]]
    if len(chosen) < limit and store.city:
        taken = {s.code for s in chosen}
        same_city = sorted(
            (row for row in rows if row["city"] == store.city and row["code"] not in taken), key=lambda r: r["code"]
        )
        chosen += [
            NearbyStore(row["pk"], row["code"], row["name"], row["city"], None)
            for row in same_city[: limit - len(chosen)]
        ]
    return chosen


def catalogue_search(
    *,
    store: Store,
    query: str = "",
    barcode: str = "",
    category: str = "",
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    in_stock: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CatalogueResults:
    """Search the catalogue for an associate of `store` (see the module's docstring).

    `query` is up to five words, each matching a name substring or a SKU prefix (a barcode-looking query also
    matches the barcode exactly); `barcode` matches exactly. Results are ordered by SKU, `page_size` SKUs a page,
    grouped by style on the page.

    Raises ApplicationError (400): `price_range_reversed`, `page_out_of_range` (below 1, above 50, or past the
    last result)."""
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ApplicationError(
            "price_range_reversed",
            "最低价不能高于最高价。",
            details={"price_min": str(price_min), "price_max": str(price_max)},
        )
    if not 1 <= page <= MAX_PAGE:
        raise ApplicationError("page_out_of_range", f"页码应在 1 到 {MAX_PAGE} 之间。", details={"page": page})
    products = Product.objects.filter(is_active=True)
    words = query.split()[:MAX_KEYWORDS]
    for word in words:
        match = _word_match(word)
        if len(words) == 1 and BARCODE_DIGITS.match(word):
            match |= Q(barcode=word)
        products = products.filter(match)
    if barcode:
        products = products.filter(barcode=barcode)
    if category:
        products = products.filter(category=category)
    if price_min is not None:
        products = products.filter(price__gte=price_min)
    if price_max is not None:
        products = products.filter(price__lte=price_max)
    if in_stock:
        here = StoreStock.objects.filter(store_id=store.pk, product_id=OuterRef("pk"), quantity__gt=0)
        products = products.filter(Exists(here))
    offset = (page - 1) * page_size
    columns = ("pk", "sku", "name", "style_code", "category", "price", "image_url")
    # Words of three characters or more are found through the indexes, then sorted; ordering by UPPER(sku) keeps
    # the planner from walking the SKU index in order and filtering, which reads most of the table when the
    # matches sort last. Shorter words have no trigram: walking in SKU order until a page is found is the better plan.
    trigram_words = words and all(len(word) >= 3 for word in words)
    ordering = (Upper("sku"), "sku") if trigram_words else ("sku",)
    matched = list(products.order_by(*ordering).values(*columns)[offset : offset + page_size + 1])
    has_more = len(matched) > page_size
    matched = matched[:page_size]
    if page > 1 and not matched:
        raise ApplicationError("page_out_of_range", "没有更多结果了。", details={"page": page})

    # The page's styles with all their variants, and the SKUs without a style, in one query.
    styles = {row["style_code"] for row in matched if row["style_code"]}
    lone_pks = [row["pk"] for row in matched if not row["style_code"]]
    variant_columns = ("pk", "sku", "name", "size", "price", "barcode", "online_stock", "style_code")
    by_style: dict[str, list[dict]] = {}
    lone_rows: dict[int, dict] = {}
    if matched:
        variants_query = Product.objects.filter(Q(style_code__in=styles, is_active=True) | Q(pk__in=lone_pks))
        for row in variants_query.order_by("sku").values(*variant_columns):
            if row["style_code"]:
                by_style.setdefault(row["style_code"], []).append(row)
            else:
                lone_rows[row["pk"]] = row
    results: list[StyleResult] = []
    variants_by_pk: dict[int, Variant] = {}
    seen_styles: set[str] = set()
    for row in matched:
        if row["style_code"]:
            if row["style_code"] in seen_styles:
                continue
            seen_styles.add(row["style_code"])
            rows = by_style.get(row["style_code"], [])
        else:
            rows = [lone_rows[row["pk"]]]
        variants = []
        for v in rows:
            variant = variants_by_pk.setdefault(
                v["pk"], Variant(v["sku"], v["name"], v["size"], v["price"], v["barcode"], v["online_stock"])
            )
            variants.append(variant)
        results.append(
            StyleResult(
                sku=row["sku"],
                name=row["name"],
                style_code=row["style_code"],
                category=row["category"],
                price=row["price"],
                image_url=row["image_url"],
                variants=variants,
            )
        )

    nearby = nearby_stores(store=store)
    names = {s.pk: s.name for s in nearby}
    if not variants_by_pk:
        return CatalogueResults(store=store, nearby=nearby, results=results, page=page, has_more=has_more)
    stock_rows = StoreStock.objects.filter(
        product_id__in=list(variants_by_pk), store_id__in=[store.pk, *names]
    ).values_list("product_id", "store_id", "quantity")
    nearby_units: dict[int, dict[int, int]] = {}
    for product_id, store_id, quantity in stock_rows:
        if store_id == store.pk:
            variants_by_pk[product_id].store_stock = quantity
        elif quantity > 0:
            nearby_units.setdefault(product_id, {})[store_id] = quantity
    for product_id, units in nearby_units.items():
        variants_by_pk[product_id].nearby_stock = [(names[pk], units[pk]) for pk in names if pk in units]
    return CatalogueResults(store=store, nearby=nearby, results=results, page=page, has_more=has_more)
