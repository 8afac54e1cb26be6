"""The sidebar's appointments panel, under /api/v1/sidebar/: a customer's upcoming appointments at the associate's
store, the store's free slots and her open holds there (GET customers/<id>/appointments/); book one for her (POST
the same); the booking link card for the chat (POST customers/<id>/appointments/link/); and, for an appointment of the
associate's store (any other answers 404 not_found), reschedule, cancel, or mark done / no-show."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from appointments.links import booking_url
from appointments.models import Appointment, Kind
from appointments.selectors import (
    appointment_item_names,
    customer_open_holds,
    customer_upcoming_appointments,
    slots_list,
)
from appointments.services import appointment_book, appointment_cancel, appointment_mark, appointment_reschedule
from omni.errors import ApplicationError
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json


class AppointmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    starts_at = serializers.CharField()
    ends_at = serializers.CharField()
    associate = serializers.CharField(allow_blank=True)
    items = serializers.ListField(child=serializers.CharField())


class SlotOut(serializers.Serializer):
    template_id = serializers.IntegerField()
    starts_at = serializers.CharField()
    ends_at = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    remaining = serializers.IntegerField()
    associate = serializers.CharField(allow_blank=True)


class HoldOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    expires_at = serializers.CharField()
    items = serializers.ListField(child=serializers.CharField())


class AppointmentsOut(serializers.Serializer):
    appointments = AppointmentOut(many=True)
    slots = SlotOut(many=True)
    holds = HoldOut(many=True)


ID_MAX = 2**31 - 1


class BookIn(serializers.Serializer):
    template_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    starts_at = serializers.DateTimeField()
    request_id = serializers.CharField(max_length=64)
    pickup_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX), required=False, default=list, max_length=20
    )


class RescheduleIn(serializers.Serializer):
    template_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    starts_at = serializers.DateTimeField()


class StatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=["done", "no_show", "cancelled"])


class CardOut(serializers.Serializer):
    card = serializers.DictField()


def appointment_json(appointment: Appointment) -> dict:
    return {
        "id": appointment.pk,
        "kind": appointment.kind,
        "kind_label": appointment.get_kind_display(),
        "status": appointment.status,
        "status_label": appointment.get_status_display(),
        "starts_at": moment_json(appointment.starts_at),
        "ends_at": moment_json(appointment.ends_at),
        "associate": appointment.associate.name if appointment.associate_id else "",
        "items": appointment_item_names(appointment),
    }


def _store_appointment(request, appointment_id: int) -> Appointment:
    """An appointment of the associate's store; any other is 404, as one that does not exist."""
    appointment = Appointment.objects.filter(pk=appointment_id, store_id=request.user.store_id).first()
    if appointment is None:
        raise ApplicationError("not_found", "没有这个预约", status_code=404)
    return appointment


def _reloaded(appointment_id: int) -> dict:
    return appointment_json(
        Appointment.objects.select_related("associate")
        .prefetch_related("items__pickup__lines__product")
        .get(pk=appointment_id)
    )


class SidebarAppointmentsApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_appointments",
        responses={200: AppointmentsOut},
        tags=["sidebar"],
        description="The customer's upcoming appointments at my store, the store's free slots of the next 7 days and "
        "her open holds there (to attach to a booking).",
    )
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        store_id = request.user.store_id
        kind = request.query_params.get("kind", "")
        slots = slots_list(store_id=store_id, days=7, kind=kind if kind in Kind.values else "")
        return Response(
            {
                "appointments": [
                    appointment_json(a)
                    for a in customer_upcoming_appointments(customer_id=customer.pk, store_id=store_id)
                ],
                "slots": [
                    {
                        "template_id": s.template_id,
                        "starts_at": moment_json(s.starts_at),
                        "ends_at": moment_json(s.ends_at),
                        "kind": s.kind,
                        "kind_label": s.kind_label,
                        "remaining": s.remaining,
                        "associate": s.associate_name,
                    }
                    for s in slots
                ],
                "holds": [
                    {
                        "id": hold.pk,
                        "code": hold.code,
                        "expires_at": moment_json(hold.expires_at),
                        "items": [f"{line.product.name} × {line.quantity}" for line in hold.lines.all()],
                    }
                    for hold in customer_open_holds(customer_id=customer.pk, store_id=store_id)
                ],
            }
        )

    @extend_schema(
        operation_id="sidebar_customer_appointment_book",
        request=BookIn,
        responses={201: AppointmentOut, 200: AppointmentOut, **error_responses(400, 404, 409)},
        tags=["sidebar"],
        description="Book a slot of my store for the customer, with her open holds there attached. Idempotent by "
        "request_id (a replay answers 200 with the first booking). 409 slot_full when its places are taken.",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = BookIn(data=request.data)
        data.is_valid(raise_exception=True)
        booked = appointment_book(
            customer=customer,
            store=request.user.store,
            template_id=data.validated_data["template_id"],
            starts_at=data.validated_data["starts_at"],
            request_id=data.validated_data["request_id"],
            channel=Appointment.Channel.SIDEBAR,
            associate=request.user,
            pickup_ids=data.validated_data["pickup_ids"],
        )
        return Response(_reloaded(booked.appointment.pk), status=201 if booked.created else 200)


class SidebarAppointmentLinkApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_appointment_link",
        request=None,
        responses={200: CardOut},
        tags=["sidebar"],
        description="The news card of the customer's booking page (my store, me as her associate), for "
        "sendChatMessage.",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        associate = request.user
        link = booking_url(customer_id=customer.pk, store_id=associate.store_id, associate_id=associate.pk)
        holds = customer_open_holds(customer_id=customer.pk, store_id=associate.store_id).count()
        desc = f"{associate.store.name} · 选一个方便的时间，{associate.name}在店里等您"
        if holds:
            desc += f"，为您预留的 {holds} 件商品可一起试穿"
        return Response({"card": {"title": "预约到店试穿", "desc": desc, "link": link}})


class SidebarAppointmentRescheduleApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_appointment_reschedule",
        request=RescheduleIn,
        responses={200: AppointmentOut, **error_responses(404, 409)},
        tags=["sidebar"],
    )
    def post(self, request, appointment_id: int):
        appointment = _store_appointment(request, appointment_id)
        data = RescheduleIn(data=request.data)
        data.is_valid(raise_exception=True)
        appointment_reschedule(
            appointment=appointment,
            template_id=data.validated_data["template_id"],
            starts_at=data.validated_data["starts_at"],
            by_associate=request.user,
        )
        return Response(_reloaded(appointment.pk))


class SidebarAppointmentStatusApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_appointment_status",
        request=StatusIn,
        responses={200: AppointmentOut, **error_responses(404, 409)},
        tags=["sidebar"],
        description="Cancel, or record the visit: done, or no_show (only once the slot has started).",
    )
    def post(self, request, appointment_id: int):
        appointment = _store_appointment(request, appointment_id)
        data = StatusIn(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["status"] == "cancelled":
            appointment_cancel(appointment=appointment, by_associate=request.user)
        else:
            appointment_mark(
                appointment=appointment,
                status=data.validated_data["status"],
                by_associate=request.user,
                now=timezone.now(),
            )
        return Response(_reloaded(appointment.pk))
