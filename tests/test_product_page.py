"""The product page a news card from the chat links to: public, and says where the product can be bought."""

from decimal import Decimal

import pytest

from tests.factories import ProductFactory, StoreFactory, StoreStockFactory


@pytest.mark.django_db
def test_the_product_page_shows_price_and_the_stores_that_have_it(client):
    product = ProductFactory(
        sku="QM-DR01-BK-M", name="真丝连衣裙 黑色 M", category="dress", size="M", price=Decimal("1699")
    )
    stocked, empty = StoreFactory(name="上海静安店"), StoreFactory(name="北京三里屯店")
    StoreStockFactory(store=stocked, product=product, quantity=2)
    StoreStockFactory(store=empty, product=product, quantity=0)

    response = client.get("/p/QM-DR01-BK-M/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "真丝连衣裙 黑色 M" in page and "¥1699" in page and "连衣裙" in page and "尺码 M" in page
    assert "上海静安店" in page and "北京三里屯店" not in page


@pytest.mark.django_db
def test_an_unknown_or_withdrawn_product_is_404(client):
    ProductFactory(sku="QM-OLD", is_active=False)

    assert client.get("/p/QM-NOPE/").status_code == 404
    assert client.get("/p/QM-OLD/").status_code == 404
