"""The sidebar's product search: name substrings (Chinese too), SKU prefix, barcode (a scan), category and price
range, in stock here, styles with their variants, stock here and at the nearby stores (by distance, else the same
city), only the brand's catalogue on sale, and bad input as a 400 with a stable code."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from associates.auth import SESSION_KEY
from tests.factories import AssociateFactory, ProductFactory, StoreFactory, StoreStockFactory

URL = "/api/v1/sidebar/products/"


def _signed_in(associate) -> Client:
    client = Client()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


@pytest.fixture
def shop(db):
    here = StoreFactory(code="SH01", name="上海静安店", city="上海", latitude="31.228611", longitude="121.454722")
    near = StoreFactory(code="SH02", name="上海徐汇店", city="上海", latitude="31.188000", longitude="121.437000")
    far = StoreFactory(code="SZ01", name="苏州观前店", city="苏州", latitude="31.311000", longitude="120.622000")
    same_city = StoreFactory(code="SH03", name="上海浦东店", city="上海")
    StoreFactory(code="BJ01", name="北京三里屯店", city="北京")
    dresses = {
        size: ProductFactory(
            sku=f"QM-DR01-BK-{size}",
            name=f"真丝连衣裙 黑色 {size}",
            style_code="QM-DR01",
            size=size,
            category="dress",
            price=Decimal("1699.00"),
            barcode=f"690123456789{n}",
        )
        for n, size in enumerate(["S", "M", "L"])
    }
    scarf = ProductFactory(sku="QM-SC01-RD", name="真丝方巾 红色", category="scarf", price=Decimal("399.00"))
    belt = ProductFactory(sku="QM-BT01-BR", name="细皮带 棕色", category="belt", price=Decimal("299.00"))
    ProductFactory(sku="QM-DR99-OLD", name="真丝连衣裙 旧款", style_code="QM-DR99", is_active=False)
    StoreStockFactory(store=here, product=dresses["M"], quantity=3)
    StoreStockFactory(store=here, product=dresses["S"], quantity=0)
    StoreStockFactory(store=here, product=scarf, quantity=2)
    StoreStockFactory(store=near, product=dresses["S"], quantity=4)
    StoreStockFactory(store=far, product=dresses["S"], quantity=9)
    StoreStockFactory(store=same_city, product=dresses["S"], quantity=1)
    associate = AssociateFactory(store=here, wecom_userid="linyu", name="林雨")
    return {"associate": associate, "dresses": dresses, "scarf": scarf, "belt": belt, "client": _signed_in(associate)}


def _skus(body) -> list[str]:
    return [r["sku"] for r in body["results"]]


def test_a_chinese_substring_finds_the_style_with_its_sizes_and_their_stock_here_and_nearby(shop):
    response = shop["client"].get(URL, {"q": "连衣"})

    assert response.status_code == 200
    body = response.json()
    # one style (its three sizes), never the retired one
    assert _skus(body) == ["QM-DR01-BK-L"]
    (dress,) = body["results"]
    assert [(v["sku"], v["size"], v["store_stock"]) for v in dress["variants"]] == [
        ("QM-DR01-BK-L", "L", 0),
        ("QM-DR01-BK-M", "M", 3),
        ("QM-DR01-BK-S", "S", 0),
    ]
    # nearest first by distance (徐汇 ~5 km, 苏州 ~80 km), then the same city without coordinates; 北京 is not near
    assert [(s["code"], s["distance_km"] is not None) for s in body["nearby_stores"]] == [
        ("SH02", True),
        ("SZ01", True),
        ("SH03", False),
    ]
    assert dress["variants"][2]["nearby_stock"] == [
        {"store": "上海徐汇店", "quantity": 4},
        {"store": "苏州观前店", "quantity": 9},
        {"store": "上海浦东店", "quantity": 1},
    ]
    assert body["store"] == {"code": "SH01", "name": "上海静安店"}
    assert body["has_more"] is False


def test_a_sku_prefix_a_barcode_and_a_scan_result_find_exactly_their_product(shop):
    client = shop["client"]

    assert _skus(client.get(URL, {"q": "qm-sc"}).json()) == ["QM-SC01-RD"]
    # a SKU matches by its start only
    assert _skus(client.get(URL, {"q": "SC01"}).json()) == []
    assert _skus(client.get(URL, {"q": "6901234567891"}).json()) == ["QM-DR01-BK-M"]
    scanned = client.get(URL, {"barcode": "EAN_13,6901234567891"}).json()
    assert [v["sku"] for v in scanned["results"][0]["variants"]] == ["QM-DR01-BK-L", "QM-DR01-BK-M", "QM-DR01-BK-S"]
    assert client.get(URL, {"barcode": "6900000000000"}).json()["results"] == []


def test_category_price_range_and_in_stock_here_narrow_the_results(shop):
    client = shop["client"]

    assert _skus(client.get(URL, {"category": "scarf"}).json()) == ["QM-SC01-RD"]
    assert _skus(client.get(URL, {"price_min": "250", "price_max": "400"}).json()) == ["QM-BT01-BR", "QM-SC01-RD"]
    assert _skus(client.get(URL, {"q": "真丝", "in_stock": "true"}).json()) == ["QM-DR01-BK-M", "QM-SC01-RD"]
    assert _skus(client.get(URL, {"in_stock": "true", "store": "SH02"}).json()) == ["QM-DR01-BK-S"]


def test_pages_follow_each_other_and_a_page_past_the_end_is_a_400(shop):
    client = shop["client"]
    for n in range(25):
        ProductFactory(sku=f"PG-{n:03d}", name=f"棉质T恤 {n}")

    first = client.get(URL, {"q": "T恤"}).json()
    second = client.get(URL, {"q": "T恤", "page": 2}).json()

    assert (len(first["results"]), first["has_more"]) == (20, True)
    assert (_skus(second), second["has_more"]) == ([f"PG-{n:03d}" for n in range(20, 25)], False)
    past = client.get(URL, {"q": "T恤", "page": 3})
    assert (past.status_code, past.json()["error"]["code"]) == (400, "page_out_of_range")


@pytest.mark.parametrize(
    "query, code",
    [
        ({"price_min": "500", "price_max": "100"}, "price_range_reversed"),
        ({"store": "NOPE"}, "unknown_store"),
        ({"page": "0"}, "page_out_of_range"),
        ({"page": "51"}, "page_out_of_range"),
    ],
)
def test_bad_input_is_a_400_with_a_stable_code(shop, query, code):
    response = shop["client"].get(URL, query)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_without_an_associate_session_the_search_is_refused(shop):
    assert Client().get(URL, {"q": "连衣"}).status_code in (401, 403)


@pytest.mark.postgres
def test_on_postgresql_the_name_and_sku_prefix_are_matched_through_their_indexes(shop):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(
                "EXPLAIN SELECT id FROM customers_product WHERE name ILIKE %s OR UPPER(sku::text) LIKE UPPER(%s)",
                ["%连衣裙%", "qm-dr%"],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
    assert "product_name_trgm" in plan and "product_sku_prefix" in plan
    assert _skus(shop["client"].get(URL, {"q": "丝连衣"}).json()) == ["QM-DR01-BK-L"]
