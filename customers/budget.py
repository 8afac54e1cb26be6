"""One contact budget per customer, across associates and channels: at most N marketing contacts a week (Monday
to Sunday, Asia/Shanghai), N the customer's store's `ContactBudget`, else the brand's, else
settings.OMNI_CONTACT_BUDGET_PER_WEEK. Campaigns (set-based, `contact_budget_take_many`) and the sidebar's 1:1
marketing sends (`contact_budget_spend`) take from the same weekly counter; journeys make no task for a customer
whose week is spent (`contact_budget_spent_ids`). Service messages (a pickup notice, a reply) never call here.

Concurrency (policy): the counter row `ContactCount(customer, week)` is the one place the limit is enforced, by a
guarded UPDATE … SET used = used + 1 WHERE used < limit: two senders at once both try it and at most the limit's
worth succeed. A campaign's range locks its customers' counter rows in customer id order (FOR NO KEY UPDATE)
before it decides, so a 1:1 send waits for it rather than racing it. A 1:1 send is charged once per `key` (the
send's request number): a retry answers the recorded touch.
"""

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from associates.models import Associate
from customers.consent import consent_marketing_check
from customers.models import ContactBudget, ContactCount, ContactOverride, ContactTouch, Customer
from omni.errors import ApplicationError

CORP_TZ = ZoneInfo("Asia/Shanghai")


@dataclasses.dataclass(frozen=True)
class Policy:
    per_week: int
    allow_override: bool


@dataclasses.dataclass(frozen=True)
class BudgetStatus:
    used: int
    limit: int
    mine: int  # this associate's own 1:1 contacts this week
    allow_override: bool
    override_ready: bool  # an override she recorded waits for her next send

    @property
    def others(self) -> int:
        return max(0, self.used - self.mine)

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


@dataclasses.dataclass(frozen=True)
class Spent:
    touch: ContactTouch
    created: bool


def contact_week(now: dt.datetime | None = None) -> dt.date:
    """The Monday of `now`'s week in Asia/Shanghai."""
    local = (now or timezone.now()).astimezone(CORP_TZ).date()
    return local - dt.timedelta(days=local.weekday())


def contact_budget_brand() -> Policy:
    row = ContactBudget.objects.filter(store__isnull=True).first()
    if row is not None:
        return Policy(row.per_week, row.allow_override)
    return Policy(getattr(settings, "OMNI_CONTACT_BUDGET_PER_WEEK", 3), False)


def contact_budget_policy(*, store_id: int | None) -> Policy:
    """The budget of a customer of `store_id`: the store's override, else the brand's."""
    row = ContactBudget.objects.filter(store_id=store_id).first() if store_id else None
    return Policy(row.per_week, row.allow_override) if row is not None else contact_budget_brand()


def _policy_of(customer_id: int) -> Policy:
    store_id = Customer.objects.filter(pk=customer_id).values_list("primary_store_id", flat=True).first()
    return contact_budget_policy(store_id=store_id)


def contact_budget_status(
    *, customer_id: int, associate: Associate | None = None, now: dt.datetime | None = None
) -> BudgetStatus:
    week = contact_week(now)
    policy = _policy_of(customer_id)
    used = ContactCount.objects.filter(customer_id=customer_id, week=week).values_list("used", flat=True).first()
    mine, ready = 0, False
    if associate is not None:
        mine = ContactTouch.objects.filter(customer_id=customer_id, week=week, associate=associate).count()
        ready = ContactOverride.objects.filter(
            customer_id=customer_id, associate=associate, week=week, used_at__isnull=True
        ).exists()
    return BudgetStatus(used or 0, policy.per_week, mine, policy.allow_override, ready)


def _exceeded(*, used: int, policy: Policy) -> ApplicationError:
    hint = "如确有必要，可记录例外原因后再发送一次。" if policy.allow_override else "请下周再联系。"
    return ApplicationError(
        "contact_budget_exceeded",
        f"该客户本周已被联系 {used} 次，已达每周上限 {policy.per_week} 次。{hint}",
        details={"used": used, "limit": policy.per_week, "allow_override": policy.allow_override},
        status_code=409,
    )


def contact_budget_spend(
    *, customer_id: int, associate: Associate | None, channel: str, key: str, now: dt.datetime | None = None
) -> Spent:
    """Charge one marketing contact to the customer's week, or raise `contact_budget_exceeded` (409). Over the
    limit, an override the associate recorded this week (`contact_override_record`) is taken instead, and the touch
    is marked as the override. Run inside the send's transaction, so a send that fails gives the unit back."""
    existing = ContactTouch.objects.filter(key=key).first()
    if existing is not None:
        return Spent(existing, False)
    now = now or timezone.now()
    week = contact_week(now)
    policy = _policy_of(customer_id)
    try:
        with transaction.atomic():
            ContactCount.objects.bulk_create([ContactCount(customer_id=customer_id, week=week)], ignore_conflicts=True)
            counter = ContactCount.objects.filter(customer_id=customer_id, week=week)
            taken = counter.filter(used__lt=policy.per_week).update(used=F("used") + 1)
            override = None
            if not taken:
                if associate is not None and policy.allow_override:
                    override = (
                        ContactOverride.objects.select_for_update()
                        .filter(customer_id=customer_id, associate=associate, week=week, used_at__isnull=True)
                        .order_by("pk")
                        .first()
                    )
                if override is None:
                    raise _exceeded(used=counter.values_list("used", flat=True).get(), policy=policy)
                ContactOverride.objects.filter(pk=override.pk).update(used_at=now)
                counter.update(used=F("used") + 1)
            touch = ContactTouch.objects.create(
                customer_id=customer_id,
                associate=associate,
                channel=channel,
                key=key,
                week=week,
                at=now,
                override=override is not None,
                override_reason=override.reason if override is not None else "",
            )
    except IntegrityError:
        # The same send charged by a concurrent retry: answer its touch.
        return Spent(ContactTouch.objects.get(key=key), False)
    return Spent(touch, True)


def contact_override_record(
    *, customer_id: int, associate: Associate, reason: str, now: dt.datetime | None = None
) -> ContactOverride:
    """Log an associate's exception to the budget (one more send this week), where the customer's store allows it."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("override_reason_required", "请填写例外原因。")
    if not _policy_of(customer_id).allow_override:
        raise ApplicationError("contact_override_not_allowed", "本店不允许超出联系预算。", status_code=403)
    week = contact_week(now)
    waiting = ContactOverride.objects.filter(
        customer_id=customer_id, associate=associate, week=week, used_at__isnull=True
    ).first()
    if waiting is not None:
        return waiting
    return ContactOverride.objects.create(customer_id=customer_id, associate=associate, week=week, reason=reason[:200])


def _limit_expression(brand: Policy):
    store_limit = ContactBudget.objects.filter(store_id=OuterRef("customer__primary_store_id")).values("per_week")[:1]
    return Coalesce(Subquery(store_limit), Value(brand.per_week), output_field=IntegerField())


def contact_budget_spent_ids(*, now: dt.datetime | None = None) -> QuerySet:
    """The ids of the customers whose marketing contacts this week reached their limit (for an anti-join)."""
    return (
        ContactCount.objects.filter(week=contact_week(now))
        .annotate(limit=_limit_expression(contact_budget_brand()))
        .filter(used__gte=F("limit"))
        .values("customer_id")
    )


def contact_budget_take_many(*, stage: str, reason_column: str, skip_reason: str, now: dt.datetime) -> None:
    """A campaign's range, set-based: the rows of the temporary table `stage` (customer_id, `reason_column`) still
    going out (reason '') each take a unit of their customer's week; those whose week is spent get `skip_reason`.
    Runs inside the range's transaction; no row per customer passes through Python."""
    week = contact_week(now)
    brand = contact_budget_brand()
    quote = connection.ops.quote_name
    counts, budgets, customers = (
        quote(ContactCount._meta.db_table),
        quote(ContactBudget._meta.db_table),
        quote(Customer._meta.db_table),
    )
    going = f"SELECT customer_id FROM {stage} WHERE {reason_column} = ''"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement, one write per recipient: each going customer's week is inserted with its unit, or its
            # existing row (locked by the upsert, in customer-id order like the 1:1 sends' guarded UPDATE) takes one
            # while under its limit; whoever got no unit is skipped. A 1:1 send meeting the same row waits for it.
            limit = (
                f"(SELECT COALESCE(b.per_week, %(brand)s) FROM {customers} c LEFT JOIN {budgets} b "
                f"ON b.store_id = c.primary_store_id WHERE c.id = {{customer}})"
            )
            # A week of 0 (marketing off) is the one limit a new row can be over: read each customer's limit for
            # new rows only when some budget says 0.
            zero = brand.per_week == 0 or ContactBudget.objects.filter(per_week=0).exists()
            allowed = f"WHERE {limit.format(customer='g.customer_id')} > 0 " if zero else ""
            cursor.execute(
                f"WITH taken AS (INSERT INTO {counts} AS n (customer_id, week, used) "
                f"SELECT g.customer_id, %(week)s, 1 FROM (SELECT DISTINCT customer_id FROM {stage} "
                f"WHERE {reason_column} = '') g {allowed}"
                f"ORDER BY g.customer_id "
                f"ON CONFLICT (customer_id, week) DO UPDATE SET used = n.used + 1 "
                f"WHERE n.used < {limit.format(customer='n.customer_id')} RETURNING n.customer_id) "
                f"UPDATE {stage} SET {reason_column} = %(skip)s WHERE {reason_column} = '' "
                f"AND customer_id NOT IN (SELECT customer_id FROM taken)",
                {"brand": brand.per_week, "week": week, "skip": skip_reason},
            )
            return
        # SQLite reads "INSERT … SELECT … ON CONFLICT" as a join's ON without a WHERE in the SELECT.
        cursor.execute(
            f"INSERT INTO {counts} (customer_id, week, used) SELECT customer_id, %s, 0 FROM {stage} "
            f"WHERE {reason_column} = '' ON CONFLICT (customer_id, week) DO NOTHING",
            [week],
        )
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {counts} WHERE week = %s AND customer_id IN ({going}) "
                f"ORDER BY customer_id FOR NO KEY UPDATE) locked",
                [week],
            )
        cursor.execute(
            f"UPDATE {stage} SET {reason_column} = %s WHERE {reason_column} = '' AND customer_id IN ("
            f"SELECT n.customer_id FROM {counts} n JOIN {customers} c ON c.id = n.customer_id "
            f"LEFT JOIN {budgets} b ON b.store_id = c.primary_store_id "
            f"WHERE n.week = %s AND n.used >= COALESCE(b.per_week, %s))",
            [skip_reason, week, brand.per_week],
        )
        cursor.execute(
            f"UPDATE {counts} SET used = used + 1 WHERE week = %s AND customer_id IN ({going})",
            [week],
        )


def marketing_contact_charge(
    *, customer_id: int, associate: Associate | None, channel: str, key: str, now: dt.datetime | None = None
) -> Spent:
    """What every 1:1 marketing send calls first, in its transaction: refused when the customer opted out
    (`customer_opted_out`), else charged to the week's budget (`contact_budget_exceeded` when it is spent)."""
    consent_marketing_check(customer_id=customer_id)
    return contact_budget_spend(customer_id=customer_id, associate=associate, channel=channel, key=key, now=now)
