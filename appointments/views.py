"""The customer's appointment pages (H5 in WeChat's webview, no login): the booking page of the link an associate sent
in chat (/a/<signed token>/: free slots of her store, her holds there, book) and an appointment's own page
(/a/v/<token>/: when, where, the held items; reschedule or cancel), which the reminder links to.

The token is in the URL, so these responses are never kept by shared caches, sent on as a Referer to another site,
or indexed.
"""

import functools
import uuid
from collections.abc import Callable
from itertools import groupby

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from appointments.links import booking_token_read
from appointments.models import Appointment
from appointments.selectors import (
    appointment_by_token,
    appointment_item_names,
    customer_open_holds,
    customer_upcoming_appointments,
    slots_list,
)
from appointments.services import appointment_book, appointment_cancel, appointment_reschedule
from associates.models import Associate, Store
from customers.models import Customer
from omni.errors import ApplicationError

WEEKDAYS = "一二三四五六日"
SHOWN_DAYS = 7


def _private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        # same-origin, not no-referrer: the page's own forms post back to it, and Chromium sends "Origin: null" for a
        # form posted from a no-referrer page, which CSRF's origin check refuses. Other sites still get no Referer.
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def _gone(request: HttpRequest) -> HttpResponse:
    return render(request, "appointments/gone.html", status=404)


def _days(store_id: int) -> list[dict]:
    """The free slots of the next days, grouped by local day for the page."""
    days = []
    slots = slots_list(store_id=store_id, days=SHOWN_DAYS)
    for day, group in groupby(slots, key=lambda s: timezone.localtime(s.starts_at).date()):
        days.append({"day": day, "weekday": "周" + WEEKDAYS[day.weekday()], "slots": list(group)})
    return days


def _slot_choice(request: HttpRequest) -> tuple[int, str]:
    template_id, _, starts_at = request.POST.get("slot", "").partition("|")
    if not template_id.isdigit() or not starts_at:
        raise ApplicationError("invalid_slot", "请选择一个时段")
    return int(template_id), starts_at


@_private
def appointment_book_page(request: HttpRequest, token: str) -> HttpResponse:
    found = booking_token_read(token=token)
    if found is None:
        return _gone(request)
    customer = Customer.objects.filter(pk=found[0], merged_into__isnull=True).first()
    store = Store.objects.filter(pk=found[1], is_active=True).first()
    if customer is None or store is None:
        return _gone(request)
    associate = Associate.objects.filter(pk=found[2], store=store).first() if found[2] else None
    error, status = "", 200
    if request.method == "POST":
        try:
            template_id, starts_at = _slot_choice(request)
            pickup_ids = [int(value) for value in request.POST.getlist("hold") if value.isdigit()]
            booked = appointment_book(
                customer=customer,
                store=store,
                template_id=template_id,
                starts_at=starts_at,
                request_id=request.POST.get("request_id", ""),
                channel=Appointment.Channel.CUSTOMER,
                associate=associate,
                pickup_ids=pickup_ids,
            )
        except ApplicationError as refused:
            error, status = refused.message, refused.status_code
        else:
            page = reverse("appointment-page", kwargs={"token": booked.appointment.token})
            return HttpResponseRedirect(page + "?done=booked")
    upcoming = list(customer_upcoming_appointments(customer_id=customer.pk, store_id=store.pk))
    context = {
        "customer": customer,
        "store": store,
        "associate": associate,
        "holds": customer_open_holds(customer_id=customer.pk, store_id=store.pk),
        "upcoming": [(a, appointment_item_names(a)) for a in upcoming],
        "days": _days(store.pk),
        "request_id": uuid.uuid4().hex,
        "error": error,
    }
    return render(request, "appointments/book.html", context, status=status)


@_private
def appointment_page(request: HttpRequest, token: str) -> HttpResponse:
    appointment = appointment_by_token(token=token)
    if appointment is None:
        return _gone(request)
    error, status, notice = "", 200, request.GET.get("done", "")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "cancel":
                appointment_cancel(appointment=appointment)
                notice = "cancelled"
            elif action == "reschedule":
                template_id, starts_at = _slot_choice(request)
                appointment_reschedule(appointment=appointment, template_id=template_id, starts_at=starts_at)
                notice = "rescheduled"
            else:
                raise ApplicationError("invalid_action", "不支持的操作")
        except ApplicationError as refused:
            error, status = refused.message, refused.status_code
        else:
            return HttpResponseRedirect(reverse("appointment-page", kwargs={"token": token}) + f"?done={notice}")
        appointment = appointment_by_token(token=token)
    local = timezone.localtime(appointment.starts_at)
    open_ = appointment.status == Appointment.Status.BOOKED and appointment.ends_at > timezone.now()
    context = {
        "appointment": appointment,
        "store": appointment.store,
        "local": local,
        "weekday": "周" + WEEKDAYS[local.weekday()],
        "items": appointment_item_names(appointment),
        "open": open_,
        "days": _days(appointment.store_id) if open_ else [],
        "error": error,
        "notice": {"cancelled": "预约已取消", "rescheduled": "已为您改期", "booked": "预约成功"}.get(notice, ""),
    }
    return render(request, "appointments/appointment.html", context, status=status)
