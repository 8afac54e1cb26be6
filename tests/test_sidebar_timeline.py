"""The customer timeline (轨迹): every kind in one stream newest first, keyset pages without duplicates or gaps, a
constant number of queries however long the history, and the sidebar's scoping (404 for another store's customer)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from associates.auth import SESSION_KEY
from clientbook.services import follow_up_task_create
from customers.models import CustomerNote
from customers.services import customer_merge
from sidebar.timeline import KIND_LABELS, TIMELINE_SOURCES
from tests.factories import AssociateFactory, CustomerFactory, OrderFactory, StoreFactory
from tests.timeline_world import timeline_world_make


def _sign_in(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


@pytest.fixture
def world(db):
    store, elsewhere = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(name="陈静", primary_store=store, primary_associate=associate)
    return {"store": store, "elsewhere": elsewhere, "associate": associate, "customer": customer}


def _url(customer_id: int, after: str | None = None) -> str:
    return f"/api/v1/sidebar/customers/{customer_id}/timeline/" + (f"?after={after}" if after else "")


def _all_pages(client, customer_id: int) -> list[dict]:
    events, after = [], None
    while True:
        body = client.get(_url(customer_id, after)).json()
        events.extend(body["events"])
        after = body["next"]
        if after is None:
            return events


def test_every_kind_shows_in_one_stream_newest_first(client, world):
    made = timeline_world_make(store=world["store"], associate=world["associate"], customer=world["customer"])

    response = _sign_in(client, world["associate"]).get(_url(world["customer"].pk))

    assert response.status_code == 200
    events = response.json()["events"]
    assert [event["kind"] for event in events] == made.kinds
    assert {source.kind for source in TIMELINE_SOURCES} == set(made.kinds) == set(KIND_LABELS)
    assert response.json()["next"] is None
    by_kind = {event["kind"]: event for event in events}
    assert (by_kind["purchase"]["channel_label"], by_kind["purchase"]["amount"]) == ("门店POS", "1699.00")
    assert by_kind["purchase"]["associate"] == "林雨"
    assert (by_kind["return"]["channel_label"], by_kind["return"]["amount"]) == ("线上商城", "299.00")
    assert by_kind["coupon_sent"]["title"] == "满300减50"
    assert (by_kind["coupon_redeemed"]["detail"], by_kind["coupon_redeemed"]["amount"]) == ("POS-TL-2", "50.00")
    assert by_kind["community_join"]["title"] == "静安店会员 1 群"
    assert by_kind["community_invite"]["title"] == "静安店会员群"
    assert (by_kind["product_sent"]["title"], by_kind["product_sent"]["detail"]) == ("真丝连衣裙 黑色 M", "买过同系列")
    assert by_kind["campaign"]["title"] == "冬季新品上市"
    assert by_kind["note"]["detail"] == "穿 M 码，喜欢黑色，周末到店"
    assert by_kind["tag_added"]["title"] == "真丝控"
    assert by_kind["friend_deleted"]["detail"] == "客户删除了导购"
    assert by_kind["friend_deleted"]["associate"] == "王芳"
    assert by_kind["task_done"]["title"] == "周六到店试穿提醒"
    assert events[0]["at"].endswith("+08:00")


def _notes(customer, associate, count: int, at) -> None:
    CustomerNote.objects.bulk_create(
        [CustomerNote(customer=customer, author=associate, text=f"备注 {n}") for n in range(count)]
    )
    CustomerNote.objects.filter(customer=customer).update(created_at=at)


def test_the_query_count_is_the_same_for_1_and_500_events(client, world):
    customer, associate = world["customer"], world["associate"]
    _sign_in(client, associate)
    lone = CustomerFactory(name="只有一件事", primary_store=world["store"])
    OrderFactory(customer=lone, store=world["store"], placed_at=timezone.now())
    made = timeline_world_make(store=world["store"], associate=associate, customer=customer)
    _notes(customer, associate, 500 - len(made.kinds), timezone.now() - timedelta(days=2))
    client.get(_url(lone.pk))  # the session's first read is not the page's

    counts = []
    for customer_id in (lone.pk, customer.pk):
        with CaptureQueriesContext(connection) as one_page:
            body = client.get(_url(customer_id)).json()
        counts.append(len(one_page))
        if customer_id == customer.pk:
            with CaptureQueriesContext(connection) as next_page:
                client.get(_url(customer_id, body["next"]))
            counts.append(len(next_page))

    assert counts[0] == counts[1] == counts[2]
    timeline_queries = [q["sql"] for q in one_page.captured_queries if "UNION ALL" in q["sql"]]
    assert len(timeline_queries) == 1
    # The associate (session), the visible customer, the person's records (survivor, then its merged records), the
    # page; with the database cache (SQLite's default) the session's cache read is one more.
    database = [q["sql"] for q in one_page.captured_queries if "omni_cache" not in q["sql"]]
    assert len(database) == 5, "\n".join(sql[:70] for sql in database)
    assert len(_all_pages(client, customer.pk)) == 500


def test_pages_have_no_duplicates_or_gaps_when_timestamps_are_equal(client, world):
    customer, associate = world["customer"], world["associate"]
    same_moment = timezone.now().replace(microsecond=0) - timedelta(days=1)
    _notes(customer, associate, 45, same_moment)
    for n in range(7):
        OrderFactory(customer=customer, store=world["store"], placed_at=same_moment, external_id=f"SAME-{n}")

    events = _all_pages(_sign_in(client, associate), customer.pk)

    keys = [(event["kind"], event["id"]) for event in events]
    assert len(keys) == len(set(keys)) == 52
    assert {event["at"] for event in events} == {timezone.localtime(same_moment).isoformat()}
    assert keys == sorted(keys, reverse=True)


def test_a_merged_customer_shows_the_person_and_its_old_id_is_404(client, world):
    customer, associate = world["customer"], world["associate"]
    twin = CustomerFactory(name="陈静（小程序）", primary_store=world["store"])
    OrderFactory(customer=twin, store=world["store"], external_id="TWIN-1", placed_at=timezone.now())
    OrderFactory(customer=customer, store=world["store"], external_id="MAIN-1", placed_at=timezone.now())
    customer_merge(source=twin, target=customer, reason="同一人")

    _sign_in(client, associate)
    events = client.get(_url(customer.pk)).json()["events"]

    assert sorted(event["detail"] for event in events) == ["MAIN-1", "TWIN-1"]
    assert client.get(_url(twin.pk)).status_code == 404


def test_another_stores_associate_gets_404_like_a_missing_customer(client, world):
    timeline_world_make(store=world["store"], associate=world["associate"], customer=world["customer"])
    stranger = AssociateFactory(store=world["elsewhere"], wecom_userid="beijing", name="北京导购")

    _sign_in(client, stranger)
    hidden, missing = client.get(_url(world["customer"].pk)), client.get(_url(999999))

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_a_bad_cursor_is_a_clear_400(client, world):
    response = _sign_in(client, world["associate"]).get(_url(world["customer"].pk, "not-a-cursor"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_tasks_are_the_viewers_own(client, world):
    colleague = AssociateFactory(store=world["store"], wecom_userid="wangfang", name="王芳")
    follow_up_task_create(
        associate=colleague, customer=world["customer"], title="王芳的任务", due_on=timezone.localdate()
    )
    follow_up_task_create(
        associate=world["associate"], customer=world["customer"], title="我的任务", due_on=timezone.localdate()
    )

    events = _sign_in(client, world["associate"]).get(_url(world["customer"].pk)).json()["events"]

    assert [event["title"] for event in events] == ["我的任务"]
