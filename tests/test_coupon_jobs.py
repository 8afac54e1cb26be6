"""The coupon jobs, run through Celery (eagerly): expiring at the local-midnight edge, in batches, twice; reminders."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clientbook.models import FollowUpTask
from coupons.models import Coupon
from coupons.redemption import OrderIn, coupon_revoke
from coupons.sending import coupon_pack_send
from coupons.tasks import coupons_expire_task, coupons_expiry_remind_task
from coupons.till import coupon_redeem
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
ENDS = dt.datetime(2026, 12, 20, tzinfo=SHANGHAI)  # exclusive: the coupons' last day is the 19th
SENT_AT = dt.datetime(2026, 12, 10, 15, 0, tzinfo=SHANGHAI)
MORNING = dt.datetime(2026, 12, 17, 9, 0, tzinfo=SHANGHAI)  # the reminder's run, three days before ENDS


@pytest.fixture
def clock(monkeypatch):
    """Sets what timezone.now() answers, for the tasks, which read the clock themselves."""

    def set_to(moment: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return set_to


def _pack(*quantities: int, ends: dt.datetime = ENDS):
    """A pack of fixed-window templates ending at `ends`, one template per quantity."""
    pack = CouponPackFactory()
    for quantity in quantities:
        template = CouponTemplateFactory(
            valid_days=None,
            valid_from=dt.datetime(2026, 12, 1, tzinfo=SHANGHAI),
            valid_until=ends,
            per_customer_limit=quantity,
        )
        CouponPackItemFactory(pack=pack, template=template, quantity=quantity)
    return pack


def _send(pack, *, associate=None, customer=None, request_no: str) -> list[Coupon]:
    sent = coupon_pack_send(
        pack_id=pack.pk,
        customer_id=(customer or CustomerFactory()).pk,
        request_no=request_no,
        associate=associate,
        now=SENT_AT,
    )
    return sent.coupons


def _statuses(coupons: list[Coupon]) -> list[str]:
    return list(Coupon.objects.filter(pk__in=[c.pk for c in coupons]).order_by("pk").values_list("status", flat=True))


# ---------------------------------------------------------------------------------------------------------------
# Expiring


def test_a_coupon_is_usable_until_the_last_instant_of_its_day_and_expired_at_local_midnight(clock):
    coupons = _send(_pack(1), associate=AssociateFactory(), request_no="r-1")

    clock(ENDS - dt.timedelta(microseconds=1))  # 2026-12-19 23:59:59.999999 in Shanghai
    before = coupons_expire_task.delay().get()
    status_before = _statuses(coupons)
    clock(ENDS)  # 2026-12-20 00:00:00 in Shanghai, 16:00 UTC on the 19th
    after = coupons_expire_task.delay().get()

    assert (before, status_before) == (0, [Coupon.Status.ISSUED])
    assert (after, _statuses(coupons)) == (1, [Coupon.Status.EXPIRED])


def test_expiring_twice_changes_nothing_the_second_time_and_leaves_used_and_revoked_coupons_alone(clock):
    associate = AssociateFactory()
    pack = _pack(1)
    unused = [*_send(pack, associate=associate, request_no="r-1"), *_send(pack, associate=associate, request_no="r-2")]
    (redeemed,) = _send(pack, associate=associate, request_no="r-3")
    (revoked,) = _send(pack, associate=associate, request_no="r-4")
    coupon_redeem(
        code=redeemed.code,
        order=OrderIn(channel="store", store=associate.store, order_ref="POS-1", amount=Decimal("300.00")),
        request_no="redeem-1",
        now=SENT_AT,
    )
    coupon_revoke(coupon_id=revoked.pk)
    clock(ENDS + dt.timedelta(hours=1))

    first = coupons_expire_task.delay().get()
    second = coupons_expire_task.delay().get()

    assert (first, second) == (2, 0)
    assert _statuses([*unused, redeemed, revoked]) == [
        Coupon.Status.EXPIRED,
        Coupon.Status.EXPIRED,
        Coupon.Status.REDEEMED,
        Coupon.Status.REVOKED,
    ]


def test_expiring_goes_in_batches_of_the_given_size(clock):
    pack = _pack(1)
    coupons = [coupon for n in range(5) for coupon in _send(pack, request_no=f"r-{n}")]
    clock(ENDS)

    with CaptureQueriesContext(connection) as queries:
        expired = coupons_expire_task.delay(batch_size=2).get()

    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "coupons_coupon"')]
    assert expired == 5
    assert len(updates) == 3  # 2 + 2 + 1, each its own statement
    assert _statuses(coupons) == [Coupon.Status.EXPIRED] * 5


# ---------------------------------------------------------------------------------------------------------------
# Reminding the sending associate


def test_a_three_coupon_pack_makes_one_reminder_for_its_associate_and_customer(clock):
    associate, customer = AssociateFactory(), CustomerFactory()
    coupons = _send(_pack(2, 1), associate=associate, customer=customer, request_no="r-1")
    clock(MORNING)

    covered = coupons_expiry_remind_task.delay().get()

    assert covered == 3
    task = FollowUpTask.objects.get()
    assert (task.associate_id, task.customer_id, task.title, task.due_on, task.occasion) == (
        associate.pk,
        customer.pk,
        "3 张优惠券 12月19日 到期，提醒客户使用",
        dt.date(2026, 12, 18),
        "coupons-expiring:2026-12-19",
    )
    assert (
        list(Coupon.objects.filter(pk__in=[c.pk for c in coupons]).values_list("reminded_at", flat=True))
        == [MORNING] * 3
    )


def test_the_reminder_is_made_once_however_often_the_job_runs(clock):
    associate = AssociateFactory()
    _send(_pack(1), associate=associate, request_no="r-1")
    clock(MORNING)
    coupons_expiry_remind_task.delay()
    clock(MORNING + dt.timedelta(days=1))

    again = coupons_expiry_remind_task.delay().get()

    assert again == 0
    assert FollowUpTask.objects.count() == 1


def test_reminders_are_per_associate_customer_and_expiry_day(clock):
    associate, other_associate, customer = AssociateFactory(), AssociateFactory(), CustomerFactory()
    _send(_pack(1), associate=associate, customer=customer, request_no="r-1")
    _send(_pack(1, ends=ENDS - dt.timedelta(days=1)), associate=associate, customer=customer, request_no="r-2")
    _send(_pack(1), associate=other_associate, customer=customer, request_no="r-3")
    clock(MORNING)

    coupons_expiry_remind_task.delay()

    assert sorted(FollowUpTask.objects.values_list("associate_id", "occasion")) == [
        (associate.pk, "coupons-expiring:2026-12-18"),
        (associate.pk, "coupons-expiring:2026-12-19"),
        (other_associate.pk, "coupons-expiring:2026-12-19"),
    ]


def test_no_reminder_without_an_associate_or_for_used_revoked_or_later_coupons(clock):
    associate = AssociateFactory()
    pack = _pack(1)
    _send(pack, associate=None, request_no="campaign:1")
    (redeemed,) = _send(pack, associate=associate, request_no="r-2")
    (revoked,) = _send(pack, associate=associate, request_no="r-3")
    _send(_pack(1, ends=ENDS + dt.timedelta(days=1)), associate=associate, request_no="r-4")
    coupon_redeem(
        code=redeemed.code,
        order=OrderIn(channel="store", store=associate.store, order_ref="POS-1", amount=Decimal("300.00")),
        request_no="redeem-1",
        now=SENT_AT,
    )
    coupon_revoke(coupon_id=revoked.pk)
    clock(MORNING)

    covered = coupons_expiry_remind_task.delay().get()

    assert covered == 0
    assert FollowUpTask.objects.count() == 0
    assert Coupon.objects.filter(reminded_at__isnull=False).count() == 0


# ---------------------------------------------------------------------------------------------------------------
# The schedule


def test_both_jobs_are_scheduled_on_the_bulk_queue():
    from omni.celery import app

    expire = app.conf.beat_schedule["coupons-expire"]
    remind = app.conf.beat_schedule["coupons-expiry-remind-daily"]

    assert expire["task"] == coupons_expire_task.name == "coupons.tasks.coupons_expire_task"
    assert (expire["schedule"].hour, expire["schedule"].minute) == (set(range(24)), {0, 10, 20, 30, 40, 50})
    assert remind["task"] == coupons_expiry_remind_task.name == "coupons.tasks.coupons_expiry_remind_task"
    assert (remind["schedule"].hour, remind["schedule"].minute) == ({9}, {0})
    assert str(app.conf.timezone) == "Asia/Shanghai"
    for entry in (expire, remind):
        assert app.amqp.router.route(entry.get("options", {}), entry["task"])["queue"].name == "bulk"
