"""The demo's monthly targets: this month's for each store and associate, set from the figures of the 30 days before
the month (the dashboard's), a little above them, so the month pages show progress on the day of seeding."""

import datetime as dt
from decimal import ROUND_UP, Decimal

from django.db.models import Sum

from associates.models import Associate, Store
from insights.models import DailyStats
from insights.services import sales_target_save

# Targets ask for a little more than the pace of the month before, rounded up to a thousand yuan.
UPLIFT = Decimal("1.15")
ROUND_TO = Decimal("1000")
FLOOR = Decimal("5000")


def _target(gmv: Decimal | None, days_in_month: int) -> Decimal:
    month_pace = (gmv or Decimal("0")) / 30 * days_in_month * UPLIFT
    return max(FLOOR, (month_pace / ROUND_TO).quantize(Decimal("1"), rounding=ROUND_UP) * ROUND_TO)


def targets_seed(*, today: dt.date) -> int:
    """Set this month's targets of the demo's stores and their active associates; returns how many were written."""
    month = today.replace(day=1)
    days_in_month = ((month + dt.timedelta(days=32)).replace(day=1) - month).days
    before = DailyStats.objects.filter(day__gte=month - dt.timedelta(days=30), day__lt=month)
    rows = before.exclude(associate=None).values("associate_id").annotate(gmv=Sum("gmv"), n=Sum("customers_added"))
    people_before = {row["associate_id"]: row for row in rows}
    by_store = dict(before.values("store_id").annotate(gmv=Sum("gmv")).values_list("store_id", "gmv"))
    written = 0
    for store in Store.objects.filter(is_active=True):
        people = Associate.objects.filter(store=store, is_active=True)
        store_new = 0
        for person in people:
            figures = people_before.get(person.pk, {})
            new_customers = max(5, round((figures.get("n") or 0) * 1.2))
            store_new += new_customers
            sales_target_save(
                month=month,
                store_id=store.pk,
                associate_id=person.pk,
                amount=_target(figures.get("gmv"), days_in_month),
                new_customers=new_customers,
            )
            written += 1
        sales_target_save(
            month=month,
            store_id=store.pk,
            associate_id=None,
            amount=_target(by_store.get(store.pk), days_in_month),
            new_customers=store_new,
        )
        written += 1
    return written
