"""Appointments: slots and capacity, booking with held items (idempotent), reschedule, cancel, done / no-show; the
sidebar API (error codes, another store's associate refused); the customer's pages from the chat link; and the
day-before reminders through the WeCom emulator with time frozen, each sent once however often the beat runs."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from appointments.links import booking_token
from appointments.models import Appointment, AppointmentChange, AppointmentItem, ClosedDate
from appointments.selectors import slots_list
from appointments.services import (
    appointment_book,
    appointment_cancel,
    appointment_mark,
    appointment_reschedule,
    appointments_remind,
)
from associates.auth import SESSION_KEY
from notices.models import Notice
from omni.errors import ApplicationError
from tests.appointments_world import CHEN, NOW, TOMORROW, appointment_world, at, hold_create
from tests.factories import CustomerFactory
from tests.test_community_groups import emulator_for

S = Appointment.Status


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(db, frozen):
    return appointment_world()


def _book(world, customer=None, *, hour=14, request_id="r1", pickups=(), associate=None, template=None):
    return appointment_book(
        customer=customer or world["chen"],
        store=world["store"],
        template_id=(template or world["template"]).pk,
        starts_at=at(TOMORROW, hour),
        request_id=request_id,
        channel=Appointment.Channel.SIDEBAR,
        associate=associate or world["associate"],
        pickup_ids=pickups,
    )


def _code(call) -> str:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value.code


# Services


def test_a_booking_takes_a_place_attaches_the_hold_and_a_replay_books_nothing_more(world):
    booked = _book(world, pickups=[world["hold"].pk])
    again = _book(world, pickups=[world["hold"].pk])

    appointment = booked.appointment
    assert (booked.created, again.created, again.appointment.pk) == (True, False, appointment.pk)
    assert (appointment.starts_at, appointment.ends_at) == (at(TOMORROW, 14), at(TOMORROW, 15))
    assert (appointment.status, appointment.kind, appointment.associate_id) == (
        S.BOOKED,
        "try_on",
        world["associate"].pk,
    )
    assert list(AppointmentItem.objects.values_list("appointment_id", "pickup_id")) == [
        (appointment.pk, world["hold"].pk)
    ]
    assert list(AppointmentChange.objects.values_list("action", flat=True)) == ["booked"]
    assert Appointment.objects.count() == 1


def test_a_full_slot_and_a_second_booking_of_the_same_customer_are_refused(world):
    _book(world, world["chen"], request_id="a")
    _book(world, world["wang"], request_id="b")
    zhao = CustomerFactory(name="赵敏", primary_store=world["store"])

    assert _code(lambda: _book(world, zhao, request_id="c")) == "slot_full"
    assert _code(lambda: _book(world, world["chen"], request_id="d", hour=14)) == "already_booked"
    assert Appointment.objects.count() == 2
    slots = {s.starts_at: s.remaining for s in slots_list(store_id=world["store"].pk, free_only=False)}
    assert slots[at(TOMORROW, 14)] == 0
    assert [s.starts_at for s in slots_list(store_id=world["store"].pk)] == [at(TOMORROW, 15), at(TOMORROW, 16)]


def test_slots_are_only_those_offered_in_the_future_on_open_days(world):
    ClosedDate.objects.create(store=world["store"], date=TOMORROW, reason="盘点")

    assert slots_list(store_id=world["store"].pk) == []
    assert _code(lambda: _book(world)) == "store_closed"
    ClosedDate.objects.all().delete()
    assert _code(lambda: _book(world, hour=13)) == "slot_not_found"
    assert (
        _code(
            lambda: appointment_book(
                customer=world["chen"],
                store=world["store"],
                template_id=world["template"].pk,
                starts_at=at(TOMORROW, 14, 30),
                request_id="half",
                channel="sidebar",
            )
        )
        == "slot_not_found"
    )
    last_week = at(TOMORROW - dt.timedelta(days=7), 14)
    assert (
        _code(
            lambda: appointment_book(
                customer=world["chen"],
                store=world["store"],
                template_id=world["template"].pk,
                starts_at=last_week,
                request_id="past",
                channel="sidebar",
            )
        )
        == "slot_past"
    )
    assert Appointment.objects.count() == 0
    assert [s.starts_at for s in slots_list(store_id=world["store"].pk)] == [
        at(TOMORROW, 14),
        at(TOMORROW, 15),
        at(TOMORROW, 16),
    ]


def test_only_the_customers_open_holds_at_that_store_may_be_attached(world):
    elsewhere = hold_create(
        store=world["other"], customer=world["chen"], associate=world["stranger"], product=world["dress"]
    )
    wangs = hold_create(
        store=world["store"], customer=world["wang"], associate=world["associate"], product=world["dress"]
    )

    for pickup in (elsewhere, wangs):
        assert (
            _code(lambda pickup=pickup: _book(world, pickups=[pickup.pk], request_id=f"h{pickup.pk}"))
            == "hold_not_found"
        )
    assert _code(lambda: _book(world, associate=world["stranger"])) == "wrong_store"
    assert Appointment.objects.count() == 0


def test_reschedule_moves_the_place_and_owes_the_reminders_again_cancel_frees_it(world):
    appointment = _book(world).appointment
    Appointment.objects.filter(pk=appointment.pk).update(reminded_customer_at=NOW, reminded_associate_at=NOW)
    _book(world, world["wang"], hour=16, request_id="w")
    world["template"].capacity = 1
    world["template"].save()

    assert (
        _code(
            lambda: appointment_reschedule(
                appointment=appointment, template_id=world["template"].pk, starts_at=at(TOMORROW, 16)
            )
        )
        == "slot_full"
    )
    moved = appointment_reschedule(
        appointment=appointment, template_id=world["template"].pk, starts_at=at(TOMORROW, 15)
    )

    assert (moved.starts_at, moved.reminded_customer_at, moved.reminded_associate_at) == (at(TOMORROW, 15), None, None)
    change = AppointmentChange.objects.get(action="rescheduled")
    assert (change.from_starts_at, change.to_starts_at) == (at(TOMORROW, 14), at(TOMORROW, 15))
    appointment_cancel(appointment=moved)
    assert Appointment.objects.get(pk=moved.pk).status == S.CANCELLED
    assert _code(lambda: appointment_cancel(appointment=moved)) == "not_booked"
    assert {s.starts_at for s in slots_list(store_id=world["store"].pk)} == {at(TOMORROW, 14), at(TOMORROW, 15)}


def test_done_and_no_show_are_recorded_by_the_stores_associate_on_the_day(world):
    appointment = _book(world).appointment

    assert (
        _code(lambda: appointment_mark(appointment=appointment, status="no_show", by_associate=world["associate"]))
        == "not_started"
    )
    assert (
        _code(lambda: appointment_mark(appointment=appointment, status="done", by_associate=world["associate"]))
        == "not_today"
    )
    assert (
        _code(
            lambda: appointment_mark(
                appointment=appointment, status="done", by_associate=world["stranger"], now=at(TOMORROW, 14)
            )
        )
        == "not_found"
    )
    marked = appointment_mark(
        appointment=appointment, status="no_show", by_associate=world["associate"], now=at(TOMORROW, 14, 20)
    )

    assert (marked.status, marked.closed_at) == (S.NO_SHOW, at(TOMORROW, 14, 20))
    assert list(AppointmentChange.objects.values_list("action", flat=True)) == ["booked", "no_show"]
    assert (
        _code(
            lambda: appointment_mark(
                appointment=appointment, status="done", by_associate=world["associate"], now=at(TOMORROW, 15)
            )
        )
        == "not_booked"
    )


# The sidebar API


def _signed_in(associate) -> APIClient:
    client = APIClient()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def test_the_sidebar_lists_slots_and_holds_and_books_once_per_request_id(world):
    client = _signed_in(world["associate"])
    url = f"/api/v1/sidebar/customers/{world['chen'].pk}/appointments/"

    listing = client.get(url).json()
    assert [s["starts_at"] for s in listing["slots"]] == [
        "2026-12-09T14:00:00+08:00",
        "2026-12-09T15:00:00+08:00",
        "2026-12-09T16:00:00+08:00",
    ]
    assert listing["holds"] == [
        {
            "id": world["hold"].pk,
            "code": world["hold"].code,
            "expires_at": listing["holds"][0]["expires_at"],
            "items": ["真丝连衣裙 黑色 × 1"],
        }
    ]
    body = {
        "template_id": world["template"].pk,
        "starts_at": "2026-12-09T14:00:00+08:00",
        "request_id": "sb-1",
        "pickup_ids": [world["hold"].pk],
    }
    first, replay = client.post(url, body, format="json"), client.post(url, body, format="json")

    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.json()["items"] == ["真丝连衣裙 黑色 × 1"]
    assert first.json()["id"] == replay.json()["id"]
    assert client.get(url).json()["appointments"][0]["id"] == first.json()["id"]


def test_sidebar_errors_have_stable_codes_and_another_stores_associate_is_refused(world):
    client, stranger = _signed_in(world["associate"]), _signed_in(world["stranger"])
    url = f"/api/v1/sidebar/customers/{world['chen'].pk}/appointments/"
    body = {"template_id": world["template"].pk, "starts_at": "2026-12-09T14:30:00+08:00", "request_id": "x"}
    appointment = _book(world).appointment

    wrong_time = client.post(url, body, format="json")
    hidden = stranger.post(url, {**body, "starts_at": "2026-12-09T15:00:00+08:00"}, format="json")
    wrong_hold = client.post(
        url, {**body, "starts_at": "2026-12-09T15:00:00+08:00", "pickup_ids": [999999]}, format="json"
    )
    status_url = f"/api/v1/sidebar/appointments/{appointment.pk}/status/"
    theirs = stranger.post(status_url, {"status": "cancelled"}, format="json")
    early = client.post(status_url, {"status": "no_show"}, format="json")
    bad = client.post(status_url, {"status": "booked"}, format="json")

    assert (wrong_time.status_code, wrong_time.json()["error"]["code"]) == (404, "slot_not_found")
    assert hidden.status_code == 404
    assert (wrong_hold.status_code, wrong_hold.json()["error"]["code"]) == (400, "hold_not_found")
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_started")
    assert bad.status_code == 400
    assert Appointment.objects.get().status == S.BOOKED
    assert Appointment.objects.count() == 1
    cancelled = client.post(status_url, {"status": "cancelled"}, format="json")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_the_booking_link_opens_the_customers_page_where_she_books_reschedules_and_cancels(world, client):
    card = (
        _signed_in(world["associate"]).post(f"/api/v1/sidebar/customers/{world['chen'].pk}/appointments/link/").json()
    )
    path = card["card"]["link"].split("://", 1)[1].split("/", 1)[1]

    page = client.get("/" + path)
    assert page.status_code == 200
    html = page.content.decode()
    assert "真丝连衣裙 黑色" in html and "14:00 试衣" in html and page["Cache-Control"] == "private, no-store"
    booked = client.post(
        "/" + path,
        {"slot": f"{world['template'].pk}|2026-12-09T14:00:00+08:00", "hold": [world["hold"].pk], "request_id": "pg-1"},
    )
    appointment = Appointment.objects.get()
    assert booked.status_code == 302 and booked["Location"] == f"/a/v/{appointment.token}/?done=booked"
    assert (appointment.channel, appointment.associate_id) == ("customer", world["associate"].pk)
    assert list(appointment.pickups.all()) == [world["hold"]]
    mine = client.get(booked["Location"]).content.decode()
    assert "12月9日 周三 14:00–15:00" in mine and "真丝连衣裙 黑色 × 1" in mine

    moved = client.post(
        booked["Location"], {"action": "reschedule", "slot": f"{world['template'].pk}|2026-12-09T16:00:00+08:00"}
    )
    assert moved.status_code == 302
    assert Appointment.objects.get().starts_at == at(TOMORROW, 16)
    client.post(booked["Location"], {"action": "cancel"})
    assert Appointment.objects.get().status == S.CANCELLED
    assert "取消预约" not in client.get(booked["Location"]).content.decode()


def test_a_forged_or_other_link_shows_the_expired_page(world, client):
    token = booking_token(customer_id=world["chen"].pk, store_id=world["store"].pk, associate_id=None)

    assert client.get(f"/a/{token[:-2]}xx/").status_code == 404
    assert client.get("/a/v/not-a-token/").status_code == 404
    assert client.get(f"/a/{token}/").status_code == 200


def test_the_day_view_lists_the_stores_appointments_with_held_items_and_records_the_visit(world):
    appointment = _book(world, pickups=[world["hold"].pk]).appointment
    client = _signed_in(world["associate"])

    html = client.get("/workbench/appointments/", {"day": "2026-12-09"}).content.decode()
    assert "陈静" in html and "真丝连衣裙 黑色 × 1" in html and f'data-external="{CHEN}"' in html
    assert (
        "这天没有预约"
        in _signed_in(world["stranger"]).get("/workbench/appointments/", {"day": "2026-12-09"}).content.decode()
    )
    refused = _signed_in(world["stranger"]).post(f"/workbench/appointments/{appointment.pk}/mark/", {"status": "done"})
    assert refused.status_code == 302 and Appointment.objects.get().status == S.BOOKED
    with time_machine.travel(at(TOMORROW, 14, 5), tick=False):
        client.post(f"/workbench/appointments/{appointment.pk}/mark/", {"status": "done"})
    assert Appointment.objects.get().status == S.DONE


# Reminders


@pytest.fixture
def emulator(settings, db):
    running = emulator_for(settings)
    yield running
    running.stop()


def test_reminders_go_the_day_before_to_the_customer_and_the_associate_once(emulator, db):
    with time_machine.travel(NOW, tick=False):
        world = appointment_world()
        emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
        emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": CHEN})
        emulator.control("POST", "contacts/add", {"external_userid": CHEN, "userid": "linyu"})
        appointment = _book(world, pickups=[world["hold"].pk]).appointment

    with time_machine.travel(NOW.replace(hour=9), tick=False):
        assert appointments_remind() == {}
    with time_machine.travel(NOW, tick=False):
        first = appointments_remind()
        second = appointments_remind()

    assert first == {"sent": 2}
    assert second == {}
    messages = emulator.control("GET", "mass_messages", userid="linyu")["mass_messages"]
    assert len(messages) == 1
    assert "明天 12月9日 14:00 在上海静安店的试衣预约" in messages[0]["text"]["content"]
    assert "真丝连衣裙 黑色" in messages[0]["text"]["content"]
    assert messages[0]["attachments"][0]["link"]["url"].endswith(f"/a/v/{appointment.token}/")
    notice = Notice.objects.get()
    assert (notice.associate_id, notice.title) == (world["associate"].pk, "明天14:00预约：陈静")
    assert notice.url.endswith("/workbench/appointments/?day=2026-12-09")
    appointment.refresh_from_db()
    assert appointment.reminded_customer_at == appointment.reminded_associate_at == NOW


def test_the_reminders_run_hourly_on_the_bulk_queue():
    from appointments.tasks import appointments_remind_task
    from omni.celery import app

    entry = app.conf.beat_schedule["appointments-remind"]

    assert entry["task"] == appointments_remind_task.name == "appointments.tasks.appointments_remind_task"
    assert (entry["schedule"].hour, entry["schedule"].minute) == (set(range(24)), {5})
    assert app.amqp.router.route(entry.get("options", {}), entry["task"])["queue"].name == "bulk"
