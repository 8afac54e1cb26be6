"""Heavy reads against a real streaming replica: a private primary and a hot standby made from it with
`pg_basebackup -R` (tests/servers.py), Django's "default" and "replica" aliases pointed at them, the router of the
settings in force.

The proof of where a read went is what it sees: the replica's replay is paused (`pg_wal_replay_pause()`), a row is
then written on the primary, and a read that finds the row read the primary; one that does not, the replica. The
raw-cursor path is checked by asking the server itself (`pg_is_in_recovery()`).

Run them alone with `pytest -m replica` (DATABASE_URL set: they are skipped on SQLite like every PostgreSQL test).
"""

import contextlib
import csv
import datetime as dt
import io
import logging
import time
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from associates.models import Associate, Store
from campaigns.models import Campaign, CampaignRecipient
from coupons.models import IssueRequest
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Customer
from insights.models import DailyStats
from insights.selectors import dashboard_get
from omni.replicas import read_alias, replica_reads, replica_verdict_forget
from omni.settings import postgres_database
from tests.factories import CouponPackFactory, CouponPackItemFactory, CouponTemplateFactory
from tests.servers import PrivatePostgres, private_streaming_replica

pytestmark = [pytest.mark.postgres, pytest.mark.replica]


@contextlib.contextmanager
def _django_on(primary: PrivatePostgres, replica: PrivatePostgres):
    """Django's connections on the private primary ("default") and its replica ("replica"), as DATABASE_URL and
    DATABASE_REPLICA_URL would set them; the test run's own databases come back afterwards."""
    primary.createdb("omni")
    databases = connections.settings  # settings.DATABASES itself
    saved = dict(databases)

    def forget_connections():
        for alias in list(databases):
            connections[alias].close()
            with contextlib.suppress(AttributeError):
                del connections[alias]

    forget_connections()
    databases.clear()
    databases.update(
        connections.configure_settings(
            {
                "default": postgres_database(primary.url("omni")),
                "replica": postgres_database(replica.url("omni"), replica=True),
            }
        )
    )
    try:
        yield
    finally:
        forget_connections()
        databases.clear()
        databases.update(saved)


@pytest.fixture(scope="module")
def cluster(django_db_blocker):
    with private_streaming_replica() as (primary, replica), django_db_blocker.unblock(), _django_on(primary, replica):
        call_command("migrate", verbosity=0)
        yield primary, replica


@pytest.fixture(autouse=True)
def _verdict_fresh():
    """Each test measures the replica itself, not a verdict another test left in the process."""
    replica_verdict_forget()
    yield
    replica_verdict_forget()


def _caught_up(primary: PrivatePostgres, replica: PrivatePostgres, seconds: float = 30) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    lsn = primary.psql("omni", "SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + seconds
    while replica.psql("omni", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") != "t":
        assert time.monotonic() < deadline, f"the replica did not replay up to {lsn} within {seconds} s"
        time.sleep(0.05)


@pytest.fixture
def paused(cluster):
    """The replica, caught up, then its replay paused: what the primary writes from now on is not on the replica
    until the test ends (replay resumes then)."""
    primary, replica = cluster
    _caught_up(primary, replica)
    replica.psql("omni", "SELECT pg_wal_replay_pause()")
    try:
        yield primary, replica
    finally:
        replica.psql("omni", "SELECT pg_wal_replay_resume()")
        _caught_up(primary, replica)


def _store() -> Store:
    code = f"R{uuid.uuid4().hex[:8]}"
    return Store.objects.create(code=code, name=f"门店{code}", city="上海")


def test_the_replica_is_a_hot_standby_streaming_from_the_primary(cluster):
    primary, replica = cluster
    store = _store()
    _caught_up(primary, replica)

    assert replica.psql("omni", "SELECT pg_is_in_recovery()") == "t"
    assert primary.psql("omni", "SELECT pg_is_in_recovery()") == "f"
    assert replica.psql("omni", f"SELECT name FROM associates_store WHERE id = {store.pk}") == store.name
    assert primary.psql("omni", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"


def test_heavy_reads_go_to_the_replica_and_every_other_read_to_the_primary(paused, settings):
    settings.OMNI_REPLICA_MAX_LAG = 3600
    written = _store()  # on the primary, after the replica's replay was paused

    with replica_reads():
        assert read_alias() == "replica"
        assert Store.objects.all().db == "replica"
        assert not Store.objects.filter(pk=written.pk).exists()
        with connections[read_alias()].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (True,)
    assert read_alias() == "default"
    assert Store.objects.all().db == "default"
    assert Store.objects.filter(pk=written.pk).exists()
    with connections[read_alias()].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)


def test_inside_a_transaction_on_the_primary_heavy_reads_read_its_own_writes(paused, settings):
    settings.OMNI_REPLICA_MAX_LAG = 3600
    before = _store()  # committed, but not on the paused replica

    with replica_reads(), transaction.atomic():
        written = _store()
        assert read_alias() == "default"
        assert Store.objects.filter(pk__in=[before.pk, written.pk]).count() == 2
    with replica_reads():
        assert Store.objects.filter(pk__in=[before.pk, written.pk]).count() == 0


def test_an_object_read_from_the_replica_writes_and_reads_its_relations_on_the_primary(paused, settings):
    settings.OMNI_REPLICA_MAX_LAG = 3600
    primary, replica = paused
    replica.psql("omni", "SELECT pg_wal_replay_resume()")
    store = _store()
    _caught_up(primary, replica)
    replica.psql("omni", "SELECT pg_wal_replay_pause()")
    associate = Associate.objects.create(wecom_userid=f"r{uuid.uuid4().hex[:8]}", name="导购", store=store)

    with replica_reads():
        loaded = Store.objects.get(pk=store.pk)
    assert loaded._state.db == "replica"
    assert list(Associate.objects.filter(store=loaded)) == [associate]  # not the replica's empty answer
    loaded.name = "改名"
    loaded.save()
    assert Store.objects.get(pk=store.pk).name == "改名"


def test_heavy_reads_leave_a_replica_that_lags_past_the_limit_and_come_back_when_it_catches_up(
    paused, settings, caplog
):
    primary, replica = paused
    settings.OMNI_REPLICA_MAX_LAG = 3
    written = _store()  # the replica's last replayed commit is from just before the pause: well within 3 s

    with replica_reads():
        assert not Store.objects.filter(pk=written.pk).exists()  # stale, but within the limit: the replica
    time.sleep(3.5)
    replica_verdict_forget()
    caplog.set_level(logging.INFO, logger="omni.replicas")
    with replica_reads():
        assert Store.objects.filter(pk=written.pk).exists()  # more than 3 s behind: the primary
        replica_verdict_forget()
        assert read_alias() == "default"
        replica.psql("omni", "SELECT pg_wal_replay_resume()")
        _caught_up(primary, replica)
        replica_verdict_forget()
        assert read_alias() == "replica"
        assert Store.objects.filter(pk=written.pk).exists()  # the replica, caught up
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records] == [
        ("WARNING", "replica lagging"),  # once, though measured twice
        ("INFO", "replica fresh again: heavy reads go to the replica"),
    ]


def test_heavy_reads_go_to_the_primary_while_the_replica_is_down(cluster, settings, caplog):
    primary, replica = cluster
    settings.OMNI_REPLICA_MAX_LAG = 3600
    _caught_up(primary, replica)
    with replica_reads():
        assert read_alias() == "replica"  # its connection is open
    caplog.set_level(logging.INFO, logger="omni.replicas")
    replica.stop()
    try:
        replica_verdict_forget()
        with replica_reads():
            written = _store()
            assert Store.objects.filter(pk=written.pk).exists()
            replica_verdict_forget()
            assert read_alias() == "default"
    finally:
        replica.start()
    _caught_up(primary, replica)
    replica_verdict_forget()
    with replica_reads():
        assert read_alias() == "replica"
        assert Store.objects.filter(pk=written.pk).exists()
    assert [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records] == [
        ("WARNING", "replica unreachable"),  # once, though measured twice
        ("INFO", "replica fresh again: heavy reads go to the replica"),
    ]


# The heavy read paths that opt in, end to end: each shows the paused replica's view.


@pytest.fixture
def hq():
    user = get_user_model().objects.create_superuser(username=f"hq{uuid.uuid4().hex[:8]}", password="pass-1234")
    client = Client()
    client.force_login(user)
    return client


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_campaign_recipients_export_streams_from_the_replica(cluster, settings, hq):
    primary, replica = cluster
    settings.OMNI_REPLICA_MAX_LAG = 3600
    store = _store()
    creator = get_user_model().objects.create_user(username=f"u{uuid.uuid4().hex[:8]}")
    campaign = Campaign.objects.create(name="会员日", text="到店有礼", send_at=timezone.now(), created_by=creator)
    first, late = (Customer.objects.create(name=name, primary_store=store) for name in ("早到", "晚到"))
    CampaignRecipient.objects.create(
        campaign=campaign, customer=first, status="skipped", skip_reason="no_follower", created_at=timezone.now()
    )
    _caught_up(primary, replica)
    replica.psql("omni", "SELECT pg_wal_replay_pause()")
    try:
        CampaignRecipient.objects.create(
            campaign=campaign, customer=late, status="skipped", skip_reason="no_follower", created_at=timezone.now()
        )

        rows = _csv(hq.get(f"/admin/campaigns/campaign/{campaign.pk}/export/"))
    finally:
        replica.psql("omni", "SELECT pg_wal_replay_resume()")
    assert [row[1] for row in rows[1:]] == ["早到"]
    _caught_up(primary, replica)
    rows = _csv(hq.get(f"/admin/campaigns/campaign/{campaign.pk}/export/"))
    assert [row[1] for row in rows[1:]] == ["早到", "晚到"]


def test_the_coupon_ledger_export_streams_from_the_replica(cluster, settings, hq):
    primary, replica = cluster
    settings.OMNI_REPLICA_MAX_LAG = 3600
    item = CouponPackItemFactory(pack=CouponPackFactory(), template=CouponTemplateFactory())
    customer, other = Customer.objects.create(name="顾客"), Customer.objects.create(name="另一位")
    prefix = uuid.uuid4().hex[:8]
    coupon_pack_send(pack_id=item.pack_id, customer_id=customer.pk, request_no=f"{prefix}-1", associate=None)
    _caught_up(primary, replica)
    replica.psql("omni", "SELECT pg_wal_replay_pause()")
    try:
        sent = coupon_pack_send(pack_id=item.pack_id, customer_id=other.pk, request_no=f"{prefix}-2", associate=None)
        # The till reads its own writes: the coupon issued after the pause redeems.
        redeemed = coupon_redeem(
            code=sent.coupons[0].code,
            order=OrderIn(channel="store", store=_store(), order_ref=f"{prefix}-POS", amount=Decimal("500.00")),
            request_no=f"{prefix}-r",
        )

        rows = _csv(hq.get("/admin/coupons/issuerequest/export/"))
    finally:
        replica.psql("omni", "SELECT pg_wal_replay_resume()")
    assert redeemed.created and redeemed.redemption.discount == Decimal("50.00")
    assert IssueRequest.objects.filter(request_no__startswith=prefix).count() == 2
    assert [row[1] for row in rows[1:] if row[1].startswith(prefix)] == [f"{prefix}-1"]


def test_the_dashboard_reads_the_replica(paused, settings, hq):
    settings.OMNI_REPLICA_MAX_LAG = 3600
    store = _store()  # after the pause: the replica has neither the store nor its figures
    day = dt.date(2026, 1, 5)
    DailyStats.objects.create(day=day, store=store, orders=Decimal("3"), gmv=Decimal("999.00"))

    dashboard = dashboard_get(store_ids=frozenset({store.pk}), start=day, end=day)
    page = hq.get("/admin/insights/dailystats/", {"start": day.isoformat(), "end": day.isoformat()})

    assert dashboard.totals["gmv"] == Decimal("0")
    assert page.status_code == 200
    assert page.context["totals"]["gmv"] == Decimal("0")
    with transaction.atomic():  # read-your-writes: the same read inside a transaction is the primary's
        assert dashboard_get(store_ids=frozenset({store.pk}), start=day, end=day).totals["gmv"] == Decimal("999.00")
