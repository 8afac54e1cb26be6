"""Client-book handover against the WeCom emulator over HTTP: 在职继承 with a customer who refuses and a takeover
who is full (transfer_fail callbacks), a retry, 离职继承 of a deactivated associate, and store scoping."""

import datetime as dt
import time
import uuid

import pytest
from django.contrib.auth.models import Permission

from clientbook.handover import handover_retry, handover_start, handover_sync
from clientbook.models import FollowRelation, FollowUpTask, Handover, HandoverItem
from coupons.models import Coupon
from coupons.sending import coupon_pack_send
from customers.models import Channel, Customer, CustomerNote
from insights.attribution import attribution_recompute
from insights.models import Attribution
from omni.errors import ApplicationError
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)
from tests.live_emulator import live_emulator

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000009", "1000009", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


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


@pytest.fixture
def book(emulator):
    """林雨 has three WeCom customers (added through the emulator, so Omni learnt them from real callbacks)."""
    store = StoreFactory(code="SH01", name="上海静安店")
    lin = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    zhou = AssociateFactory(store=store, wecom_userid="zhoujie", name="周洁")
    for associate in (lin, zhou):
        emulator.control("POST", "associates", {"userid": associate.wecom_userid, "name": associate.name})
    external_ids = []
    for name in ("陈静", "李娜", "张敏"):
        person = emulator.control("POST", "customers", {"name": name})
        emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "linyu"})
        external_ids.append(person["external_userid"])
    emulator.control("GET", "deliveries", wait=15)
    assert _wait(lambda: FollowRelation.objects.filter(associate=lin).count() == 3)
    follows = {f.external_userid: f for f in FollowRelation.objects.filter(associate=lin).select_related("customer")}
    customers = [follows[e].customer for e in external_ids]
    return {"store": store, "lin": lin, "zhou": zhou, "external_ids": external_ids, "customers": customers}


def _item(external_userid) -> HandoverItem:
    return HandoverItem.objects.get(external_userid=external_userid)


@pytest.mark.django_db(transaction=True)
def test_an_onjob_handover_moves_who_accepts_shows_who_refused_or_did_not_fit_and_retries(emulator, book, client):
    lin, zhou = book["lin"], book["zhou"]
    accepted, refuses, _ = book["customers"]
    e_accepted, e_refuses, e_full = book["external_ids"]
    # History that must survive: a note, an attributed order, a coupon lin sent; a task that must move.
    CustomerNote.objects.create(customer=accepted, text="喜欢真丝")
    task = FollowUpTask.objects.create(associate=lin, customer=accepted, title="回访", due_on=dt.date(2026, 6, 1))
    done_task = FollowUpTask.objects.create(
        associate=lin, customer=accepted, title="已完成", due_on=dt.date(2026, 5, 1), done_at=dt.datetime.now(dt.UTC)
    )
    placed = dt.datetime.now(dt.UTC)
    Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=lin,
        store=lin.store,
        customer=accepted,
        product=ProductFactory(),
        source=Outreach.Source.SUGGESTION,
        sent_at=placed - dt.timedelta(days=1),
    )
    order = OrderFactory(channel=Channel.ONLINE_MALL, store=None, customer=accepted, placed_at=placed)
    attribution_recompute(start=placed - dt.timedelta(hours=1), end=placed + dt.timedelta(hours=1))
    pack = CouponPackItemFactory().pack
    coupon_pack_send(pack_id=pack.pk, customer_id=accepted.pk, request_no="h-1", associate=lin)
    history = list(Attribution.objects.values_list("order_id", "associate_id", "touch_kind", "touch_id"))

    handover = handover_start(from_associate=lin, to_associate=zhou, message="您好，之后由周洁为您服务")

    assert handover.kind == Handover.Kind.ONJOB
    assert set(HandoverItem.objects.values_list("status", flat=True)) == {HandoverItem.Status.WAITING}
    asked = emulator.control("GET", "transfers")["transfers"]
    assert sorted(t["external_userid"] for t in asked) == sorted(book["external_ids"])
    assert {(t["kind"], t["handover_userid"], t["takeover_userid"]) for t in asked} == {("onjob", "linyu", "zhoujie")}

    # When WeCom answers: one accepted, one refused, and the takeover is full for the third.
    for external_userid, outcome in ((e_accepted, "success"), (e_refuses, "refused"), (e_full, "limit")):
        emulator.control(
            "POST",
            "transfers/resolve",
            {"handover_userid": "linyu", "external_userid": external_userid, "outcome": outcome},
        )
    emulator.control("GET", "deliveries", wait=15)

    # Then the transfer_fail callbacks mark the two failures, before any sync.
    assert _wait(lambda: HandoverItem.objects.filter(status=HandoverItem.Status.FAILED).count() == 2)
    assert (_item(e_refuses).fail_reason, _item(e_full).fail_reason) == ("customer_refused", "customer_limit_exceed")
    assert _item(e_accepted).status == HandoverItem.Status.WAITING
    counts = handover_sync(handover=handover)
    assert counts == {"succeeded": 1, "failed": 0, "waiting": 0}
    assert _item(e_accepted).status == HandoverItem.Status.SUCCEEDED

    accepted.refresh_from_db()
    refuses.refresh_from_db()
    assert (accepted.primary_associate_id, refuses.primary_associate_id) == (zhou.pk, lin.pk)
    task.refresh_from_db()
    done_task.refresh_from_db()
    assert (task.associate_id, done_task.associate_id) == (zhou.pk, lin.pk)
    old = FollowRelation.objects.get(associate=lin, external_userid=e_accepted)
    assert old.ended_reason == FollowRelation.Ended.TRANSFERRED
    assert _wait(lambda: FollowRelation.objects.filter(associate=zhou, external_userid=e_accepted).exists())
    assert not FollowRelation.objects.filter(associate=zhou, external_userid=e_refuses).exists()
    # History is never rewritten.
    assert CustomerNote.objects.get(customer=accepted).text == "喜欢真丝"
    assert list(Attribution.objects.values_list("order_id", "associate_id", "touch_kind", "touch_id")) == history
    assert history[0][:2] == (order.pk, lin.pk)
    assert set(Coupon.objects.values_list("associate_id", flat=True)) == {lin.pk}

    # The manager sees why in admin.
    manager = UserFactory()
    book["store"].managers.add(manager)
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="clientbook"))
    client.force_login(manager)
    page = client.get(f"/admin/clientbook/handover/{handover.pk}/change/").content.decode()
    assert "客户拒绝" in page and "接替导购客户数已达上限" in page and "已接替" in page

    # Retry the refused customer: asked again, and this time they accept.
    assert handover_retry(item_ids=[_item(e_refuses).pk]) == 1
    retried = _item(e_refuses)
    assert (retried.status, retried.attempts, retried.fail_reason) == (HandoverItem.Status.WAITING, 2, "")
    assert handover_retry(item_ids=[retried.pk]) == 0  # not failed any more: nothing asked twice
    emulator.control(
        "POST", "transfers/resolve", {"handover_userid": "linyu", "external_userid": e_refuses, "outcome": "success"}
    )
    emulator.control("GET", "deliveries", wait=15)
    assert handover_sync(handover=handover) == {"succeeded": 1, "failed": 0, "waiting": 0}
    refuses.refresh_from_db()
    assert refuses.primary_associate_id == zhou.pk
    assert _item(e_full).status == HandoverItem.Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_resigned_associates_customers_and_pending_tasks_go_to_the_takeover(emulator, book, client):
    lin, zhou = book["lin"], book["zhou"]
    first = book["customers"][0]
    task = FollowUpTask.objects.create(associate=lin, customer=first, title="生日关怀", due_on=dt.date(2026, 6, 1))
    emulator.control("POST", "associates/resign", {"userid": "linyu"})
    lin.is_active = False
    lin.save(update_fields=["is_active"])
    emulator.control("POST", "faults", {"transfer_outcome": "success"})

    manager = UserFactory()
    book["store"].managers.add(manager)
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="clientbook"))
    client.force_login(manager)

    response = client.post(
        "/admin/clientbook/handover/add/",
        {"from_associate": lin.pk, "to_associate": zhou.pk, "scope": "ids", "customer_ids": str(first.pk)},
    )
    emulator.control("GET", "deliveries", wait=15)  # WeCom's add_external_contact for the takeover

    assert response.status_code == 302
    handover = Handover.objects.get()
    assert (handover.from_associate_id, handover.to_associate_id, handover.created_by_id) == (
        lin.pk,
        zhou.pk,
        manager.pk,
    )

    assert handover.kind == Handover.Kind.RESIGNED
    task.refresh_from_db()
    assert task.associate_id == zhou.pk  # at once: nobody will do it meanwhile
    asked = emulator.control("GET", "transfers")["transfers"]
    assert [(t["kind"], t["external_userid"]) for t in asked] == [("resigned", book["external_ids"][0])]
    assert handover_sync(handover=handover) == {"succeeded": 1, "failed": 0, "waiting": 0}
    first.refresh_from_db()
    assert first.primary_associate_id == zhou.pk
    assert Customer.objects.filter(primary_associate=lin).count() == 2  # the others were not in this handover


@pytest.mark.django_db(transaction=True)
def test_wecom_refusing_a_customer_outright_marks_it_failed_with_the_errcode(emulator, book):
    lin, zhou = book["lin"], book["zhou"]
    gone = book["external_ids"][1]
    emulator.control("POST", "contacts/delete", {"external_userid": gone, "userid": "linyu", "by": "customer"})
    emulator.control("GET", "deliveries", wait=15)
    # As if Omni had not heard of the deletion yet (the friendship still looks current here).
    FollowRelation.objects.filter(external_userid=gone).update(ended_at=None, ended_reason="")

    handover_start(from_associate=lin, to_associate=zhou, customer_ids=[book["customers"][1].pk])

    item = _item(gone)
    assert (item.status, item.errcode) == (HandoverItem.Status.FAILED, 84061)
    assert item.fail_label == "企业微信错误 84061"


@pytest.mark.django_db
def test_a_manager_cannot_hand_over_another_stores_associate():
    mine, theirs = StoreFactory(), StoreFactory()
    other = AssociateFactory(store=theirs)
    takeover = AssociateFactory(store=mine)
    FollowRelation.objects.create(
        associate=other, customer=CustomerFactory(), external_userid="wmX", followed_at=dt.datetime.now(dt.UTC)
    )

    with pytest.raises(ApplicationError) as error:
        handover_start(from_associate=other, to_associate=takeover, store_ids=frozenset({mine.pk}))

    assert error.value.code == "associate_out_of_scope"
    assert not Handover.objects.exists()


@pytest.mark.django_db
def test_the_handover_form_offers_only_the_managers_associates(client):
    mine, theirs = StoreFactory(), StoreFactory()
    own = AssociateFactory(store=mine, name="本店导购")
    AssociateFactory(store=theirs, name="别店导购")
    manager = UserFactory()
    mine.managers.add(manager)
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="clientbook"))
    client.force_login(manager)

    html = client.get("/admin/clientbook/handover/add/").content.decode()

    assert own.name in html and "别店导购" not in html
