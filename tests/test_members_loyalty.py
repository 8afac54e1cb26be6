"""The member's level and points from the brand's loyalty system: the members batch API keeps them in Membership
(set-based, only the fields sent, stable validation codes), and the sidebar's profile and the customer's coupon page
show them ("N 积分将于 D 过期"). Omni runs no points engine."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from coupons.links import coupon_page_url
from customers.ingestion import api_key_create
from customers.models import CHANNEL_MEMBER_IDENTITY_KIND, Channel, Identity, Membership
from tests.factories import CustomerFactory, IdentityFactory
from tests.test_sidebar_api import _sign_in, world  # noqa: F401 - the sidebar API tests' customer and associate

pytestmark = pytest.mark.django_db

MEMBER_KIND = CHANNEL_MEMBER_IDENTITY_KIND[Channel.ONLINE_MALL]


@pytest.fixture
def mall():
    _, secret = api_key_create(name="商城", channel=Channel.ONLINE_MALL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _members(client, *rows):
    return client.post("/api/v1/members/batch", {"members": list(rows)}, format="json")


def _standing(external_id):
    customer_id = Identity.objects.get(kind=MEMBER_KIND, value=external_id).customer_id
    m = Membership.objects.get(customer_id=customer_id)
    return (m.level, m.points, m.points_expiring, m.points_expire_on)


def test_the_members_api_keeps_the_level_and_points_and_a_replay_changes_nothing(mall):
    row = {
        "external_id": "M-1",
        "name": "陈静",
        "level": "金卡",
        "points": 3200,
        "points_expiring": 1200,
        "points_expire_on": "2026-12-31",
    }

    first = _members(mall, row)
    written = Membership.objects.get().updated_at
    again = _members(mall, row)

    assert first.status_code == 200 and first.json()["results"][0]["status"] == "created"
    assert again.json()["results"][0]["status"] == "unchanged"
    assert _standing("M-1") == ("金卡", 3200, 1200, dt.date(2026, 12, 31))
    assert Membership.objects.get().updated_at == written


def test_only_the_figures_sent_change_and_a_known_member_answers_updated(mall):
    _members(mall, {"external_id": "M-1", "level": "银卡", "points": 500})

    response = _members(mall, {"external_id": "M-1", "points": 900}, {"external_id": "M-2", "name": "王芳"})

    assert [r["status"] for r in response.json()["results"]] == ["updated", "created"]
    assert _standing("M-1") == ("银卡", 900, 0, None)
    assert Membership.objects.count() == 1  # a member sent without figures gets none


def test_many_members_figures_are_written_set_based_in_three_statements(mall):
    _members(mall, *({"external_id": f"M-{n}", "points": n} for n in range(5)))
    rows = [{"external_id": f"M-{n}", "level": "金卡", "points": n + 10} for n in range(50)]

    with CaptureQueriesContext(connection) as captured:
        response = _members(mall, *rows)

    table = Membership._meta.db_table
    assert len([q for q in captured.captured_queries if table in (q["sql"] or "")]) == 3  # read, insert, update

    assert response.json()["summary"] == {"created": 45, "updated": 5, "unchanged": 0, "error": 0}
    assert Membership.objects.filter(level="金卡").count() == 50
    assert _standing("M-3") == ("金卡", 13, 0, None)


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"points": -1}, "points", "min_value"),
        ({"points": "many"}, "points", "invalid"),
        ({"level": "钻" * 31}, "level", "max_length"),
        (
            {"points": 100, "points_expiring": 101, "points_expire_on": "2026-12-31"},
            "points_expiring",
            "points_expiring_exceeds_points",
        ),
        ({"points": 100, "points_expiring": 50}, "points_expire_on", "points_expire_on_required"),
        ({"points_expire_on": "31/12/2026"}, "points_expire_on", "invalid"),
    ],
)
def test_invalid_figures_are_a_row_error_with_a_stable_code_and_write_nothing(mall, fields, field, code):
    response = _members(mall, {"external_id": "M-bad", **fields}, {"external_id": "M-good", "points": 10})

    bad, good = response.json()["results"]
    assert response.status_code == 207
    assert bad["status"] == "error" and bad["errors"] == [
        {"field": field, "code": code, "message": bad["errors"][0]["message"]}
    ]
    assert good["status"] == "created"
    assert not Identity.objects.filter(value="M-bad").exists()
    assert Membership.objects.count() == 1


def test_the_sidebar_profile_shows_the_level_and_the_points_expiring(client, world):  # noqa: F811
    today = timezone.localdate()
    Membership.objects.create(
        customer=world["customer"],
        level="金卡",
        points=3200,
        points_expiring=1200,
        points_expire_on=today + dt.timedelta(days=20),
    )
    _sign_in(client, world["associate"])

    body = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/").json()

    assert body["membership"] == {
        "level": "金卡",
        "points": 3200,
        "points_expiring": 1200,
        "points_expire_on": (today + dt.timedelta(days=20)).isoformat(),
    }
    Membership.objects.filter(pk=world["customer"].pk).update(points_expire_on=today - dt.timedelta(days=1))
    body = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/").json()
    assert (body["membership"]["points_expiring"], body["membership"]["points_expire_on"]) == (0, None)
    other = CustomerFactory(primary_store=world["associate"].store)
    assert client.get(f"/api/v1/sidebar/customers/{other.pk}/").json()["membership"] is None


def test_the_coupon_page_shows_the_level_and_the_points_expiring(client):
    customer = CustomerFactory(name="陈静")
    IdentityFactory(customer=customer, kind=MEMBER_KIND, value="M-1")
    expire_on = timezone.localdate() + dt.timedelta(days=20)
    Membership.objects.create(
        customer=customer, level="金卡", points=3200, points_expiring=1200, points_expire_on=expire_on
    )

    html = client.get(coupon_page_url(customer_id=customer.pk)).content.decode()

    assert "金卡会员" in html and "积分 <b>3200</b>" in html
    assert f"1200 积分将于 {expire_on.year}年{expire_on.month}月{expire_on.day}日 过期" in html
    Membership.objects.filter(pk=customer.pk).update(points_expiring=0)
    html = client.get(coupon_page_url(customer_id=customer.pk)).content.decode()
    assert "积分 <b>3200</b>" in html and "过期</span>" not in html
    assert 'id="membership"' not in client.get(coupon_page_url(customer_id=CustomerFactory().pk)).content.decode()
