"""Django admin: store managers see and edit only their stores' rows; brand data is read-only."""

import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associates.models import Store
from customers.models import ApiKey, AuditLog, Customer, CustomerMerge, IdentityConflict, Order
from insights.models import DailyStats
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    StoreFactory,
    StoreStockFactory,
    UserFactory,
)

MANAGER_PERMISSIONS = [
    "view_customer",
    "change_customer",
    "view_order",
    "view_storestock",
    "change_storestock",
    "view_store",
    "view_associate",
    "view_auditlog",
    "view_identity",
    "view_customernote",
    "add_customernote",
]


@pytest.fixture
def two_stores(db):
    store_a, store_b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    manager = UserFactory(username="manager_a")
    manager.user_permissions.set(Permission.objects.filter(codename__in=MANAGER_PERMISSIONS))
    store_a.managers.add(manager)
    customer_a = CustomerFactory(name="上海客户", primary_store=store_a, phone="+8613812345678")
    customer_b = CustomerFactory(name="北京客户", primary_store=store_b)
    return {
        "a": store_a,
        "b": store_b,
        "manager": manager,
        "customer_a": customer_a,
        "customer_b": customer_b,
        "order_a": OrderFactory(store=store_a, customer=customer_a, external_id="A-1"),
        "order_b": OrderFactory(store=store_b, customer=customer_b, external_id="B-1"),
        "stock_b": StoreStockFactory(store=store_b),
    }


@pytest.mark.django_db
def test_a_manager_lists_only_their_stores_customers(client, two_stores):
    client.force_login(two_stores["manager"])

    response = client.get("/admin/customers/customer/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "上海客户" in html
    assert "北京客户" not in html
    assert "北京三里屯店" not in html  # not even as a filter choice
    assert "138****5678" in html
    assert "13812345678" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/customer/{customer_b.pk}/change/",
        "/admin/customers/order/{order_b.pk}/change/",
        "/admin/customers/storestock/{stock_b.pk}/change/",
        "/admin/associates/store/{b.pk}/change/",
        "/admin/customers/customer/999999/change/",
    ],
)
def test_a_manager_gets_404_on_another_stores_rows(client, two_stores, url):
    client.force_login(two_stores["manager"])

    response = client.get(url.format(**two_stores))

    assert response.status_code == 404
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_a_manager_cannot_edit_another_stores_customer(client, two_stores):
    client.force_login(two_stores["manager"])
    customer_b = two_stores["customer_b"]

    response = client.post(f"/admin/customers/customer/{customer_b.pk}/change/", {"name": "改名"})

    assert response.status_code == 404
    customer_b.refresh_from_db()
    assert customer_b.name == "北京客户"


@pytest.mark.django_db
def test_viewing_a_customer_in_admin_is_audited(client, two_stores):
    client.force_login(two_stores["manager"])
    customer_a = two_stores["customer_a"]
    IdentityFactory(customer=customer_a, value="M-42")

    response = client.get(f"/admin/customers/customer/{customer_a.pk}/change/", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    html = response.content.decode()
    assert "A-1" in html  # recent orders
    assert "M-42" in html
    log = AuditLog.objects.get()
    assert (log.action, log.customer_id, log.user_id, log.ip) == (
        AuditLog.Action.PROFILE_VIEW,
        customer_a.pk,
        two_stores["manager"].pk,
        "10.1.2.3",
    )


@pytest.mark.django_db
def test_orders_from_brand_systems_are_read_only(client, two_stores):
    client.force_login(two_stores["manager"])
    order_a = two_stores["order_a"]

    page = client.get(f"/admin/customers/order/{order_a.pk}/change/")
    post = client.post(f"/admin/customers/order/{order_a.pk}/change/", {"status": "returned"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    assert Order.objects.get(pk=order_a.pk).status == Order.Status.COMPLETED


@pytest.mark.django_db
def test_audit_logs_cannot_be_edited_or_deleted_even_by_a_superuser(client, two_stores):
    admin_user = UserFactory(username="root", is_superuser=True)
    log = AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW, customer=two_stores["customer_a"])
    client.force_login(admin_user)

    change = client.post(f"/admin/customers/auditlog/{log.pk}/change/", {"action": "customer_merge"})
    delete = client.post(f"/admin/customers/auditlog/{log.pk}/delete/", {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert AuditLog.objects.filter(pk=log.pk, action=AuditLog.Action.PROFILE_VIEW).exists()


@pytest.mark.django_db
def test_hq_staff_see_every_store(client, two_stores):
    hq = UserFactory(username="hq")
    hq.user_permissions.set(Permission.objects.filter(codename__in=[*MANAGER_PERMISSIONS, "view_all_stores"]))
    client.force_login(hq)

    listing = client.get("/admin/customers/customer/").content.decode()
    other = client.get(f"/admin/customers/customer/{two_stores['customer_b'].pk}/change/")

    assert "上海客户" in listing and "北京客户" in listing
    assert other.status_code == 200


@pytest.mark.django_db
def test_creating_an_api_key_in_admin_shows_the_secret_once_and_stores_only_its_hash(client, two_stores):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.post(
        "/admin/customers/apikey/add/",
        {
            "name": "上海POS",
            "channel": "store_pos",
            "stores": [two_stores["a"].pk],
            "scopes": ["orders", "coupons"],
            "is_active": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    secret = re.search(r"<code>([\w.-]+)</code>", response.content.decode()).group(1)
    api_key = ApiKey.objects.get()
    assert secret.startswith(f"{api_key.prefix}.")
    assert api_key.key_hash == ApiKey.hash_secret(secret)
    assert secret not in api_key.key_hash
    assert list(api_key.stores.all()) == [two_stores["a"]]
    assert api_key.scopes == ["orders", "coupons"]
    api = client.post(
        "/api/v1/orders/batch",
        {"orders": [{"external_id": "X"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {secret}",
    )
    assert api.status_code == 400  # authenticated; the row itself is invalid
    assert api.json()["results"][0]["status"] == "error"


@pytest.mark.django_db
def test_the_admin_speaks_chinese(client, two_stores):
    client.force_login(two_stores["manager"])

    html = client.get("/admin/").content.decode()

    assert "门店运营" in html
    assert "客户" in html


@pytest.mark.django_db
def test_the_admin_speaks_chinese_throughout_to_a_browser_set_to_english(client, two_stores):
    # given a browser that asks for English
    english = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}

    # when it opens the login page, and a superuser a changelist and a change form
    login = client.get("/admin/login/", **english).content.decode()
    client.force_login(UserFactory(username="root", is_superuser=True))
    changelist = client.get("/admin/customers/customer/", **english).content.decode()
    change = client.get(f"/admin/customers/customer/{two_stores['customer_a'].pk}/change/", **english)

    # then Django's own labels are in Chinese, like Omni's, and nothing is in English
    assert '<html lang="zh-hans"' in login
    assert 'value="登录"' in login
    assert "Log in" not in login
    assert "增加 客户" in changelist
    assert "搜索" in changelist
    assert "Add " not in changelist
    assert 'value="保存"' in change.content.decode()
    assert 'value="Save"' not in change.content.decode()


@pytest.mark.django_db
def test_the_admin_language_is_the_configured_one_whatever_the_browser_asks(client, settings):
    # given a deployment configured for English (OMNI_LANGUAGE_CODE=en sets LANGUAGE_CODE)
    settings.LANGUAGE_CODE = "en"

    # when a browser asking for Chinese opens the login page
    login = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()

    # then the page is in English
    assert '<html lang="en"' in login
    assert 'value="Log in"' in login


def test_omni_language_code_sets_the_language_code():
    code = "from django.conf import settings; print(settings.LANGUAGE_CODE)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings", "OMNI_LANGUAGE_CODE": "en"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "en"


@pytest.mark.django_db
def test_finding5_manager_cannot_open_another_stores_daily_figures(client, two_stores):
    manager = two_stores["manager"]
    manager.user_permissions.add(Permission.objects.get(codename="view_dailystats"))
    associate_b = AssociateFactory(store=two_stores["b"], name="北京导购")
    figures_b = DailyStats.objects.create(
        day=dt.date(2026, 5, 1), store=two_stores["b"], associate=associate_b, gmv=Decimal("8888.00")
    )
    client.force_login(manager)

    change = client.get(f"/admin/insights/dailystats/{figures_b.pk}/change/")
    history = client.get(f"/admin/insights/dailystats/{figures_b.pk}/history/")
    delete = client.get(f"/admin/insights/dailystats/{figures_b.pk}/delete/")

    assert (change.status_code, history.status_code, delete.status_code) == (404, 404, 404)
    for response in (change, history, delete):
        assert "北京导购" not in response.content.decode()
        assert "8888" not in response.content.decode()


@pytest.mark.django_db
def test_a_conflict_that_involves_another_stores_customer_is_left_to_hq(client, two_stores):
    manager = two_stores["manager"]
    manager.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_identityconflict", "change_identityconflict"])
    )
    conflict = IdentityConflict.objects.create(
        source="pos", incoming={"phone": "+8613800000000"}, linked_to=two_stores["customer_a"]
    )
    conflict.customers.add(two_stores["customer_a"], two_stores["customer_b"])
    client.force_login(manager)

    listing = client.get("/admin/customers/identityconflict/").content.decode()
    page = client.get(f"/admin/customers/identityconflict/{conflict.pk}/change/")
    client.post(
        "/admin/customers/identityconflict/",
        {"action": "merge_into_linked", "index": "0", "_selected_action": [conflict.pk]},
    )

    assert "北京客户" not in listing
    assert page.status_code == 404
    conflict.refresh_from_db()
    assert conflict.status == IdentityConflict.Status.OPEN
    assert CustomerMerge.objects.count() == 0
    assert Customer.objects.get(pk=two_stores["customer_b"].pk).merged_into_id is None


@pytest.mark.django_db
def test_a_manager_cannot_tie_an_admin_account_to_their_associate(client, two_stores):
    manager = two_stores["manager"]
    manager.user_permissions.add(Permission.objects.get(codename="change_associate"))
    associate = AssociateFactory(store=two_stores["a"], name="上海导购")
    hq = UserFactory(username="hq_user")
    client.force_login(manager)

    client.post(
        f"/admin/associates/associate/{associate.pk}/change/",
        {
            "wecom_userid": associate.wecom_userid,
            "name": associate.name,
            "store": two_stores["a"].pk,
            "role": "associate",
            "is_active": "on",
            "user": hq.pk,
        },
    )

    associate.refresh_from_db()
    assert associate.user_id is None


@pytest.mark.django_db
def test_an_admin_page_reads_the_users_stores_once_and_the_next_request_reads_them_again(client, two_stores):
    # given a manager of store A on a page that asks for their stores from many hooks
    managers_table = Store.managers.through._meta.db_table
    client.force_login(two_stores["manager"])

    with CaptureQueriesContext(connection) as first:
        assert client.get("/admin/customers/customer/").status_code == 200
    two_stores["b"].managers.add(two_stores["manager"])
    with CaptureQueriesContext(connection) as second:
        html = client.get("/admin/customers/customer/").content.decode()

    # then each request read the stores in one statement, and the second saw store B added since
    assert [managers_table in q["sql"] for q in first.captured_queries].count(True) == 1
    assert [managers_table in q["sql"] for q in second.captured_queries].count(True) == 1
    assert "北京客户" in html
