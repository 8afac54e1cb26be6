"""What to offer a customer next, and the add-ons for given products: the engine's answer, read for the sidebar.

Serving is a fixed handful of hand-written statements whatever the customer's history (`clientbook.profile`
explains why the hot reads skip the ORM): the customer's purchases, read at call time so that an order placed a
minute ago counts at once; the products the associate can sell, cached per store for a minute; the chosen
products with their stock, read fresh so a product that sold out since is dropped. The model itself is loaded
once per process and checked for a newer build at most every CHECK_EVERY seconds.
"""

import logging
import math
import pickle
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from associates.models import Associate
from customers.categories import category_label
from customers.models import Order, OrderLine, Product, StoreStock
from omni import rawsql
from omni.errors import ApplicationError
from suggestions import engine
from suggestions.models import SuggestionModel

logger = logging.getLogger(__name__)

CHECK_EVERY = 60.0  # seconds between looks for a newer model build, per process
STORE_READS_FOR = 60.0  # seconds a store's sellable products (and best sellers) are reused, per process
POPULAR_DAYS = 30  # the fallback's window while there is no model yet
POPULAR_KEPT = 100  # best sellers kept per store for the fallback

_ORDER, _LINE = Order._meta.db_table, OrderLine._meta.db_table
_PRODUCT, _STOCK = Product._meta.db_table, StoreStock._meta.db_table
# Purchases: returned and cancelled orders are reversed whole; partial returns are negative lines.
KEPT_ORDER_STATUS = f"o.status NOT IN ('{Order.Status.CANCELLED}', '{Order.Status.RETURNED}')"
KEPT_LINE = "l.quantity > 0"
KEPT_ORDER = f"{KEPT_ORDER_STATUS} AND {KEPT_LINE}"


@dataclass(frozen=True)
class CurrentModel:
    pk: int
    built_at: datetime
    model: engine.Model


@dataclass(frozen=True)
class SuggestedProduct:
    product_id: int
    sku: str
    name: str
    price: Decimal
    image_url: str
    category: str
    store_stock: int  # at the associate's store
    online_stock: int | None  # None: not sold online
    reason: str  # engine.Reason: repeat, complement, rule or popular
    reason_text: str  # what the sidebar shows, e.g. 常与 真丝连衣裙 黑色 M 一起购买


@dataclass(frozen=True)
class Suggestions:
    products: list[SuggestedProduct]
    model_built_at: datetime | None  # None: no model yet, the products are the recent best sellers


# ---------------------------------------------------------------------------------------------------------
# The model, once per process


_clock = time.monotonic
_load_lock = threading.Lock()
_current: CurrentModel | None = None
_checked_at = -math.inf
_unusable: set[int] = set()  # builds that failed to load here: not tried again


def suggestion_model_current() -> CurrentModel | None:
    """The newest ready model build, unpickled once per process; None while there is none.

    Most calls cost nothing: the database is asked for a newer build at most every CHECK_EVERY seconds. A build
    this code cannot use — pickled by another version of the engine, say, until the next build — is logged
    and the one in hand kept (or none: the recent best sellers are offered).
    """
    global _current, _checked_at
    if _clock() - _checked_at < CHECK_EVERY:
        return _current
    with _load_lock:
        if _clock() - _checked_at < CHECK_EVERY:  # another thread looked while this one waited
            return _current
        newest = (
            SuggestionModel.objects.filter(status=SuggestionModel.Status.READY)
            .order_by("-built_at", "-pk")
            .values_list("pk", "built_at")
            .first()
        )
        if newest is None:
            _current = None
        elif (_current is None or _current.pk != newest[0]) and newest[0] not in _unusable:
            try:
                _current = CurrentModel(*newest, _model_load(pk=newest[0]))
            except Exception:
                logger.exception("Suggestion model #%s cannot be used; keeping the one in use", newest[0])
                _unusable.add(newest[0])
        _checked_at = _clock()
        return _current


def _model_load(*, pk: int) -> engine.Model:
    """The build's model, tried once on an empty history so that an incompatible one fails here, not later."""
    payload = SuggestionModel.objects.values_list("payload", flat=True).get(pk=pk)
    model = pickle.loads(zlib.decompress(payload))
    engine.suggest(model, (np.zeros(0, dtype="datetime64[D]"), []), k=1)
    engine.complements_for(model, [], k=1)
    return model


def suggestion_caches_clear() -> None:
    """Forget the loaded model and the sellable products, so the next call reads them again (tests; after a
    database is emptied under a running process)."""
    global _current, _checked_at
    with _load_lock:
        _current, _checked_at = None, -math.inf
        _unusable.clear()
    _sellable.clear()
    _best_sellers.clear()


# ---------------------------------------------------------------------------------------------------------
# Serving


def customer_suggestions(*, customer_id: int, associate: Associate, k: int = 6) -> Suggestions:
    """The k products to offer this customer now, each with its reason; only products the associate can sell
    (in stock at their store, or online). The caller has checked the associate may see the customer."""
    current = suggestion_model_current()
    if current is None:
        return Suggestions(_popular(store_id=associate.store_id, k=k), None)
    days, product_ids = _history(customer_id=customer_id)
    picked = engine.suggest(
        current.model,
        (days, product_ids),
        k=k,
        now=timezone.localdate(),
        sellable=_sellable_ids(store_id=associate.store_id),
    )
    return Suggestions(_explained(picked, store_id=associate.store_id), current.built_at)


def addons_for(*, skus: Sequence[str], associate: Associate, k: int = 6) -> Suggestions:
    """The k best add-ons the associate can sell for the given products (what the customer is asking about).

    Raises ApplicationError `unknown_product` when a sku is not in the catalog."""
    given = _product_ids(skus=skus)
    current = suggestion_model_current()
    if current is None:
        return Suggestions(_popular(store_id=associate.store_id, k=k, without_skus=skus), None)
    picked = engine.complements_for(current.model, given, k=k, sellable=_sellable_ids(store_id=associate.store_id))
    return Suggestions(_explained(picked, store_id=associate.store_id), current.built_at)


def reason_text(*, suggestion: engine.Suggestion, names: dict[int, str]) -> str:
    """The words the sidebar shows for a suggestion; `names` holds the anchor product's name."""
    if suggestion.reason == engine.Reason.REPEAT:
        days = suggestion.days_since or 0
        return "您上次购买是今天" if days == 0 else f"您上次购买是 {days} 天前"
    if suggestion.reason == engine.Reason.COMPLEMENT:
        anchor = names.get(suggestion.anchor_item_id)
        return f"常与 {anchor} 一起购买" if anchor else "常与您选的商品一起购买"
    if suggestion.reason == engine.Reason.RULE:
        return f"{category_label(suggestion.anchor_category or '')} 的搭配推荐"
    return "近期热销"


def _in(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _history(*, customer_id: int) -> tuple[np.ndarray, list[int]]:
    """The customer's kept purchases: local dates (datetime64[D]) and product ids, in one statement."""
    local_date, params = connection.ops.datetime_cast_date_sql("o.placed_at", (), settings.TIME_ZONE)
    rows = rawsql.rows(
        f"SELECT {local_date}, l.product_id FROM {_LINE} l JOIN {_ORDER} o ON o.id = l.order_id"
        f" WHERE o.customer_id = %s AND {KEPT_ORDER}",
        [*params, customer_id],
    )
    # PostgreSQL answers dates, SQLite ISO text: numpy reads either.
    return np.array([row[0] for row in rows], dtype="datetime64[D]"), [row[1] for row in rows]


# Per store: (expires at, value). Reads that serve every customer of a store and may be a minute old.
_sellable: dict[int, tuple[float, frozenset[int]]] = {}
_best_sellers: dict[int, tuple[float, list[tuple[int, str, str]]]] = {}
_SELLABLE = (
    f"p.is_active AND (p.online_stock > 0 OR p.id IN"
    f" (SELECT s.product_id FROM {_STOCK} s WHERE s.store_id = %s AND s.quantity > 0))"
)


def _per_store(cache: dict, store_id: int, read):
    cached = cache.get(store_id)
    if cached is None or _clock() >= cached[0]:
        cached = cache[store_id] = (_clock() + STORE_READS_FOR, read())
    return cached[1]


def _sellable_ids(*, store_id: int) -> frozenset[int]:
    """The active products in stock at the store or online."""
    return _per_store(
        _sellable,
        store_id,
        lambda: frozenset(
            row[0] for row in rawsql.rows(f"SELECT p.id FROM {_PRODUCT} p WHERE {_SELLABLE}", [store_id])
        ),
    )


def _product_ids(*, skus: Iterable[str]) -> list[int]:
    skus = list(dict.fromkeys(skus))
    found = dict(rawsql.rows(f"SELECT sku, id FROM {_PRODUCT} WHERE sku IN ({_in(skus)})", skus)) if skus else {}
    if unknown := [sku for sku in skus if sku not in found]:
        raise ApplicationError(
            "unknown_product", f"商品 {'、'.join(unknown)} 不存在。", details={"unknown_skus": unknown}
        )
    return list(found.values())


def _explained(picked: list[engine.Suggestion], *, store_id: int) -> list[SuggestedProduct]:
    """The suggestions as products with their stock and reasons, in one statement (the chosen products and
    the purchases they are anchored on). A product no longer sellable since the sellable set was read is
    dropped."""
    wanted = list(dict.fromkeys([s.item_id for s in picked] + [s.anchor_item_id for s in picked if s.anchor_item_id]))
    if not wanted:
        return []
    rows = rawsql.rows(
        f"SELECT p.id, p.sku, p.name, p.price, p.image_url, p.category, p.online_stock, p.is_active, s.quantity"
        f" FROM {_PRODUCT} p LEFT JOIN {_STOCK} s ON s.product_id = p.id AND s.store_id = %s"
        f" WHERE p.id IN ({_in(wanted)})",
        [store_id, *wanted],
    )
    found = {row[0]: row for row in rows}
    names = {pk: row[2] for pk, row in found.items()}
    products = []
    for suggestion in picked:
        row = found.get(suggestion.item_id)
        if row is None:
            continue
        pk, sku, name, price, image_url, category, online_stock, is_active, store_stock = row
        store_stock = store_stock or 0
        if not is_active or (store_stock <= 0 and not online_stock):
            continue
        products.append(
            SuggestedProduct(
                product_id=pk,
                sku=sku,
                name=name,
                price=rawsql.money(price),
                image_url=image_url,
                category=category,
                store_stock=store_stock,
                online_stock=online_stock,
                reason=str(suggestion.reason),
                reason_text=reason_text(suggestion=suggestion, names=names),
            )
        )
    return products


def _popular(*, store_id: int, k: int, without_skus: Sequence[str] = ()) -> list[SuggestedProduct]:
    """Before the first model build: the sellable products most bought in the last POPULAR_DAYS days, one per
    style. The ranking is read once a minute per store (it scans a month of orders), the details per call."""

    def read() -> list[tuple[int, str, str]]:
        since = connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(days=POPULAR_DAYS))
        return rawsql.rows(
            f"SELECT p.id, p.sku, CASE WHEN p.style_code = '' THEN p.sku ELSE p.style_code END"
            f" FROM {_LINE} l JOIN {_ORDER} o ON o.id = l.order_id JOIN {_PRODUCT} p ON p.id = l.product_id"
            f" WHERE o.placed_at >= %s AND {KEPT_ORDER} AND {_SELLABLE}"
            f" GROUP BY p.id, p.sku, p.style_code ORDER BY COUNT(*) DESC, p.id LIMIT %s",
            [since, store_id, POPULAR_KEPT],
        )

    skip, styles, picked = set(without_skus), set(), []
    for pk, sku, style in _per_store(_best_sellers, store_id, read):
        if len(picked) == k:
            break
        if sku not in skip and style not in styles:
            styles.add(style)
            picked.append(engine.Suggestion(pk, 0.0, engine.Reason.POPULAR))
    return _explained(picked, store_id=store_id)
