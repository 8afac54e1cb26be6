"""The workbench (the WeCom app's home): my open tasks, my customers with search, tag filter and paging."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associates.auth import SESSION_KEY
from clientbook.models import FollowUpTask
from customers.models import CustomerTag, Identity, Tag
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, OrderFactory, StoreFactory


@pytest.fixture
def world(client, db):
    store, other = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01")
    associate = AssociateFactory(store=store, name="林雨")
    chen = CustomerFactory(name="陈静", primary_store=store, phone="+8613812345678")
    IdentityFactory(customer=chen, kind=Identity.Kind.POS_MEMBER_NO, value="M0042")
    CustomerTag.objects.create(customer=chen, tag=Tag.objects.create(name="VIP"))
    OrderFactory(customer=chen, store=store)
    CustomerFactory(name="王芳", primary_store=store)
    CustomerFactory(name="北京客户", primary_store=other)
    FollowUpTask.objects.create(
        associate=associate, customer=chen, title="周六试穿提醒", due_on=datetime.date(2026, 11, 28)
    )
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return {"associate": associate, "chen": chen}


@pytest.mark.django_db
def test_the_workbench_lists_my_tasks_and_my_stores_customers_only(client, world):
    html = client.get("/workbench/").content.decode()

    assert "周六试穿提醒" in html
    assert "陈静" in html and "王芳" in html
    assert "北京客户" not in html
    assert "138****5678" in html and "13812345678" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["陈", "13812345678", "138 1234 5678", "M0042"])
def test_search_finds_a_customer_by_name_phone_or_member_number(client, world, query):
    html = client.get("/workbench/", {"q": query}).content.decode()

    assert "陈静" in html
    assert "王芳" not in html


@pytest.mark.django_db
def test_the_tag_filter_and_a_search_for_another_stores_customer(client, world):
    tagged = client.get("/workbench/", {"tag": "VIP"}).content.decode()
    foreign = client.get("/workbench/", {"q": "北京客户"}).content.decode()

    assert "陈静" in tagged and "王芳" not in tagged
    assert 'class="row customer"' not in foreign
    assert "没有符合条件的客户" in foreign


@pytest.mark.django_db
def test_the_workbench_takes_the_same_queries_for_a_page_of_3_or_of_20_customers(client, world):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/workbench/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(30):
        customer = CustomerFactory(name=f"客户{n:02d}", primary_store=world["associate"].store)
        CustomerTag.objects.create(customer=customer, tag=Tag.objects.get(name="VIP"))
        OrderFactory(customer=customer, store=world["associate"].store)

    assert queries() == few


@pytest.mark.django_db
def test_the_workbench_needs_wecom_sign_in(db):
    from django.test import Client

    response = Client().get("/workbench/")

    assert response.status_code == 302
    assert response["Location"].startswith("/wecom/oauth/start/")
