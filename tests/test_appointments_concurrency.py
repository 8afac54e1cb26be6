"""Appointments under real concurrency on PostgreSQL: threads racing for a slot's last places, replays of one booking,
and reminder runs overlapping (each thread its own connection and transaction)."""

from collections import Counter

import pytest

from appointments.models import Appointment, AppointmentItem
from appointments.services import appointment_book, appointments_remind
from notices.models import Notice
from tests.appointments_world import CHEN, NOW, TOMORROW, appointment_world, at
from tests.factories import CustomerFactory
from tests.test_community_groups import emulator_for
from tests.threads import results_and_codes, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_16_customers_booking_a_slot_of_3_places_give_exactly_3_bookings():
    world = appointment_world(capacity=3)
    customers = [CustomerFactory(primary_store=world["store"]) for _ in range(16)]

    results, codes = results_and_codes(
        run_concurrently(
            lambda customer: appointment_book(
                customer=customer,
                store=world["store"],
                template_id=world["template"].pk,
                starts_at=at(TOMORROW, 14),
                request_id=f"race-{customer.pk}",
                channel=Appointment.Channel.CUSTOMER,
                associate=world["associate"],
                now=NOW,
            ),
            each=customers,
        )
    )

    assert len(results) == 3 and all(booked.created for booked in results)
    assert codes == Counter({"slot_full": 13})
    assert Appointment.objects.filter(starts_at=at(TOMORROW, 14), status="booked").count() == 3


def test_12_replays_of_one_booking_with_its_hold_write_it_once():
    world = appointment_world(capacity=5)

    results, codes = results_and_codes(
        run_concurrently(
            lambda: appointment_book(
                customer=world["chen"],
                store=world["store"],
                template_id=world["template"].pk,
                starts_at=at(TOMORROW, 15),
                request_id="double-tap",
                channel=Appointment.Channel.SIDEBAR,
                associate=world["associate"],
                pickup_ids=[world["hold"].pk],
                now=NOW,
            ),
            contenders=12,
        )
    )

    assert codes == Counter()
    assert len({booked.appointment.pk for booked in results}) == 1
    assert sum(booked.created for booked in results) == 1
    assert (Appointment.objects.count(), AppointmentItem.objects.count()) == (1, 1)


@pytest.fixture
def emulator(settings):
    running = emulator_for(settings)
    yield running
    running.stop()


def test_8_overlapping_reminder_runs_remind_the_customer_and_the_associate_once(emulator):
    world = appointment_world()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": CHEN})
    emulator.control("POST", "contacts/add", {"external_userid": CHEN, "userid": "linyu"})
    appointment_book(
        customer=world["chen"],
        store=world["store"],
        template_id=world["template"].pk,
        starts_at=at(TOMORROW, 14),
        request_id="to-remind",
        channel=Appointment.Channel.SIDEBAR,
        associate=world["associate"],
        now=NOW,
    )

    results, codes = results_and_codes(run_concurrently(lambda: appointments_remind(now=NOW), contenders=8))

    assert codes == Counter()
    assert sum(result.get("sent", 0) for result in results) == 2
    assert len(emulator.control("GET", "mass_messages", userid="linyu")["mass_messages"]) == 1
    assert Notice.objects.count() == 1
