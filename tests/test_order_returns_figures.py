"""A mall order returned in another store through the POS API: the mall's attributed sale and the associate's and
stores' figures (attribution, DailyStats, the dashboard, 我的业绩) drop by the refund exactly once — a replay changes
nothing — and the drop is the credited associate's, not the returning store's; an exchange's new sale is the store's
that made it."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel, Order
from insights.attribution import attribution_recompute, attribution_refresh
from insights.models import Attribution, DailyStats, TouchKind
from insights.selectors import dashboard_get, store_month_get
from insights.stats import daily_stats_refresh
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

PLACED = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)  # 14:00 in Shanghai, 20 November
RETURNED = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai, 22 November
DAYS = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


@pytest.fixture
def world():
    jingan, xuhui = StoreFactory(code="JA01", name="静安店"), StoreFactory(code="XH01", name="徐汇店")
    lin, wang = AssociateFactory(store=jingan, name="林雨"), AssociateFactory(store=xuhui, name="王芳")
    customer = CustomerFactory(name="陈静")
    dress, belt = ProductFactory(sku="DRESS-1", category="连衣裙"), ProductFactory(sku="BELT-1", category="配饰")
    # Lin sent her the dress three days before she ordered it in the mall: the mall's sale is Lin's.
    Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=lin,
        store=jingan,
        customer=customer,
        product=dress,
        source=Outreach.Source.SUGGESTION,
        sent_at=PLACED - dt.timedelta(days=3),
    )
    order = OrderFactory(
        channel=Channel.ONLINE_MALL,
        external_id="MALL-1",
        store=None,
        customer=customer,
        placed_at=PLACED,
        total_amount=Decimal("1247.00"),
    )
    OrderLineFactory(order=order, line_no=1, product=dress, quantity=1, unit_price=Decimal("899.00"), discount=50)
    OrderLineFactory(order=order, line_no=2, product=belt, quantity=2, unit_price=Decimal("199.00"))
    _, secret = api_key_create(name="徐汇店 POS", channel=Channel.STORE_POS, stores=[xuhui])
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    attribution_refresh()
    return {"jingan": jingan, "xuhui": xuhui, "lin": lin, "wang": wang, "order": order, "pos": pos}


def _return_belt(pos, request_no="XH-R-1"):
    with time_machine.travel(RETURNED, tick=False):
        return pos.post(
            "/api/v1/orders/returns",
            {
                "request_no": request_no,
                "order_no": "MALL-1",
                "order_channel": "online_mall",
                "store": "XH01",
                "refund_amount": "199.00",
                "lines": [{"line_no": 2, "quantity": 1}],
            },
            format="json",
        )


def _refresh():
    attribution_refresh()
    daily_stats_refresh(start=DAYS[0], end=DAYS[1])


def _figures():
    """(day, store, associate) → (orders, gmv) of every DailyStats row with sales."""
    return {
        (row.day, row.store_id, row.associate_id): (row.orders, row.gmv)
        for row in DailyStats.objects.all()
        if row.orders or row.gmv
    }


def test_the_mall_sale_returned_in_another_store_drops_the_credited_figures_once(world):
    _refresh()
    assert _figures() == {(dt.date(2026, 11, 20), world["jingan"].pk, world["lin"].pk): (1, Decimal("1247.00"))}

    assert _return_belt(world["pos"]).status_code == 201
    _refresh()

    order_return = Order.objects.get(original=world["order"])
    (taken_back,) = Attribution.objects.filter(order=order_return)
    assert (taken_back.associate_id, taken_back.store_id, taken_back.share, taken_back.amount) == (
        world["lin"].pk,
        world["jingan"].pk,
        Decimal("0"),
        Decimal("-199.00"),
    )
    assert taken_back.touch_kind == TouchKind.RETURN
    expected = {
        (dt.date(2026, 11, 20), world["jingan"].pk, world["lin"].pk): (1, Decimal("1247.00")),
        (dt.date(2026, 11, 22), world["jingan"].pk, world["lin"].pk): (0, Decimal("-199.00")),
    }
    assert _figures() == expected  # nothing for 徐汇店, which only took the goods back

    # A replay of the return, a second refresh and a recompute of the period change nothing.
    assert _return_belt(world["pos"]).status_code == 200
    _refresh()
    attribution_recompute(start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), end=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    daily_stats_refresh(start=DAYS[0], end=DAYS[1])
    assert _figures() == expected
    assert Attribution.objects.filter(order__original=world["order"]).count() == 1

    dashboard = dashboard_get(store_ids=None, start=DAYS[0], end=DAYS[1])
    assert (dashboard.totals["orders"], dashboard.totals["gmv"]) == (1, Decimal("1048.00"))
    assert {row["associate_id"]: row["gmv"] for row in dashboard.associates} == {world["lin"].pk: Decimal("1048.00")}
    month = store_month_get(store=world["jingan"], today=dt.date(2026, 11, 22))
    assert (month.month_gmv, month.row_of(world["lin"].pk).month_gmv) == (Decimal("1048.00"), Decimal("1048.00"))
    assert (month.today_gmv, month.row_of(world["lin"].pk).today_gmv) == (Decimal("-199.00"), Decimal("-199.00"))
    assert store_month_get(store=world["xuhui"], today=dt.date(2026, 11, 22)).month_gmv == Decimal("0")


def test_my_month_page_shows_the_sale_less_the_return(client, world):
    _return_belt(world["pos"])
    _return_belt(world["pos"])
    _refresh()
    session = client.session
    session[SESSION_KEY] = world["lin"].pk
    session.save()

    with time_machine.travel(RETURNED, tick=False):
        html = client.get("/workbench/month/").content.decode()

    assert 'id="month-gmv">1048<' in html


def test_an_exchange_credits_the_new_sale_to_the_store_and_associate_that_made_it(world):
    assert _return_belt(world["pos"]).status_code == 201
    with time_machine.travel(RETURNED + dt.timedelta(minutes=5), tick=False):
        sale = world["pos"].post(
            "/api/v1/orders/batch",
            {
                "orders": [
                    {
                        "external_id": "XH-S-1",
                        "placed_at": "2026-11-22T11:05:00+08:00",
                        "store": "XH01",
                        "associate": world["wang"].wecom_userid,
                        "customer": {"identities": []},
                        "lines": [{"sku": "DRESS-1", "quantity": 1, "unit_price": "259.00"}],
                    }
                ]
            },
            format="json",
        )
    assert sale.status_code == 200, sale.json()
    Order.objects.filter(external_id="XH-S-1").update(customer=world["order"].customer)
    _refresh()

    assert _figures() == {
        (dt.date(2026, 11, 20), world["jingan"].pk, world["lin"].pk): (1, Decimal("1247.00")),
        (dt.date(2026, 11, 22), world["jingan"].pk, world["lin"].pk): (0, Decimal("-199.00")),
        (dt.date(2026, 11, 22), world["xuhui"].pk, world["wang"].pk): (1, Decimal("259.00")),
    }
    (new_sale,) = Attribution.objects.filter(order__external_id="XH-S-1")
    assert (new_sale.associate_id, new_sale.store_id, new_sale.touch_kind) == (
        world["wang"].pk,
        world["xuhui"].pk,
        TouchKind.CASHIER,
    )


def test_a_return_of_an_order_nobody_was_credited_with_credits_nothing_back(world):
    Attribution.objects.filter(order=world["order"]).delete()

    _return_belt(world["pos"])
    attribution_refresh()

    assert not Attribution.objects.filter(order__original=world["order"]).exists()


def test_a_split_sale_is_taken_back_in_the_same_shares_summing_to_the_refund(world):
    Attribution.objects.filter(order=world["order"]).delete()
    Attribution.objects.bulk_create(
        [
            Attribution(
                order=world["order"],
                customer_id=world["order"].customer_id,
                associate=person,
                store=person.store,
                share=share,
                amount=amount,
                placed_at=PLACED,
                touch_kind=TouchKind.PRODUCT_CARD,
                rule="split",
                window_days=14,
                computed_at=PLACED,
            )
            for person, share, amount in (
                (world["lin"], Decimal("0.3333"), Decimal("415.62")),
                (world["wang"], Decimal("0.6667"), Decimal("831.38")),
            )
        ]
    )

    _return_belt(world["pos"])
    attribution_refresh()

    rows = {row.associate_id: row.amount for row in Attribution.objects.filter(order__original=world["order"])}
    assert rows == {world["lin"].pk: Decimal("-66.32"), world["wang"].pk: Decimal("-132.68")}
