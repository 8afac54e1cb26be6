"""Batch upserts from brand systems: members, products (with store stock), store stock and orders.

Each batch answers row by row. Rows are validated by the API first; here each valid row is written or
reported with its own error, and a good row is never lost because a neighbour was bad. Everything is
idempotent by its natural key — members by (channel member identity), products by sku, stock by (sku, store),
orders by (channel, external_id) — so replaying a batch reports "unchanged" and writes nothing.

Order lines are immutable once recorded: a replay whose lines differ is refused (`order_lines_changed`);
a return arrives as a status change or as a separate order with negative lines.
"""

import functools
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from associates.models import Associate, Store
from customers.models import (
    CHANNEL_MEMBER_IDENTITY_KIND,
    ApiKey,
    Channel,
    Customer,
    Identity,
    Membership,
    Order,
    OrderLine,
    Product,
    StoreStock,
)
from customers.services import Profile, customer_resolve, identity_normalize
from omni.errors import ApplicationError

# Fields of an order that may change after it was first recorded.
ORDER_MUTABLE_FIELDS = ("status", "fulfilment", "associate_id")


@dataclass
class RowResult:
    index: int
    status: str = "unchanged"  # created | updated | unchanged | error
    key: str = ""
    id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, code: str, message: str, field_name: str = "") -> "RowResult":
        self.status = "error"
        self.errors.append({"field": field_name, "code": code, "message": message})
        return self

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "status": self.status, "key": self.key}
        if self.id is not None:
            data["id"] = self.id
        if self.errors:
            data["errors"] = self.errors
        return data


@dataclass(frozen=True)
class Scope:
    """What one API key may write: its channel, and its stores (None = any store)."""

    channel: str
    store_ids: frozenset[int] | None
    source: str

    @classmethod
    def of(cls, api_key: ApiKey) -> "Scope":
        store_ids = frozenset(api_key.stores.values_list("pk", flat=True))
        return cls(channel=api_key.channel, store_ids=store_ids or None, source=f"api:{api_key.prefix}")


def _valid_rows(
    rows: Sequence[dict | None], key_field: str, results: list[RowResult]
) -> Iterator[tuple[dict, RowResult]]:
    """Each row that passed validation, with its result; a key repeated within the batch is an error."""
    seen: set[str] = set()
    for index, row in enumerate(rows):
        result = RowResult(index=index)
        results.append(result)
        if row is None:
            continue
        result.key = row[key_field]
        if result.key in seen:
            result.fail("duplicate_in_batch", f"The same {key_field} appears earlier in this batch.", key_field)
            continue
        seen.add(result.key)
        yield row, result


def api_key_secret_assign(*, api_key: ApiKey) -> str:
    """Give an unsaved key its prefix and hash; the returned secret is shown once and never stored."""
    api_key.prefix = secrets.token_hex(4)
    secret = f"{api_key.prefix}.{secrets.token_urlsafe(32)}"
    api_key.key_hash = ApiKey.hash_secret(secret)
    return secret


# Scopes that write for the whole brand: only a key not limited to stores may hold them.
BRAND_WIDE_SCOPES = frozenset({ApiKey.Scope.CATALOGUE})


def api_key_scopes_default(*, store_limited: bool) -> list[str]:
    """What a new key may do unless told otherwise: everything its stores allow."""
    return [scope for scope in ApiKey.Scope.values if not (store_limited and scope in BRAND_WIDE_SCOPES)]


def api_key_scopes_check(*, scopes: Iterable[str], store_limited: bool) -> list[str]:
    """The scopes as stored (known names, in their declared order), or `invalid_scope` / `scope_needs_all_stores`."""
    given = set(scopes)
    if unknown := sorted(given - set(ApiKey.Scope.values)):
        raise ApplicationError(
            "invalid_scope", f"未知的权限范围：{', '.join(unknown)}（可选：{', '.join(ApiKey.Scope.values)}）。"
        )
    if store_limited and (brand_wide := sorted(given & BRAND_WIDE_SCOPES)):
        raise ApplicationError(
            "scope_needs_all_stores",
            f"权限范围 {', '.join(brand_wide)} 会改写全品牌的数据，只能授予不限门店的密钥"
            "（限定门店的密钥不能改写商品目录；本店库存用 stock 权限）。",
        )
    return [scope for scope in ApiKey.Scope.values if scope in given]


def api_key_scope_require(*, api_key: ApiKey, scope: str, store_limited: bool | None = None) -> None:
    """Refuse (403 `scope_missing`) an operation of `scope` to a key that lacks it; a brand-wide scope also needs a
    key not limited to stores, whatever its row says. `store_limited`: when the caller already knows."""
    if scope not in api_key.scopes:
        held = "、".join(api_key.scopes) or "无"
        raise ApplicationError("scope_missing", f"这个接口密钥没有 {scope} 权限（已有：{held}）。", status_code=403)
    if scope in BRAND_WIDE_SCOPES:
        if store_limited is None:
            store_limited = api_key.stores.exists()
        if store_limited:
            raise ApplicationError(
                "scope_missing", f"{scope} 会改写全品牌的数据，只有不限门店的密钥可以调用。", status_code=403
            )


def api_key_create(
    *, name: str, channel: str, stores: Iterable[Store] = (), scopes: Iterable[str] | None = None
) -> tuple[ApiKey, str]:
    """Create a key for a brand system; the secret ("<prefix>.<random>") is stored only hashed. `scopes`: what it
    may do (default: everything its stores allow, see api_key_scopes_default)."""
    stores = list(stores)
    store_limited = bool(stores)
    if scopes is None:
        scopes = api_key_scopes_default(store_limited=store_limited)
    api_key = ApiKey(
        name=name, channel=channel, scopes=api_key_scopes_check(scopes=scopes, store_limited=store_limited)
    )
    secret = api_key_secret_assign(api_key=api_key)
    api_key.save()
    api_key.stores.set(stores)
    return api_key, secret


def _stores_by_code(codes: Iterable[str]) -> dict[str, Store]:
    codes = {code for code in codes if code}
    return {store.code: store for store in Store.objects.filter(code__in=codes)} if codes else {}


def _store_for(
    row: dict, result: RowResult, stores: dict[str, Store], scope: Scope, field_name: str = "store"
) -> Store | None:
    code = row.get("store") or ""
    if not code:
        return None
    store = stores.get(code)
    if store is None:
        result.fail("unknown_store", f"No store with code {code!r}.", field_name)
    elif scope.store_ids is not None and store.pk not in scope.store_ids:
        result.fail("store_not_allowed", f"This API key may not write for store {code!r}.", field_name)
    return store


# Members ---------------------------------------------------------------------------------------


def members_upsert(*, scope: Scope, members: Sequence[dict | None]) -> list[RowResult]:
    """Resolve each member to its One ID customer. `None` rows failed validation and are skipped."""
    stores = _stores_by_code(row.get("store", "") for row in members if row)
    associates = _associates_by_userid(row.get("associate", "") for row in members if row)
    kind = CHANNEL_MEMBER_IDENTITY_KIND[scope.channel]
    results: list[RowResult] = []
    standings: dict[int, tuple[dict, RowResult]] = {}
    for row, result in _valid_rows(members, "external_id", results):
        store = _store_for(row, result, stores, scope)
        associate = associates.get(row.get("associate") or "")
        if row.get("associate") and associate is None:
            result.fail("unknown_associate", f"No associate {row['associate']!r}.", "associate")
        if result.errors:
            continue
        identities = [(kind, row["external_id"])] + [
            (item["kind"], item["value"]) for item in row.get("identities", [])
        ]
        profile = Profile(
            name=row.get("name"),
            gender=row.get("gender"),
            birthday=row.get("birthday"),
            phone=row.get("phone"),
            primary_store=store,
            primary_associate=associate,
            marketing_consent=row.get("marketing_consent"),
            opted_out=row.get("opted_out"),
        )
        try:
            resolution = customer_resolve(identities=identities, source=scope.source, profile=profile)
        except ApplicationError as error:
            field_name = error.details.get("field", "") if isinstance(error.details, dict) else ""
            result.fail(error.code, error.message, field_name)
            continue
        result.id = resolution.customer.pk
        result.status = "created" if resolution.created else "updated" if resolution.changed else "unchanged"
        if loyalty := {name: row[name] for name in MEMBERSHIP_FIELDS if name in row}:
            standings[resolution.customer.pk] = (loyalty, result)
        if resolution.conflict is not None:
            result.errors.append(
                {
                    "field": "identities",
                    "code": "identity_conflict",
                    "message": f"Identities belong to several customers; recorded as conflict "
                    f"#{resolution.conflict.pk} for review.",
                }
            )
    _memberships_apply(standings)
    return results


# The loyalty system's figures a member row may carry (customers.Membership); Omni keeps them, computes none.
MEMBERSHIP_FIELDS = ("level", "points", "points_expiring", "points_expire_on")


def _memberships_apply(standings: dict[int, tuple[dict, RowResult]]) -> None:
    """Write the members' loyalty figures set-based: one read, one insert, one update. Only the fields a row
    sends change; a row whose figures changed answers `updated`."""
    if not standings:
        return
    current = {m.pk: m for m in Membership.objects.filter(pk__in=standings)}
    now = timezone.now()
    to_create, to_update = [], []
    for customer_id, (loyalty, result) in standings.items():
        membership = current.get(customer_id)
        if membership is None:
            to_create.append(Membership(customer_id=customer_id, **loyalty))
        elif changed := [name for name in loyalty if getattr(membership, name) != loyalty[name]]:
            for name in changed:
                setattr(membership, name, loyalty[name])
            membership.updated_at = now
            to_update.append(membership)
        else:
            continue
        if result.status == "unchanged":
            result.status = "updated"
    Membership.objects.bulk_create(to_create)
    Membership.objects.bulk_update(to_update, [*MEMBERSHIP_FIELDS, "updated_at"])


def _associates_by_userid(userids: Iterable[str]) -> dict[str, Associate]:
    userids = {userid for userid in userids if userid}
    return {a.wecom_userid: a for a in Associate.objects.filter(wecom_userid__in=userids)} if userids else {}


# Products --------------------------------------------------------------------------------------

PRODUCT_FIELDS = ("name", "category", "size", "style_code", "price", "image_url", "is_active", "online_stock")
PRODUCT_FIELDS += ("barcode",)


@transaction.atomic
def products_upsert(*, scope: Scope, products: Sequence[dict | None]) -> list[RowResult]:
    """Upsert products by sku, and the stock levels given for stores the key may write."""
    skus = [row["sku"] for row in products if row]
    existing = {
        product.sku: product
        for product in Product.objects.select_for_update(no_key=True).filter(sku__in=skus).order_by("pk")
    }
    stores = _stores_by_code(item["store"] for row in products if row for item in row.get("stock", []))
    results: list[RowResult] = []
    to_create, to_update, stock_rows = [], [], []
    for row, result in _valid_rows(products, "sku", results):
        row_stock = []
        for position, item in enumerate(row.get("stock", [])):
            store = _store_for(item, result, stores, scope, f"stock[{position}].store")
            if store is not None and not result.errors:
                row_stock.append((store, item["quantity"]))
        if result.errors:
            continue
        product = existing.get(row["sku"])
        if product is None:
            product = Product(sku=row["sku"], **{name: row[name] for name in PRODUCT_FIELDS if name in row})
            to_create.append(product)
            result.status = "created"
        else:
            changed = [name for name in PRODUCT_FIELDS if name in row and getattr(product, name) != row[name]]
            for name in changed:
                setattr(product, name, row[name])
            if changed:
                to_update.append(product)
                result.status = "updated"
        stock_rows.extend((product, store, quantity, result) for store, quantity in row_stock)
    Product.objects.bulk_create(to_create)
    if to_update:
        Product.objects.bulk_update(to_update, PRODUCT_FIELDS)
    _stock_apply(stock_rows)
    saved = existing | {product.sku: product for product in to_create}
    for result in results:
        if result.status != "error" and result.key:
            result.id = saved[result.key].pk
    return results


# Stock ------------------------------------------------------------------------------------------


def stock_row_key(row: Any) -> str:
    """A stock row's natural key as its result names it: "<sku>@<store>"."""
    if not isinstance(row, dict):
        return ""
    return f"{row.get('sku') or ''}@{row.get('store') or ''}"[:128]


@transaction.atomic
def stock_upsert(*, scope: Scope, stock: Sequence[dict | None]) -> list[RowResult]:
    """Set the quantity of each (sku, store): a store's POS sends its own stock, and only its own — a store the key
    may not write is a row error (`store_not_allowed`) and nothing of that row is written. `None` rows failed
    validation and are skipped. A quantity given for the first time or changed answers `updated`."""
    rows = [row for row in stock if row]
    # The products' rows serialize writers of the same stock (two first reports would both insert it), in a fixed
    # lock order; FOR NO KEY UPDATE leaves order lines free to reference the products meanwhile.
    products = {
        product.sku: product
        for product in Product.objects.select_for_update(no_key=True)
        .filter(sku__in={row["sku"] for row in rows})
        .order_by("pk")
    }
    stores = _stores_by_code(row["store"] for row in rows)
    results: list[RowResult] = []
    seen: set[str] = set()
    stock_rows = []
    for index, row in enumerate(stock):
        result = RowResult(index=index)
        results.append(result)
        if row is None:
            continue
        result.key = stock_row_key(row)
        if result.key in seen:
            result.fail("duplicate_in_batch", "The same sku and store appear earlier in this batch.", "store")
            continue
        seen.add(result.key)
        store = _store_for(row, result, stores, scope)
        product = products.get(row["sku"])
        if product is None:
            result.fail("unknown_sku", f"No product with sku {row['sku']!r}.", "sku")
        if not result.errors:
            stock_rows.append((product, store, row["quantity"], result))
    _stock_apply(stock_rows)
    return results


def _stock_apply(rows: list[tuple[Product, Store, int, RowResult]]) -> None:
    if not rows:
        return
    current = {
        (stock.product_id, stock.store_id): stock
        for stock in StoreStock.objects.filter(
            product_id__in={product.pk for product, *_ in rows}, store_id__in={store.pk for _, store, *_ in rows}
        )
    }
    to_create, to_update = [], []
    for product, store, quantity, result in rows:
        stock = current.get((product.pk, store.pk))
        if stock is None:
            to_create.append(StoreStock(product=product, store=store, quantity=quantity))
        elif stock.quantity != quantity:
            stock.quantity = quantity
            to_update.append(stock)
        else:
            continue
        if result.status == "unchanged":
            result.status = "updated"
    StoreStock.objects.bulk_create(to_create)
    StoreStock.objects.bulk_update(to_update, ["quantity", "updated_at"])


# Orders ----------------------------------------------------------------------------------------


def orders_upsert(*, scope: Scope, orders: Sequence[dict | None]) -> list[RowResult]:
    """Record each order once by (channel, external_id); a replay changes nothing.

    All good rows are written in one transaction with set-based inserts. If a concurrent request
    inserted one of the same orders first, the whole batch is retried once, and the retry sees those
    orders as replays.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                results = _orders_upsert(scope, orders)
                _orders_recorded_later(results)
                return results
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _orders_upsert(scope: Scope, orders: Sequence[dict | None]) -> list[RowResult]:
    rows = [row for row in orders if row]
    stores = _stores_by_code(row.get("store", "") for row in rows)
    associates = _associates_by_userid(row.get("associate", "") for row in rows)
    products = {
        product.sku: product
        for product in Product.objects.filter(sku__in={line["sku"] for row in rows for line in row["lines"]})
    }
    existing = {
        order.external_id: order
        for order in Order.objects.select_for_update(no_key=True)
        .filter(channel=scope.channel, external_id__in=[row["external_id"] for row in rows])
        .order_by("pk")
        .prefetch_related("lines__product")
    }
    customers = _CustomerLookup(scope, rows)

    results: list[RowResult] = []
    new_orders: list[tuple[Order, list[OrderLine]]] = []
    changed_orders: list[Order] = []
    for row, result in _valid_rows(orders, "external_id", results):
        store = _store_for(row, result, stores, scope)
        if store is None and scope.channel == Channel.STORE_POS and not result.errors:
            result.fail("store_required", "Store POS orders need the store code.", "store")
        associate = associates.get(row.get("associate") or "")
        if row.get("associate") and associate is None:
            result.fail("unknown_associate", f"No associate {row['associate']!r}.", "associate")
        lines = []
        for position, line in enumerate(row["lines"]):
            product = products.get(line["sku"])
            if product is None:
                result.fail("unknown_sku", f"No product with sku {line['sku']!r}.", f"lines[{position}].sku")
                continue
            lines.append(
                OrderLine(
                    line_no=position + 1,
                    product=product,
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                    discount=line.get("discount", Decimal("0.00")),
                )
            )
        if result.errors:
            continue
        order = existing.get(row["external_id"])
        if order is not None and scope.store_ids is not None and order.store_id not in scope.store_ids:
            # The row may name the key's store, but the order it changes is the recorded one.
            result.fail("store_not_allowed", "This order was recorded for a store this API key may not write.", "store")
            continue
        if order is not None:
            _order_compare(order, row, lines, associate, result)
            if result.status == "updated":
                changed_orders.append(order)
            result.id = order.pk
            continue
        customer = customers.get(row, result)
        if result.errors:
            continue
        order = Order(
            channel=scope.channel,
            external_id=row["external_id"],
            store=store,
            customer=customer,
            associate=associate,
            placed_at=row["placed_at"],
            status=row.get("status", Order.Status.COMPLETED),
            fulfilment=row.get("fulfilment") or _default_fulfilment(scope.channel),
            currency=row.get("currency", "CNY"),
            total_amount=sum((line.amount for line in lines), Decimal("0.00")),
        )
        new_orders.append((order, lines))
        result.status = "created"

    Order.objects.bulk_create([order for order, _ in new_orders])
    for order, lines in new_orders:
        for line in lines:
            line.order = order
    OrderLine.objects.bulk_create([line for _, lines in new_orders for line in lines])
    if changed_orders:
        now = timezone.now()
        for order in changed_orders:
            order.updated_at = now
        Order.objects.bulk_update(changed_orders, [*ORDER_MUTABLE_FIELDS, "updated_at"])
    by_key = {order.external_id: order for order, _ in new_orders}
    for result in results:
        if result.status == "created":
            result.id = by_key[result.key].pk
    return results


# Upper apps hear of the orders a batch recorded (created or changed), after it commits: e.g. fulfilment turns a
# store-pickup order into a pickup. A hook only queues its own work; a lost call is caught by that app's sweep.
OrdersRecordedHook = Callable[[list[int]], None]
_orders_recorded_hooks: list[OrdersRecordedHook] = []


def orders_recorded_register(hook: OrdersRecordedHook) -> OrdersRecordedHook:
    """Register `hook(order_ids)`, called after each orders batch commits with the ids it created or changed."""
    if hook not in _orders_recorded_hooks:
        _orders_recorded_hooks.append(hook)
    return hook


def _orders_recorded_later(results: list[RowResult]) -> None:
    order_ids = [result.id for result in results if result.status in ("created", "updated") and result.id]
    if not order_ids:
        return
    for hook in _orders_recorded_hooks:
        # robust: the batch is committed and answered whatever a hook does (its app's sweep makes up for it).
        transaction.on_commit(functools.partial(hook, order_ids), robust=True)


def _default_fulfilment(channel: str) -> str:
    return Order.Fulfilment.IN_STORE if channel == Channel.STORE_POS else Order.Fulfilment.DELIVERY


def _order_compare(order: Order, row: dict, lines: list[OrderLine], associate, result: RowResult) -> None:
    stored = [(line.product.sku, line.quantity, line.unit_price, line.discount) for line in order.lines.all()]
    incoming = [(line.product.sku, line.quantity, line.unit_price, line.discount) for line in lines]
    if sorted(stored) != sorted(incoming):
        result.fail(
            "order_lines_changed",
            "This order was already recorded with other lines; lines never change. "
            "Send a return as a status change or as a separate order with negative lines.",
            "lines",
        )
        return
    wanted = {
        "status": row.get("status", order.status),
        "fulfilment": row.get("fulfilment") or order.fulfilment,
        "associate_id": associate.pk if associate else order.associate_id,
    }
    changed = [name for name in ORDER_MUTABLE_FIELDS if getattr(order, name) != wanted[name]]
    for name in changed:
        setattr(order, name, wanted[name])
    result.status = "updated" if changed else "unchanged"


class _CustomerLookup:
    """Finds each order's customer: known identities in one query, the rest through One ID."""

    def __init__(self, scope: Scope, rows: list[dict]):
        self.scope = scope
        self.member_kind = CHANNEL_MEMBER_IDENTITY_KIND[scope.channel]
        pairs = {pair for row in rows for pair in self._pairs(row, strict=False)}
        by_kind: dict[str, set[str]] = defaultdict(set)
        for kind, value in pairs:
            by_kind[kind].add(value)
        query = Q(pk__in=[])
        for kind, values in by_kind.items():
            query |= Q(kind=kind, value__in=values)
        self.owners = dict(
            ((kind, value), customer_id)
            for kind, value, customer_id in Identity.objects.filter(query).values_list("kind", "value", "customer_id")
        )

    def _pairs(self, row: dict, *, strict: bool) -> list[tuple[str, str]]:
        ref = row.get("customer") or {}
        raw = [(f"identities[{n}]", item["kind"], item["value"]) for n, item in enumerate(ref.get("identities", []))]
        if ref.get("member_id"):
            raw.append(("member_id", self.member_kind, ref["member_id"]))
        if ref.get("phone"):
            raw.append(("phone", Identity.Kind.PHONE, ref["phone"]))
        pairs = []
        for field_name, kind, value in raw:
            try:
                pairs.append((kind, identity_normalize(kind=kind, value=value)))
            except ApplicationError as error:
                if strict:
                    error.details = {"field": f"customer.{field_name}"}
                    raise
        return pairs

    def get(self, row: dict, result: RowResult) -> Customer | None:
        try:
            pairs = self._pairs(row, strict=True)
        except ApplicationError as error:
            result.fail(error.code, error.message, error.details["field"])
            return None
        if not pairs:
            return None
        owners = {self.owners.get(pair) for pair in pairs}
        if len(owners) == 1 and None not in owners:
            return Customer(pk=owners.pop())
        ref = row["customer"]
        resolution = customer_resolve(
            identities=pairs,
            source=self.scope.source,
            profile=Profile(name=ref.get("name")),
        )
        for pair in resolution.identities_added:
            self.owners[pair] = resolution.customer.pk
        return resolution.customer
