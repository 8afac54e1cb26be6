"""The associate's day of appointments inside WeCom (/workbench/appointments/, the reminder notice's link): her store's
appointments of a day, each with the customer one tap away (her page, WeCom profile, chat), the held items to fetch
from the stock room, and 到店 / 未到店 to record the visit."""

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from appointments.models import Appointment
from appointments.selectors import appointment_item_names, store_day_appointments
from appointments.services import appointment_mark
from associates.auth import associate_required, embeddable
from associates.models import Associate
from clientbook.models import FollowRelation
from omni.errors import ApplicationError


def _day(request: HttpRequest) -> dt.date:
    try:
        return dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localdate()


@embeddable
@associate_required
def workbench_appointments(request: HttpRequest, *, associate: Associate):
    day = _day(request)
    appointments = list(store_day_appointments(store_id=associate.store_id, day=day))
    # The customer's WeCom id with me, for openUserProfile / openEnterpriseChat (none: not my contact).
    externals = dict(
        FollowRelation.objects.filter(
            associate=associate, customer_id__in={a.customer_id for a in appointments}, ended_at__isnull=True
        ).values_list("customer_id", "external_userid")
    )
    rows = [
        {
            "appointment": a,
            "items": appointment_item_names(a),
            "external_userid": externals.get(a.customer_id, ""),
            "mine": a.associate_id == associate.pk,
            "open": a.status == Appointment.Status.BOOKED,
        }
        for a in appointments
    ]
    context = {
        "associate": associate,
        "day": day,
        "today": timezone.localdate(),
        "previous": day - dt.timedelta(days=1),
        "next": day + dt.timedelta(days=1),
        "rows": rows,
        "booked": sum(1 for r in rows if r["open"]),
        "jssdk_url": settings.WECOM_JSSDK_URL,
    }
    return render(request, "appointments/day.html", context)


@embeddable
@require_POST
@associate_required
def workbench_appointment_mark(request: HttpRequest, appointment_id: int, *, associate: Associate):
    appointment = Appointment.objects.filter(pk=appointment_id, store_id=associate.store_id).first()
    back = reverse("workbench-appointments")
    if appointment is None:
        messages.error(request, "没有这个预约")
        return HttpResponseRedirect(back)
    back += f"?day={timezone.localtime(appointment.starts_at):%Y-%m-%d}"
    try:
        appointment_mark(appointment=appointment, status=request.POST.get("status", ""), by_associate=associate)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "已记录")
    return HttpResponseRedirect(back)
