"""Channel and store codes against the WeCom emulator (real HTTP, real encrypted callbacks to a live Omni): the schedule
routes a store code (daily limit, backups), an add through a code gets the code's welcome and tags in WeCom and in
Omni, a member's code links the One ID customer at once, a link adds through the quota; and the per-code figures are
exactly what an independent count of the rows says."""

import datetime as dt
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clientbook.codes import code_create, code_delete, code_member_way, code_route_userids
from clientbook.codes_state import member_state, member_state_customer_id
from clientbook.codes_stats import code_totals, codes_stats
from clientbook.models import ContactWay, ContactWaySlot, FollowRelation
from customers.models import CustomerTag, Identity, Tag
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    StoreFactory,
    UserFactory,
)
from tests.live_emulator import live_emulator
from wecom.client import WeComError, wecom_client

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000001", "1000002", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
LOCAL = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        yield running


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _staff(emulator):
    store = StoreFactory(code="SH01", name="上海静安店")
    lin = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    zhou = AssociateFactory(store=store, wecom_userid="zhoujie", name="周洁")
    for associate in (lin, zhou):
        emulator.control("POST", "associates", {"userid": associate.wecom_userid, "name": associate.name})
    return store, lin, zhou


def _scan(emulator, code: ContactWay, name: str) -> str:
    external_userid = emulator.control("POST", "customers", {"name": name})["external_userid"]
    emulator.control("POST", "contacts/add", {"external_userid": external_userid, "config_id": code.config_id})
    return external_userid


@pytest.mark.django_db(transaction=True)
def test_a_store_code_routes_by_schedule_tags_and_welcomes_and_moves_on_at_the_daily_limit(emulator):
    store, lin, zhou = _staff(emulator)
    tag = Tag.objects.create(group="渠道", name="收银台扫码")
    code = code_create(
        kind=ContactWay.Kind.STORE,
        store=store,
        label="静安店收银台",
        channel=ContactWay.Channel.COUNTER,
        welcome_text="欢迎来到{store}，我是{associate}！",
        tags=[tag],
        slots=[{"associate": lin, "daily_limit": 1}, {"associate": zhou, "is_backup": True}],
    )
    tag.refresh_from_db()
    assert code.routed_userids == ["linyu"]
    assert code.state.startswith("c") and code.config_id and tag.wecom_tag_id

    first = _scan(emulator, code, "陈静")
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).count() == 1)
    follow = FollowRelation.objects.get(external_userid=first)
    assert (follow.associate, follow.contact_way, follow.state) == (lin, code, code.state)
    assert (follow.customer.primary_store, follow.customer.primary_associate) == (store, lin)
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=first)["messages"]
    assert next(m["body"] for m in transcript if m["kind"] == "welcome") == {
        "content": "欢迎来到上海静安店，我是林雨！"
    }
    relation = wecom_client().external_contact.get(first)["follow_user"][0]
    assert [t["tag_id"] for t in relation["tags"]] == [tag.wecom_tag_id]
    assert list(CustomerTag.objects.filter(customer=follow.customer).values_list("tag__name", flat=True)) == [
        "收银台扫码"
    ]
    # 林雨 reached her daily limit of one: the code now hands customers to the backup, in WeCom too.
    code.refresh_from_db()
    assert code.routed_userids == ["zhoujie"]
    way = wecom_client().post("externalcontact/get_contact_way", data={"config_id": code.config_id})["contact_way"]
    assert way["user"] == ["zhoujie"]

    second = _scan(emulator, code, "李娜")
    assert _wait(lambda: FollowRelation.objects.filter(external_userid=second).exists())
    assert FollowRelation.objects.get(external_userid=second).associate == zhou

    code_delete(code=code)
    code.refresh_from_db()
    assert code.deleted_at is not None
    with pytest.raises(WeComError) as gone:
        wecom_client().post("externalcontact/get_contact_way", data={"config_id": code.config_id})
    assert gone.value.errcode == 40058


def test_the_schedule_answers_by_weekday_and_hour_and_falls_back_to_backups(db):
    store = StoreFactory(code="SH01")
    day, night, backup = (AssociateFactory(store=store, wecom_userid=u) for u in ("day", "night", "backup"))
    code = ContactWay.objects.create(store=store, kind=ContactWay.Kind.STORE, state="cSchedule")
    ContactWaySlot.objects.create(contact_way=code, associate=day, weekdays="12345", start_hour=10, end_hour=18)
    ContactWaySlot.objects.create(contact_way=code, associate=night, weekdays="12345", start_hour=18, end_hour=22)
    ContactWaySlot.objects.create(contact_way=code, associate=backup, weekdays="1234567", is_backup=True)
    monday = dt.datetime(2026, 12, 7, tzinfo=LOCAL)  # a Monday

    assert code_route_userids(code=code, now=monday.replace(hour=11)) == ["day"]
    assert code_route_userids(code=code, now=monday.replace(hour=19)) == ["night"]
    assert code_route_userids(code=code, now=monday.replace(hour=23)) == ["backup"]
    assert code_route_userids(code=code, now=(monday + dt.timedelta(days=5)).replace(hour=11)) == ["backup"]
    day.is_active = False
    day.save()
    assert code_route_userids(code=code, now=monday.replace(hour=11)) == ["backup"]


def test_a_member_state_names_its_member_and_cannot_be_forged(settings):
    state = member_state(customer_id=123456789)

    assert len(state) <= 30
    assert member_state_customer_id(state) == 123456789
    assert member_state_customer_id(state[:-1] + ("0" if state[-1] != "0" else "1")) is None
    assert member_state_customer_id("m21i3v9_" + "0" * 10) is None
    assert member_state_customer_id("cabcdef") is None


@pytest.mark.django_db(transaction=True)
def test_a_members_code_routes_to_the_nearest_store_and_links_the_one_id_customer_at_once(emulator):
    _, lin, _ = _staff(emulator)
    far = StoreFactory(code="BJ01", name="北京三里屯店", latitude=Decimal("39.93"), longitude=Decimal("116.45"))
    AssociateFactory(store=far, wecom_userid="wangfang", name="王芳")
    emulator.control("POST", "associates", {"userid": "wangfang", "name": "王芳"})
    lin.store.latitude, lin.store.longitude = Decimal("31.22"), Decimal("121.45")
    lin.store.save()
    store_code = code_create(kind=ContactWay.Kind.STORE, store=lin.store, label="静安店", welcome_text="会员您好")
    code_create(kind=ContactWay.Kind.STORE, store=far, label="三里屯店")
    member = CustomerFactory(name="线上会员")
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value="+8613900000001")

    way = code_member_way(customer=member, latitude=31.2, longitude=121.5)
    assert (way.parent, way.associate, way.state) == (store_code, lin, member_state(customer_id=member.pk))
    assert code_member_way(customer=member, latitude=31.2, longitude=121.5) == way

    external_userid = _scan(emulator, way, "线上会员")
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.get()
    assert (follow.customer_id, follow.contact_way) == (member.pk, way)
    assert member.identities.filter(kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid).exists()
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    assert next(m["body"] for m in transcript if m["kind"] == "welcome") == {"content": "会员您好"}
    today = timezone.now().astimezone(LOCAL).date()
    assert code_totals(codes_stats(since=today, until=today))[store_code.pk].adds == 1


@pytest.mark.django_db(transaction=True)
def test_an_acquisition_link_adds_through_its_channel_with_the_codes_tags_and_counts(emulator, client):
    store, lin, _ = _staff(emulator)
    tag = Tag.objects.create(group="渠道", name="短信获客")
    link = code_create(kind=ContactWay.Kind.LINK, store=store, label="双十二短信", channel="sms", tags=[tag])
    assert link.link_url.endswith(f"?customer_channel={link.state}") and link.link_id and not link.config_id

    external_userid = emulator.control("POST", "customers", {"name": "赵敏"})["external_userid"]
    emulator.control(
        "POST",
        "links/open",
        {"external_userid": external_userid, "link_id": link.link_id, "customer_channel": link.state},
    )
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.get()
    assert (follow.contact_way, follow.add_way, follow.associate) == (link, 16, lin)
    assert CustomerTag.objects.get(customer=follow.customer).tag == tag
    quota = wecom_client().get("externalcontact/customer_acquisition_quota")
    assert quota["total"] - quota["balance"] == 1

    # Its figures page in admin shows the quota and the link's clicks and adds as WeCom reports them.
    client.force_login(UserFactory(username="hq", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/clientbook/contactway/{link.pk}/stats/").content.decode()
    assert f'id="link-quota">{quota["balance"]}/{quota["total"]}<' in page
    assert "1 / 1" in page


def test_code_figures_are_what_an_independent_count_of_the_rows_says(db):
    store = StoreFactory(code="SH01")
    associate = AssociateFactory(store=store, wecom_userid="lin")
    code = ContactWay.objects.create(store=store, kind=ContactWay.Kind.STORE, state="cStats")
    child = ContactWay.objects.create(store=store, kind=ContactWay.Kind.MEMBER, state="mChild", parent=code)
    other = ContactWay.objects.create(store=store, kind=ContactWay.Kind.CHANNEL, state="cOther")
    now = dt.datetime(2026, 12, 8, 12, tzinfo=LOCAL)
    day = lambda d, h=12: dt.datetime(2026, 12, d, h, tzinfo=LOCAL)  # noqa: E731
    people = []
    # (code, added, ended, reason, orders [(at, amount, status)])
    plan = [
        (code, day(1), None, "", [(day(3), "100.00", "completed"), (day(20), "50.00", "completed")]),
        (code, day(1), day(4), "customer_deleted", []),
        (code, day(1, 23), day(30 - 25), "transferred", [(day(1, 1), "80.00", "completed")]),  # bought before
        (child, day(2), None, "", [(day(5), "30.00", "cancelled"), (day(6), "70.00", "completed")]),
        (code, day(7, 1), day(7, 2), "associate_deleted", []),
        (other, day(2), None, "", [(day(3), "999.00", "completed")]),
    ]
    for n, (way, added, ended, reason, orders) in enumerate(plan):
        customer = CustomerFactory()
        people.append(customer)
        FollowRelation.objects.create(
            associate=associate,
            customer=customer,
            external_userid=f"wm{n:030d}",
            contact_way=way,
            followed_at=added,
            ended_at=ended,
            ended_reason=reason,
        )
        for at, amount, status in orders:
            OrderFactory(customer=customer, store=store, placed_at=at, total_amount=Decimal(amount), status=status)

    rows = codes_stats(since=dt.date(2026, 12, 1), until=dt.date(2026, 12, 8), code_ids=[code.pk], now=now)

    by_day = {
        d.isoformat(): (r.adds, r.deletes, r.due_7, r.kept_7, r.due_30, r.converted, r.sales)
        for (_, d), r in rows.items()
    }
    assert by_day == {
        # adds on the 1st: three; due at 7 days the two of 12:00 (the one of 23:00 is not 7 days old on the 8th at
        # 12:00), one of them deleted by the customer within 7 days; the transfer is not a delete; converted: the
        # first customer only (the third bought before adding), sales 150.00 within 30 days.
        "2026-12-01": (3, 0, 2, 1, 0, 1, Decimal("150.00")),
        # the member's code counts for its store code: its add, and its first valid order (70.00, the cancelled one
        # does not count) on the 6th.
        "2026-12-02": (1, 0, 0, 0, 0, 1, Decimal("70.00")),
        "2026-12-04": (0, 1, 0, 0, 0, 0, Decimal("0.00")),
        "2026-12-07": (1, 1, 0, 0, 0, 0, Decimal("0.00")),
    }
    total = code_totals(rows)[code.pk]
    assert (total.adds, total.deletes, total.net, total.converted, total.sales) == (5, 2, 3, 2, Decimal("220.00"))
