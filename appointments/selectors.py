"""Reads of appointments: a store's free slots over the next days, a day's appointments, a customer's open holds."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Prefetch
from django.utils import timezone

from appointments.models import Appointment, AppointmentItem, ClosedDate, SlotTemplate
from fulfilment.models import Pickup, PickupLine

BOOKING_DAYS = 14


@dataclass(frozen=True)
class Slot:
    template_id: int
    kind: str
    kind_label: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    booked: int
    associate_name: str

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)

    @property
    def key(self) -> str:
        """How a page names the slot in a form: the template and the local start."""
        return f"{self.template_id}|{timezone.localtime(self.starts_at).isoformat()}"


def template_slot_starts(*, template: SlotTemplate, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slots a template offers on a day (none on another weekday), as aware (start, end)."""
    if day.weekday() != template.weekday:
        return []
    tz = timezone.get_current_timezone()
    step = dt.timedelta(minutes=template.slot_minutes)
    start = dt.datetime.combine(day, template.start_time, tzinfo=tz)
    end = dt.datetime.combine(day, template.end_time, tzinfo=tz)
    slots = []
    while start + step <= end:
        slots.append((start, start + step))
        start += step
    return slots


def slots_list(
    *, store_id: int, now: dt.datetime | None = None, days: int = 7, kind: str = "", free_only: bool = True
) -> list[Slot]:
    """The store's slots from now over `days` local days, earliest first, without closed dates and past starts."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    days = max(1, min(days, BOOKING_DAYS))
    templates = SlotTemplate.objects.filter(store_id=store_id, is_active=True).select_related("associate")
    if kind:
        templates = templates.filter(kind=kind)
    templates = list(templates)
    closed = set(
        ClosedDate.objects.filter(
            store_id=store_id, date__gte=today, date__lt=today + dt.timedelta(days=days)
        ).values_list("date", flat=True)
    )
    tz = timezone.get_current_timezone()
    window_end = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(), tzinfo=tz)
    booked = {
        (row["template_id"], row["starts_at"]): row["n"]
        for row in Appointment.objects.filter(
            store_id=store_id, status=Appointment.Status.BOOKED, starts_at__gte=now, starts_at__lt=window_end
        )
        .values("template_id", "starts_at")
        .annotate(n=Count("pk"))
    }
    slots = []
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        if day in closed:
            continue
        for template in templates:
            for starts_at, ends_at in template_slot_starts(template=template, day=day):
                if starts_at <= now:
                    continue
                slot = Slot(
                    template_id=template.pk,
                    kind=template.kind,
                    kind_label=template.get_kind_display(),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    capacity=template.capacity,
                    booked=booked.get((template.pk, starts_at), 0),
                    associate_name=template.associate.name if template.associate_id else "",
                )
                if slot.remaining or not free_only:
                    slots.append(slot)
    slots.sort(key=lambda s: (s.starts_at, s.template_id))
    return slots


def customer_open_holds(*, customer_id: int, store_id: int):
    """The customer's open holds at a store, with their lines' products: what she may try on at an appointment."""
    return (
        Pickup.objects.filter(customer_id=customer_id, store_id=store_id, kind=Pickup.Kind.HOLD, status__in=Pickup.OPEN)
        .prefetch_related(Prefetch("lines", queryset=PickupLine.objects.select_related("product")))
        .order_by("expires_at", "pk")
    )


def _with_items(queryset):
    lines = PickupLine.objects.select_related("product")
    items = AppointmentItem.objects.select_related("pickup").prefetch_related(Prefetch("pickup__lines", queryset=lines))
    return queryset.select_related("customer", "associate", "store").prefetch_related(
        Prefetch("items", queryset=items.order_by("pk"))
    )


def store_day_appointments(*, store_id: int, day: dt.date):
    """A store's appointments of one local day, every status, by start: the associate's day view."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    return _with_items(
        Appointment.objects.filter(store_id=store_id, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1))
    ).order_by("starts_at", "pk")


def customer_upcoming_appointments(*, customer_id: int, store_id: int, now: dt.datetime | None = None):
    now = now or timezone.now()
    return _with_items(
        Appointment.objects.filter(
            customer_id=customer_id, store_id=store_id, status=Appointment.Status.BOOKED, ends_at__gt=now
        )
    ).order_by("starts_at", "pk")


def appointment_item_names(appointment: Appointment) -> list[str]:
    """The held products of an appointment, "name × n", from its prefetched items."""
    return [
        f"{line.product.name} × {line.quantity}" for item in appointment.items.all() for line in item.pickup.lines.all()
    ]


def appointment_by_token(*, token: str) -> Appointment | None:
    """An appointment with its held items, by its page's token."""
    return _with_items(Appointment.objects.filter(token=token)).first()
