"""Appointment writes: book (the last place of a slot under the template's row lock), reschedule, cancel, mark done or
no-show, and the day-before reminders.

Lock order: the slot template's row, then the appointment's. Capacity is counted while the template's row is held
(`select_for_update(no_key=True)`), so N bookings racing for a slot's last place give exactly one winner.
"""

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from appointments.links import appointment_url
from appointments.models import Appointment, AppointmentChange, AppointmentItem, ClosedDate, SlotTemplate
from appointments.selectors import BOOKING_DAYS, template_slot_starts
from associates.models import Associate, Store
from clientbook.models import FollowRelation
from customers.models import Customer
from fulfilment.models import Pickup
from notices.models import Notice
from notices.notify import notice_send
from omni.errors import ApplicationError
from wecom.client import WeComError, wecom_client

logger = logging.getLogger(__name__)

S = Appointment.Status
A = AppointmentChange.Action
# Reminders for tomorrow go out from this local hour on: not at midnight when the beat first sees them.
REMIND_FROM_HOUR = 10


def _parse_start(starts_at: str | dt.datetime) -> dt.datetime:
    if isinstance(starts_at, str):
        try:
            starts_at = dt.datetime.fromisoformat(starts_at)
        except ValueError as exc:
            raise ApplicationError("invalid_slot", "预约时间格式不对") from exc
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at)
    return starts_at


def _slot_resolve(
    *, store_id: int, template_id: int, starts_at: str | dt.datetime, now: dt.datetime, lock: bool
) -> tuple[SlotTemplate, dt.datetime, dt.datetime]:
    """The template (locked when `lock`) and the slot's (start, end); refuses a slot the store does not offer."""
    starts_at = _parse_start(starts_at)
    templates = SlotTemplate.objects.filter(pk=template_id, store_id=store_id, is_active=True)
    if lock:
        templates = templates.select_for_update(no_key=True)
    template = templates.first()
    if template is None:
        raise ApplicationError("slot_not_found", "门店没有这个预约时段", status_code=404)
    day = timezone.localtime(starts_at).date()
    match = [slot for slot in template_slot_starts(template=template, day=day) if slot[0] == starts_at]
    if not match:
        raise ApplicationError("slot_not_found", "门店没有这个预约时段", status_code=404)
    if starts_at <= now:
        raise ApplicationError("slot_past", "这个时段已经过去了", status_code=409)
    if day > timezone.localtime(now).date() + dt.timedelta(days=BOOKING_DAYS):
        raise ApplicationError("slot_too_far", f"只能预约 {BOOKING_DAYS} 天内的时段")
    if ClosedDate.objects.filter(store_id=store_id, date=day).exists():
        raise ApplicationError("store_closed", "门店这天不接受预约", status_code=409)
    return template, match[0][0], match[0][1]


def _place_take(*, template: SlotTemplate, starts_at: dt.datetime, customer_id: int, exclude_pk: int | None) -> None:
    """Raise unless the locked template's slot has a place left for this customer."""
    booked = Appointment.objects.filter(template=template, starts_at=starts_at, status=S.BOOKED)
    if exclude_pk is not None:
        booked = booked.exclude(pk=exclude_pk)
    if booked.filter(customer_id=customer_id).exists():
        raise ApplicationError("already_booked", "客户已经预约了这个时段", status_code=409)
    if booked.count() >= template.capacity:
        raise ApplicationError("slot_full", "这个时段已约满，请选择其他时段", status_code=409)


def _pickups_check(*, pickup_ids: Iterable[int], customer_id: int, store_id: int) -> list[int]:
    wanted = sorted(set(pickup_ids))
    found = list(
        Pickup.objects.filter(
            pk__in=wanted, customer_id=customer_id, store_id=store_id, kind=Pickup.Kind.HOLD, status__in=Pickup.OPEN
        ).values_list("pk", flat=True)
    )
    if len(found) != len(wanted):
        raise ApplicationError("hold_not_found", "只能带上客户在本店的有效预留", status_code=400)
    return wanted


@dataclass(frozen=True)
class Booked:
    appointment: Appointment
    created: bool


def appointment_book(
    *,
    customer: Customer,
    store: Store,
    template_id: int,
    starts_at: str | dt.datetime,
    request_id: str,
    channel: str,
    associate: Associate | None = None,
    pickup_ids: Iterable[int] = (),
    now: dt.datetime | None = None,
) -> Booked:
    """Book a place in a slot for the customer, with her open holds at that store attached.

    `associate`: who booked it (sidebar) or sent the link (customer); the appointment's associate is the template's
    when it names one, else this one. A replay of the request id returns the first booking and writes nothing.
    """
    now = now or timezone.now()
    request_id = (request_id or "").strip()
    if not request_id or len(request_id) > 64:
        raise ApplicationError("invalid_request_id", "request_id 必填，最长 64 个字符")
    if associate is not None and associate.store_id != store.pk:
        raise ApplicationError("wrong_store", "只能预约自己门店的时段", status_code=403)

    def replay() -> Booked | None:
        existing = Appointment.objects.filter(request_id=request_id).first()
        if existing is None:
            return None
        if existing.customer_id != customer.pk or existing.store_id != store.pk:
            raise ApplicationError("request_id_reused", "这个请求号已被使用", status_code=409)
        return Booked(existing, False)

    if (done := replay()) is not None:
        return done
    with transaction.atomic():
        template, starts_at, ends_at = _slot_resolve(
            store_id=store.pk, template_id=template_id, starts_at=starts_at, now=now, lock=True
        )
        # A concurrent replay waited on the same lock: it finds the first booking now.
        if (done := replay()) is not None:
            return done
        _place_take(template=template, starts_at=starts_at, customer_id=customer.pk, exclude_pk=None)
        pickup_ids = _pickups_check(pickup_ids=pickup_ids, customer_id=customer.pk, store_id=store.pk)
        appointment = Appointment.objects.create(
            store=store,
            customer=customer,
            associate_id=template.associate_id or (associate.pk if associate else None),
            template=template,
            kind=template.kind,
            starts_at=starts_at,
            ends_at=ends_at,
            channel=channel,
            token=secrets.token_urlsafe(18)[:24],
            request_id=request_id,
        )
        AppointmentItem.objects.bulk_create(
            [AppointmentItem(appointment=appointment, pickup_id=pickup_id) for pickup_id in pickup_ids]
        )
        AppointmentChange.objects.create(
            appointment=appointment, action=A.BOOKED, to_starts_at=starts_at, by_associate=associate
        )
    return Booked(appointment, True)


def _locked_booked(appointment_id: int) -> Appointment:
    appointment = Appointment.objects.select_for_update(no_key=True).get(pk=appointment_id)
    if appointment.status != S.BOOKED:
        raise ApplicationError("not_booked", f"预约已{appointment.get_status_display()}，不能再修改", status_code=409)
    return appointment


def appointment_reschedule(
    *,
    appointment: Appointment,
    template_id: int,
    starts_at: str | dt.datetime,
    by_associate: Associate | None = None,
    now: dt.datetime | None = None,
) -> Appointment:
    """Move a booked appointment to another slot of its store; tomorrow's reminders are owed again."""
    now = now or timezone.now()
    with transaction.atomic():
        template, starts_at, ends_at = _slot_resolve(
            store_id=appointment.store_id, template_id=template_id, starts_at=starts_at, now=now, lock=True
        )
        locked = _locked_booked(appointment.pk)
        if locked.ends_at <= now:
            raise ApplicationError("appointment_past", "预约时间已过，不能改期", status_code=409)
        if (locked.template_id, locked.starts_at) == (template.pk, starts_at):
            return locked
        _place_take(template=template, starts_at=starts_at, customer_id=locked.customer_id, exclude_pk=locked.pk)
        previous = locked.starts_at
        locked.template, locked.kind, locked.starts_at, locked.ends_at = template, template.kind, starts_at, ends_at
        if template.associate_id:
            locked.associate_id = template.associate_id
        locked.reminded_customer_at = locked.reminded_associate_at = None
        locked.save()
        AppointmentChange.objects.create(
            appointment=locked,
            action=A.RESCHEDULED,
            from_starts_at=previous,
            to_starts_at=starts_at,
            by_associate=by_associate,
        )
    return locked


def appointment_cancel(*, appointment: Appointment, by_associate: Associate | None = None) -> Appointment:
    with transaction.atomic():
        locked = _locked_booked(appointment.pk)
        locked.status, locked.closed_at = S.CANCELLED, timezone.now()
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        AppointmentChange.objects.create(
            appointment=locked, action=A.CANCELLED, from_starts_at=locked.starts_at, by_associate=by_associate
        )
    return locked


def appointment_mark(
    *, appointment: Appointment, status: str, by_associate: Associate, now: dt.datetime | None = None
) -> Appointment:
    """The associate records the visit: done (she came) or no-show, from the store's day view. A no-show only once
    the slot has started; either only for a booked appointment of the associate's store."""
    now = now or timezone.now()
    if status not in (S.DONE, S.NO_SHOW):
        raise ApplicationError("invalid_status", "只能标记为已到店或未到店")
    if appointment.store_id != by_associate.store_id:
        raise ApplicationError("not_found", "没有这个预约", status_code=404)
    with transaction.atomic():
        locked = _locked_booked(appointment.pk)
        if status == S.NO_SHOW and locked.starts_at > now:
            raise ApplicationError("not_started", "预约还没开始，不能标记未到店", status_code=409)
        if status == S.DONE and timezone.localtime(locked.starts_at).date() > timezone.localtime(now).date():
            raise ApplicationError("not_today", "只能在预约当天标记到店", status_code=409)
        locked.status, locked.closed_at = status, now
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        AppointmentChange.objects.create(
            appointment=locked, action=status, from_starts_at=locked.starts_at, by_associate=by_associate
        )
    return locked


# Reminders, the day before


def _when(appointment: Appointment) -> str:
    local = timezone.localtime(appointment.starts_at)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _held_names(appointment: Appointment) -> list[str]:
    return [
        line.product.name
        for item in appointment.items.select_related("pickup").prefetch_related("pickup__lines__product")
        for line in item.pickup.lines.all()
    ]


def _customer_remind(appointment: Appointment, *, now: dt.datetime) -> str:
    """Claim the customer's reminder (reminded_customer_at IS NULL), then queue it in WeCom's group-message assistant
    with the associate as sender. A transient WeCom error gives the claim back for the next run."""
    if not Appointment.objects.filter(pk=appointment.pk, reminded_customer_at__isnull=True).update(
        reminded_customer_at=now
    ):
        return "already"
    associate = appointment.associate
    follow = None
    if associate is not None:
        follow = (
            FollowRelation.objects.filter(
                associate=associate, customer_id=appointment.customer_id, ended_at__isnull=True
            )
            .order_by("-followed_at")
            .first()
        )
    if follow is None:
        logger.info("appointment_reminder_no_contact", extra={"appointment": appointment.pk})
        return "no_contact"
    held = _held_names(appointment)
    text = (
        f"{appointment.customer.name or ''}您好，提醒您明天 {_when(appointment)} 在{appointment.store.name}的"
        f"{appointment.get_kind_display()}预约，{associate.name}会在店里等您。"
    )
    if held:
        text += f"为您预留的{'、'.join(held)}已备好。"
    body = {
        "chat_type": "single",
        "sender": associate.wecom_userid,
        "external_userid": [follow.external_userid],
        "text": {"content": text},
        "attachments": [
            {
                "msgtype": "link",
                "link": {
                    "title": f"明天 {_when(appointment)} {appointment.get_kind_display()}预约",
                    "desc": f"{appointment.store.name} · 可在此改期或取消",
                    "url": appointment_url(token=appointment.token),
                },
            }
        ],
    }
    try:
        answer = wecom_client().post("externalcontact/add_msg_template", data=body)
    except WeComError as error:
        if error.transient:
            Appointment.objects.filter(pk=appointment.pk, reminded_customer_at=now).update(reminded_customer_at=None)
            return "retry"
        logger.warning("appointment_reminder_refused", extra={"appointment": appointment.pk, "errcode": error.errcode})
        return "failed"
    if follow.external_userid in (answer.get("fail_list") or []):
        return "failed"
    return "sent"


def _associate_remind(appointment: Appointment, *, now: dt.datetime) -> str:
    if appointment.associate is None:
        return "no_associate"
    if not Appointment.objects.filter(pk=appointment.pk, reminded_associate_at__isnull=True).update(
        reminded_associate_at=now
    ):
        return "already"
    local = timezone.localtime(appointment.starts_at)
    held = _held_names(appointment)
    notice_send(
        associate=appointment.associate,
        kind=Notice.Kind.TASK_DUE,
        dedupe_key=f"appointment:{appointment.pk}:{local:%Y%m%d%H%M}",
        title=f"明天{local:%H:%M}预约：{appointment.customer.name or '客户'}"[:40],
        description=(
            f"{appointment.get_kind_display()} · {appointment.store.name}"
            + (f" · 预留：{'、'.join(held)}" if held else "")
        )[:170],
        url=f"/workbench/appointments/?day={local:%Y-%m-%d}",
        at=now,
    )
    return "sent"


def appointments_remind(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The day before: remind the customer (WeCom, the associate as sender) and the associate (a notice) of each
    booked appointment starting tomorrow (local), each once — a second run finds both claimed and sends nothing."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    counts: dict[str, int] = {}
    if local.hour < REMIND_FROM_HOUR:
        return counts
    tz = timezone.get_current_timezone()
    tomorrow = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    due = (
        Appointment.objects.filter(
            status=S.BOOKED, starts_at__gte=tomorrow, starts_at__lt=tomorrow + dt.timedelta(days=1)
        )
        .filter(Q(reminded_customer_at__isnull=True) | Q(reminded_associate_at__isnull=True))
        .select_related("customer", "associate", "store")
        .order_by("starts_at", "pk")
    )
    for appointment in due:
        for outcome in (_customer_remind(appointment, now=now), _associate_remind(appointment, now=now)):
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts
