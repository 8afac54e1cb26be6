"""Sending a pack to many customers (a campaign's chunk): `coupon_pack_send_many`, set-based, a batch of
thousands per transaction, all of a pack or none per customer.

This is the fast equivalent of `coupons.sending.coupon_pack_send`, which decides the same rules one customer at a
time with a conditional UPDATE per limit. Here one batch reads what every customer already holds, serves customers
in the given order while budget, stock and the templates' daily limits last, writes the ledger and the coupons
(PostgreSQL: one INSERT … SELECT; SQLite: `omni.bulk`), and takes the counters under the pack's and its templates'
row locks (single sends wait); on PostgreSQL the rows are written before the locks are taken and everything decided
on is read again under them (`_send_batch`). What both paths decide, and what must be changed in both together:

- the request number: "<request_prefix>:<customer id>" here; a replay writes nothing (`replayed`);
- the pack running and its budget (`pack_unavailable`, `budget_exhausted`), each template running, its window not
  ended, its stock and per-day limit (`template_unavailable`, `template_ended`, `out_of_stock`,
  `daily_limit_reached`), the customer's per-template limit (`limit_reached`);
- what is written: the `IssueRequest` row (cost, associate and the associate's store), one `Coupon` per unit of
  each item with its window, and the counters: the pack's `spent`, each template's `issued_count`, `TemplateDay`,
  `CustomerHolding`.

Where they differ, on purpose: a campaign is approved by a manager, so neither who may send the pack
(`coupon_pack_sendable`) nor the associate's daily quota applies; a refusal skips the customer (`skipped`, by
code) instead of raising; a merged customer is skipped as `customer_not_found` (a campaign's audience is read
from live customers) where a single send resolves it to the survivor; and when several rules refuse, the code
named may differ. tests/test_till_equivalence.py runs both paths on the same inputs and compares the rows.
"""

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from associates.models import Associate
from coupons.models import (
    Coupon,
    CouponPack,
    CouponPackItem,
    CouponTemplate,
    CustomerHolding,
    IssueRequest,
    TemplateDay,
)
from coupons.sending import code_draw, codes_draw, counter_take, coupon_pack_cost, pack_items
from coupons.validity import coupon_window, local_day
from customers.models import Customer
from omni.bulk import bulk_copy, next_ids
from omni.errors import ApplicationError


@dataclasses.dataclass
class ManySent:
    issued: int = 0  # customers who received the pack in this call
    replayed: int = 0  # customers who had already received it under this request prefix
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason → customers left without it

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def coupon_pack_send_many(
    *,
    pack_id: int,
    recipients: Iterable[tuple[int, int | None]],
    request_prefix: str,
    source: str = IssueRequest.Source.CAMPAIGN,
    now: dt.datetime | None = None,
    batch_size: int = 5000,
) -> ManySent:
    """Issue the pack to each (customer id, crediting associate id or None), all of a pack or none per customer.

    Each customer's request number is "<request_prefix>:<customer id>", so running a campaign again issues only
    to those not yet served. The pack's and templates' rows are locked for the batch's counters (single sends
    wait; concurrent batches write their rows side by side), and customers are served in the given order until
    stock, budget or a day's limit runs out. Associates' daily
    quotas do not apply: a campaign is approved by a manager. `recipients` is consumed a batch at a time, so a
    generator reading them from the database keeps memory flat however many there are.
    """
    result = ManySent()
    now = now or timezone.now()
    pending = iter(recipients)
    postgres = connection.vendor == "postgresql"
    while chunk := list(itertools.islice(pending, batch_size)):
        for attempt in range(3):
            try:
                with transaction.atomic():
                    if postgres:
                        # The batch's commit does not wait for its WAL to reach the disk: a crash of the database
                        # server may lose the last batches committed (well under a second), never half of one. Nothing
                        # else depends on them being durable: any later ordinary commit (the chunk marked created, the
                        # campaign's progress) flushes the WAL before it, batches included, and a replay issues what
                        # was lost, once, by request number.
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit = off")
                    batch = ManySent()
                    try:
                        with transaction.atomic():
                            _send_batch(pack_id, chunk, request_prefix, source, now, batch, optimistic=postgres)
                    except _Moved:
                        batch = ManySent()
                        _send_batch(pack_id, chunk, request_prefix, source, now, batch, optimistic=False)
                result.issued += batch.issued
                result.replayed += batch.replayed
                for reason, count in batch.skipped.items():
                    result.skip(reason, count)
                break
            except IntegrityError:
                # A clash of two random coupon codes (draw new ones), or a request number another worker wrote
                # first (read it as done).
                if attempt == 2:
                    raise
    return result


class _Moved(Exception):
    """Between the batch's unlocked reading and its locking, something it decided on changed: redo it locked."""


@dataclasses.dataclass
class _State:
    pack: CouponPack
    items: list[CouponPackItem]
    templates: dict[int, CouponTemplate]
    windows: dict[int, tuple[dt.datetime, dt.datetime]]
    refusal: str  # why no customer of the batch can have the pack, or ""


def _state(pack_id: int, now: dt.datetime, *, lock: bool) -> _State:
    """The pack, its items and templates (locked in the fixed order when `lock`), and whether they can issue now."""
    packs = CouponPack.objects.select_for_update(no_key=True) if lock else CouponPack.objects
    pack = packs.filter(pk=pack_id).first()
    if pack is None:
        raise ApplicationError("pack_not_found", "没有找到这个券包。", status_code=404)
    items = pack_items(pack)
    templates_qs = CouponTemplate.objects.select_for_update(no_key=True) if lock else CouponTemplate.objects
    templates = {
        template.pk: template
        for template in templates_qs.filter(pk__in=[item.template_id for item in items]).order_by("pk")
    }
    windows = {pk: coupon_window(template=template, issued_at=now) for pk, template in templates.items()}
    refusal = ""
    if pack.status != CouponPack.Status.RUNNING:
        refusal = "pack_unavailable"
    elif any(template.status != CouponTemplate.Status.RUNNING for template in templates.values()):
        refusal = "template_unavailable"
    elif any(ends <= now for _, ends in windows.values()):
        refusal = "template_ended"
    return _State(pack, items, templates, windows, refusal)


def _holdings(state: _State, customers: list[int]) -> dict[tuple[int, int], int]:
    """(template, customer) → coupons held, of the pack's templates. Read by customer alone (one descent of the
    primary key (customer, template) each; a condition on the template too would make it one per pair)."""
    held: dict[tuple[int, int], int] = {}
    for template_id, customer_id, issued in CustomerHolding.objects.filter(
        _among("customer_id", customers)
    ).values_list("template_id", "customer_id", "issued"):
        if template_id in state.templates:
            held[template_id, customer_id] = issued
    return held


def _within_limits(state: _State, held: dict[tuple[int, int], int], customers: list[int]) -> list[int]:
    """The customers whose holdings stay within every template's per-customer limit with the pack added."""
    limits = [(i.template_id, i.quantity, state.templates[i.template_id].per_customer_limit) for i in state.items]
    if any(quantity > limit for _, quantity, limit in limits):
        return []
    if not held:
        return list(customers)
    return [c for c in customers if all(held.get((t, c), 0) + quantity <= limit for t, quantity, limit in limits)]


def _fit(state: _State, now: dt.datetime, wanted: int) -> tuple[str, int]:
    """How many packs budget, stock and today's limits still allow, and the limit that allows the fewest."""
    today = local_day(now)
    day_issued = dict(
        TemplateDay.objects.filter(template_id__in=list(state.templates), day=today).values_list(
            "template_id", "issued"
        )
    )
    cost = coupon_pack_cost(items=state.items)
    pack = state.pack
    fits = {"budget_exhausted": int((pack.budget - pack.spent) // cost) if cost else wanted}
    for item in state.items:
        template = state.templates[item.template_id]
        fits[f"out_of_stock:{template.pk}"] = (template.total_stock - template.issued_count) // item.quantity
        if template.per_day_limit is not None:
            left = template.per_day_limit - day_issued.get(template.pk, 0)
            fits[f"daily_limit_reached:{template.pk}"] = max(0, left) // item.quantity
    reason, fit = min(fits.items(), key=lambda pair: pair[1])
    return reason.split(":")[0], max(0, fit)


def _send_batch(
    pack_id: int,
    chunk: Sequence[tuple[int, int | None]],
    prefix: str,
    source: str,
    now: dt.datetime,
    result: ManySent,
    *,
    optimistic: bool,
) -> None:
    """Decide and write one batch. Locked (the reference order): lock the pack and templates, decide, write. Optimistic
    (PostgreSQL, when the unlocked reading serves every eligible customer): decide on an unlocked reading, write the
    ledger rows and coupons with their foreign keys checked at once, and only then lock the pack and templates, read
    again everything decided on, and take the counters; if anything moved, `_Moved` has the caller redo the batch
    locked. The locks are then held for the counters alone, so concurrent batches of a campaign (its chunks on
    several workers) write their rows side by side instead of one after another."""
    state = _state(pack_id, now, lock=not optimistic)
    if state.refusal:
        if optimistic:
            raise _Moved
        result.skip(state.refusal, len(chunk))
        return

    by_customer = dict(chunk)
    request_nos = {f"{prefix}:{customer_id}": customer_id for customer_id in by_customer}
    done = set(
        IssueRequest.objects.filter(_among("request_no", list(request_nos), sql_type="text")).values_list(
            "request_no", flat=True
        )
    )
    undone = [c for n, c in request_nos.items() if n not in done]
    live = set(Customer.objects.filter(_among("id", undone), merged_into__isnull=True).values_list("pk", flat=True))
    todo = [c for c in undone if c in live]
    held = _holdings(state, todo)
    eligible = _within_limits(state, held, todo)
    reason, fit = _fit(state, now, len(eligible))
    served = eligible[:fit]
    if optimistic and len(served) < len(eligible):
        raise _Moved  # a limit runs out in this batch: who is served is decided under the locks
    if served:
        items, windows, cost = state.items, state.windows, coupon_pack_cost(items=state.items)
        if optimistic:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        _write_rows(pack_id, items, windows, served, by_customer, prefix, source, cost, now)
        if optimistic:
            # Back to Django's deferred checks: a caller's transaction around the batch (a savepoint then) must not
            # go on with every constraint immediate.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            locked = _state(pack_id, now, lock=True)
            same_items = [(i.template_id, i.quantity) for i in locked.items] == [
                (i.template_id, i.quantity) for i in items
            ]
            if locked.refusal or not same_items or locked.windows != windows:
                raise _Moved
            if _fit(locked, now, len(served))[1] < len(served):
                raise _Moved
            state = locked
        # Optimistic: the holdings read unlocked are checked by the writes themselves, under the templates' locks.
        _holdings_add(state, served, held, checked=optimistic)
        today = local_day(now)
        for item in items:
            quantity = item.quantity * len(served)
            CouponTemplate.objects.filter(pk=item.template_id).update(issued_count=F("issued_count") + quantity)
            if state.templates[item.template_id].per_day_limit is not None:
                counter_take(
                    TemplateDay._meta.db_table,
                    "issued",
                    {"template_id": item.template_id, "day": today},
                    quantity,
                    state.templates[item.template_id].per_day_limit,
                )
        CouponPack.objects.filter(pk=pack_id).update(spent=F("spent") + cost * len(served))
    result.replayed += len(done)
    result.skip("customer_not_found", len(request_nos) - len(done) - len(todo))
    result.skip("limit_reached", len(todo) - len(eligible))
    result.skip(reason, len(eligible) - len(served))
    result.issued += len(served)


def _write_rows(
    pack_id: int,
    items: Sequence[CouponPackItem],
    windows: dict[int, tuple[dt.datetime, dt.datetime]],
    served: Sequence[int],
    by_customer: dict[int, int | None],
    prefix: str,
    source: str,
    cost,
    now: dt.datetime,
) -> None:
    """The ledger rows and their coupons, written by COPY (`omni.bulk`; an INSERT … SELECT generating them costs the
    database more than COPY's multi-row inserts). On PostgreSQL the coupons, three or more per customer, are written
    as COPY text lines whose constant columns are formatted once per batch rather than adapted per row."""
    associates = {
        a: s
        for a, s in Associate.objects.filter(pk__in={by_customer[c] for c in served} - {None}).values_list(
            "pk", "store_id"
        )
    }
    request_ids = next_ids(IssueRequest, len(served))
    request_columns = ["id", "request_no", "pack_id", "customer_id", "associate_id", "store_id", "source", "cost"]
    request_columns.append("created_at")
    if connection.vendor != "postgresql":
        bulk_copy(
            IssueRequest,
            request_columns,
            (
                (rid, f"{prefix}:{c}", pack_id, c, by_customer[c], associates.get(by_customer[c]), source, cost, now)
                for rid, c in zip(request_ids, served, strict=True)
            ),
        )
    else:
        if any(character in prefix for character in "\t\n\r\\"):
            raise ValueError(f"request prefix {prefix!r}: a tab, line break or backslash would need COPY escaping")
        tail = f"\t{source}\t{cost}\t{now.isoformat()}\n"
        _copy_lines(
            IssueRequest,
            request_columns,
            (
                f"{rid}\t{prefix}:{c}\t{pack_id}\t{c}\t{_copy_text(by_customer[c])}\t"
                f"{_copy_text(associates.get(by_customer[c]))}{tail}"
                for rid, c in zip(request_ids, served, strict=True)
            ),
        )
    columns = ["code", "template_id", "issue_request_id", "customer_id", "associate_id", "store_id"]
    columns += ["valid_from", "valid_until", "status", "issued_at"]
    units = [(item.template_id, *windows[item.template_id]) for item in items for _ in range(item.quantity)]
    issued = (Coupon.Status.ISSUED, now)
    if connection.vendor != "postgresql":
        bulk_copy(
            Coupon,
            columns,
            (
                (code_draw(), template, rid, c, by_customer[c], associates.get(by_customer[c]), starts, ends, *issued)
                for rid, c in zip(request_ids, served, strict=True)
                for template, starts, ends in units
            ),
        )
        return
    # Codes (letters and digits), ids and ISO times hold no tab, newline or backslash: nothing to escape.
    constant = f"\t{Coupon.Status.ISSUED}\t{now.isoformat()}\n"
    tails = [f"\t{starts.isoformat()}\t{ends.isoformat()}{constant}" for _, starts, ends in units]
    heads = [f"\t{template}\t" for template, _, _ in units]
    lines = []
    codes = iter(codes_draw(len(served) * len(units)))
    for rid, c in zip(request_ids, served, strict=True):
        associate = by_customer[c]
        who = f"{rid}\t{c}\t{_copy_text(associate)}\t{_copy_text(associates.get(associate))}"
        lines.extend(f"{next(codes)}{head}{who}{tail}" for head, tail in zip(heads, tails, strict=True))
    _copy_lines(Coupon, columns, lines)


def _copy_lines(model, columns: list[str], lines: Iterable[str]) -> None:
    """COPY `lines` (text format, each ending in a newline) into the model's table, in one write."""
    text = "".join(lines)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(map(quote, columns))}) FROM STDIN") as copy,
    ):
        copy.write(text)


def _copy_text(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def _among(column: str, values: list, *, sql_type: str = "bigint") -> Q | RawSQL:
    """`column IN values` for thousands of values: on PostgreSQL one array parameter, because psycopg takes
    longer to rewrite an IN list of 5,000 placeholders than the database takes to answer it."""
    if connection.vendor != "postgresql":
        return Q(**{f"{column}__in": values})
    return RawSQL(
        f"{connection.ops.quote_name(column)} = ANY(%s::{sql_type}[])",
        [_array_literal(values)],
        output_field=BooleanField(),
    )


def _array_literal(values: Iterable[int | str]) -> str:
    """PostgreSQL's text form of an array of ints or strings (each string quoted), cast by the statement: formatted
    here in one join rather than adapted element by element by psycopg (a sixth of a batch's Python time)."""
    return (
        "{"
        + ",".join(
            str(v) if isinstance(v, int) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
        )
        + "}"
    )


def _holdings_add(
    state: _State, customer_ids: Sequence[int], held: dict[tuple[int, int], int], *, checked: bool
) -> None:
    """Count the pack's coupons in each customer's holdings: an UPDATE of the rows read in `held`, an INSERT of
    the others. The batch holds the templates' row locks, and every writer of a holding takes its template's lock
    first, so no holding read as absent under the locks can appear before the commit (if one did, the primary key
    (customer, template) would refuse the INSERT and the batch would roll back whole); a plain INSERT is cheaper than an
    upsert's conflict check.

    `checked` (the optimistic path, whose `held` was read before the locks): the writes verify that reading instead
    of reading again — each UPDATE only where the holding stays within the template's per-customer limit, and a
    holding that appeared since is refused by the primary key; either raises `_Moved`."""
    table = connection.ops.quote_name(CustomerHolding._meta.db_table)
    with connection.cursor() as cursor:
        for item in state.items:
            limit = state.templates[item.template_id].per_customer_limit
            holding = [c for c in customer_ids if (item.template_id, c) in held]
            new = [c for c in customer_ids if (item.template_id, c) not in held]
            if checked and new and item.quantity > limit:
                raise _Moved
            if holding and connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET issued = issued + %s "
                    "WHERE template_id = %s AND customer_id = ANY(%s::bigint[]) AND issued + %s <= %s",
                    [item.quantity, item.template_id, _array_literal(holding), item.quantity, limit],
                )
                if checked and cursor.rowcount != len(holding):
                    raise _Moved
            elif holding:
                cursor.executemany(
                    f"UPDATE {table} SET issued = issued + %s WHERE template_id = %s AND customer_id = %s",
                    [(item.quantity, item.template_id, c) for c in holding],
                )
            if not new:
                continue
            if connection.vendor != "postgresql":
                cursor.executemany(
                    f"INSERT INTO {table} (template_id, customer_id, issued) VALUES (%s, %s, %s)",
                    [(item.template_id, c, item.quantity) for c in new],
                )
                continue
            insert = f"INSERT INTO {table} (template_id, customer_id, issued) "
            insert += "SELECT %s, c, %s FROM unnest(%s::bigint[]) AS c"
            if not checked:
                cursor.execute(insert, [item.template_id, item.quantity, _array_literal(new)])
                continue
            try:
                with transaction.atomic():
                    cursor.execute(insert, [item.template_id, item.quantity, _array_literal(new)])
            except IntegrityError:
                raise _Moved from None
