"""The sidebar JSON API: scoping (404, no leak), masking, audit rows, writes, and constant query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from customers.models import AuditLog, Channel, CustomerNote, Identity, Order
from sidebar.customer_apis import OrdersPageOut, SidebarProfileOut
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)


def _sign_in(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


@pytest.fixture
def world(db):
    store_a, store_b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    associate = AssociateFactory(store=store_a, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(name="陈静", primary_store=store_a, phone="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.WECHAT_UNIONID, value="o6_AbCdEfGhIjKlMnOpQrStUvWx")
    other = CustomerFactory(name="北京客户", primary_store=store_b)
    dress, serum = ProductFactory(category="dress"), ProductFactory(category="serum")
    for channel, store, days, product, price in [
        (Channel.STORE_POS, store_a, 40, dress, "1699.00"),
        (Channel.MINI_PROGRAM, store_a, 20, serum, "420.00"),
        (Channel.ONLINE_MALL, None, 3, serum, "420.00"),
    ]:
        order = OrderFactory(
            customer=customer,
            channel=channel,
            store=store,
            placed_at=timezone.now() - timedelta(days=days),
            total_amount=Decimal(price),
        )
        OrderLineFactory(order=order, line_no=1, product=product, quantity=1, unit_price=Decimal(price))
    return {"associate": associate, "customer": customer, "other": other, "store_b": store_b}


@pytest.mark.django_db
def test_the_profile_shows_one_customer_across_channels_masked(client, world):
    _sign_in(client, world["associate"])
    customer = world["customer"]

    body = client.get(f"/api/v1/sidebar/customers/{customer.pk}/", REMOTE_ADDR="10.0.0.8").json()

    assert body["customer"]["name"] == "陈静"
    assert body["customer"]["phone"] == "138****5678"
    assert body["customer"]["primary_store"] == "上海静安店"
    assert {i["kind"]: i["value"] for i in body["identities"]} == {
        "phone": "138****5678",
        "wechat_unionid": "o6_Ab****tUvWx",
    }
    assert "13812345678" not in str(body) and "o6_AbCdEfGhIjKlMnOpQrStUvWx" not in str(body)
    figures = body["figures"]
    assert (figures["lifetime_spend"], figures["orders"], figures["tier"]) == ("2539.00", 3, "银卡")
    assert figures["favourite_categories"] == ["连衣裙", "精华"]
    log = AuditLog.objects.get()
    assert (log.action, log.customer_id, log.associate_id, log.ip) == (
        AuditLog.Action.PROFILE_VIEW,
        customer.pk,
        world["associate"].pk,
        "10.0.0.8",
    )


def _conforms(serializer, body) -> None:
    """`body` has exactly the fields `serializer` documents in the OpenAPI schema, each of a valid type."""
    data = serializer(data=body)
    assert data.is_valid(), data.errors
    for name, field in serializer().fields.items():
        nested = getattr(field, "child", field)
        if isinstance(nested, serializers.Serializer):
            for item in body[name] if isinstance(field, serializers.ListSerializer) else [body[name]]:
                if item is not None:
                    _conforms(type(nested), item)
    assert set(body) == set(serializer().fields)


@pytest.mark.django_db
def test_the_hand_built_responses_match_their_documented_serializers(client, world):
    _sign_in(client, world["associate"])
    CustomerNote.objects.create(customer=world["customer"], author=world["associate"], text="喜欢真丝")
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/"
    without_follow = client.get(url).json()
    FollowRelation.objects.create(
        associate=world["associate"],
        customer=world["customer"],
        external_userid="wm_chen",
        add_way=1,
        contact_type=FollowRelation.ContactType.WECHAT,
        remark="陈静 真丝",
        followed_at=timezone.now(),
    )
    with_follow = client.get(url).json()

    assert without_follow["wecom"] is None
    assert with_follow["wecom"] | {"followed_at": None} == {
        "remark": "陈静 真丝",
        "followed_at": None,
        "add_way": "扫描二维码",
        "type": "微信用户",
    }
    for body in (without_follow, with_follow):
        _conforms(SidebarProfileOut, body)
    _conforms(OrdersPageOut, client.get(url + "orders/").json())


@pytest.mark.django_db
def test_two_wecom_friendships_with_one_merged_customer_show_the_newest(client, world):
    _sign_in(client, world["associate"])
    for n, days in enumerate((30, 2)):
        FollowRelation.objects.create(
            associate=world["associate"],
            customer=world["customer"],
            external_userid=f"wm_{n}",
            remark=f"第 {n} 个微信",
            followed_at=timezone.now() - timedelta(days=days),
        )

    response = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/")

    assert response.status_code == 200
    assert response.json()["wecom"]["remark"] == "第 1 个微信"


@pytest.mark.django_db
def test_orders_come_newest_first_from_every_channel(client, world):
    _sign_in(client, world["associate"])

    body = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/orders/").json()

    assert [o["channel"] for o in body["orders"]] == ["online_mall", "mini_program", "store_pos"]
    assert [o["channel_label"] for o in body["orders"]] == ["线上商城", "小程序", "门店POS"]
    assert body["orders"][2]["store"] == "上海静安店"
    assert body["orders"][0]["lines"][0]["unit_price"] == "420.00"
    assert body["has_more"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["", "orders/"])
def test_another_stores_customer_is_404_like_a_missing_one(client, world, path):
    _sign_in(client, world["associate"])

    other = client.get(f"/api/v1/sidebar/customers/{world['other'].pk}/{path}")
    missing = client.get(f"/api/v1/sidebar/customers/999999/{path}")

    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.json() == missing.json()
    assert "北京客户" not in other.content.decode()
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_writes_to_another_stores_customer_are_404_and_change_nothing(client, world):
    _sign_in(client, world["associate"])

    note = client.post(
        f"/api/v1/sidebar/customers/{world['other'].pk}/notes/", {"text": "x"}, content_type="application/json"
    )

    assert note.status_code == 404
    assert CustomerNote.objects.count() == 0


@pytest.mark.django_db
def test_without_a_session_or_when_deactivated_the_api_refuses(client, world):
    anonymous = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/")
    _sign_in(client, world["associate"])
    world["associate"].is_active = False
    world["associate"].save()
    deactivated = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/")

    assert anonymous.status_code == 401
    assert deactivated.status_code == 401
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_notes_and_tags_are_added_and_shown(client, world):
    _sign_in(client, world["associate"])
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/"

    note = client.post(f"{url}notes/", {"text": "喜欢真丝面料，下周到店试穿"}, content_type="application/json")
    tag = client.post(f"{url}tags/", {"name": "敏感肌"}, content_type="application/json")
    again = client.post(f"{url}tags/", {"name": "敏感肌"}, content_type="application/json")
    empty = client.post(f"{url}notes/", {"text": "   "}, content_type="application/json")
    profile = client.get(url).json()

    assert (note.status_code, tag.status_code, again.status_code) == (201, 201, 201)
    assert profile["tags"] == ["敏感肌"]
    assert profile["notes"][0] == {**profile["notes"][0], "text": "喜欢真丝面料，下周到店试穿", "author": "林雨"}
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "invalid"
    assert list(empty.json()["error"]["details"]) == ["text"]
    assert CustomerNote.objects.count() == 1


@pytest.mark.django_db
def test_writes_need_the_csrf_token(world):
    client = _sign_in(Client(enforce_csrf_checks=True), world["associate"])

    response = client.post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/notes/", {"text": "x"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert CustomerNote.objects.count() == 0


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.django_db
def test_query_counts_do_not_grow_with_history(client, world):
    _sign_in(client, world["associate"])
    short, long = world["customer"], CustomerFactory(primary_store=world["customer"].primary_store)
    product = ProductFactory(category="dress")
    orders = [
        OrderFactory(customer=long, channel=Channel.ONLINE_MALL, store=None, total_amount=Decimal("10.00"))
        for _ in range(500)
    ]
    for order in orders:
        OrderLineFactory(order=order, line_no=1, product=product, quantity=1, unit_price=Decimal("10.00"))
    assert long.orders.count() == 500 and short.orders.count() == 3

    profile = [_queries(client, f"/api/v1/sidebar/customers/{c.pk}/") for c in (short, long)]
    history = [_queries(client, f"/api/v1/sidebar/customers/{c.pk}/orders/") for c in (short, long)]

    assert profile[0] == profile[1]
    assert history[0] == history[1]
    # session (from the cache where there is one) + associate, then the data: the customer, the figures, their
    # identities, tags and notes (+ the audit row); the history: the customer, then a page of orders with lines
    assert profile[0] <= 2 + 3 + 1
    assert history[0] <= 2 + 2
    assert Order.objects.filter(customer=long).count() == 500


@pytest.mark.django_db
def test_follow_up_tasks_are_created_listed_and_completed_once(client, world):
    _sign_in(client, world["associate"])
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/tasks/"

    created = client.post(url, {"title": "周六到店试穿提醒", "due_on": "2026-11-28"}, content_type="application/json")
    task_id = created.json()["id"]
    done = client.post(f"/api/v1/sidebar/tasks/{task_id}/done/")
    again = client.post(f"/api/v1/sidebar/tasks/{task_id}/done/")
    listed = client.get(url).json()
    bad_date = client.post(url, {"title": "x", "due_on": "明天"}, content_type="application/json")

    assert created.status_code == 201
    assert (done.json()["done"], again.json()["done"]) == (True, True)
    assert listed == [{**listed[0], "title": "周六到店试穿提醒", "due_on": "2026-11-28", "done": True}]
    assert bad_date.status_code == 400


@pytest.mark.django_db
def test_an_associate_cannot_complete_someone_elses_task(client, world):
    from clientbook.models import FollowUpTask

    colleague = AssociateFactory(store=world["associate"].store)
    task = FollowUpTask.objects.create(
        associate=colleague, customer=world["customer"], title="回访", due_on="2026-12-01"
    )
    _sign_in(client, world["associate"])

    response = client.post(f"/api/v1/sidebar/tasks/{task.pk}/done/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "task_not_found"
    task.refresh_from_db()
    assert task.done_at is None
