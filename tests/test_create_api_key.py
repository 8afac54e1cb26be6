"""`manage.py create_api_key`: an operator makes a key, sees its secret once, and the brand system can use it."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from coupons.models import Coupon, Redemption
from coupons.sending import coupon_pack_send
from customers.models import ApiKey, Channel
from tests.factories import AssociateFactory, CouponPackItemFactory, CustomerFactory, StoreFactory

pytestmark = pytest.mark.django_db


def _create(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_a_pos_key_for_a_store_redeems_there_and_only_there():
    store, other = StoreFactory(code="SH01"), StoreFactory(code="SH02")
    item = CouponPackItemFactory()
    coupon = coupon_pack_send(
        pack_id=item.pack_id,
        customer_id=CustomerFactory().pk,
        request_no="send-1",
        associate=AssociateFactory(store=store),
    ).coupons[0]

    secret, notice = _create("--channel", "pos", "--store", "SH01", "--name", "静安店收银")

    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.channel, list(api_key.stores.all())) == ("静安店收银", Channel.STORE_POS, [store])
    assert secret.startswith(f"{api_key.prefix}.")
    assert api_key.key_hash == ApiKey.hash_secret(secret)
    assert secret not in notice
    assert "只显示这一次" in notice
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    body = {"code": coupon.code, "order_ref": "POS-1", "amount": "399.00", "request_no": "R-1"}
    elsewhere = client.post("/api/v1/coupons/redeem/", {**body, "store": other.code}, format="json")
    here = client.post("/api/v1/coupons/redeem/", {**body, "store": "SH01"}, format="json")
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (403, "store_not_allowed")
    assert here.status_code == 201
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert Redemption.objects.get().api_key == api_key


def test_several_stores_and_a_default_name():
    StoreFactory(code="SH01")
    StoreFactory(code="SH02")

    _create("--channel", "pos", "--store", "SH01", "--store", "SH02")

    api_key = ApiKey.objects.get()
    assert api_key.name == "门店POS SH01 SH02"
    assert sorted(api_key.stores.values_list("code", flat=True)) == ["SH01", "SH02"]


@pytest.mark.parametrize(
    ("given", "channel"),
    [
        ("pos", Channel.STORE_POS),
        ("mini_program", Channel.MINI_PROGRAM),
        ("mall", Channel.ONLINE_MALL),
        ("marketplace", Channel.MARKETPLACE),
        ("online_mall", Channel.ONLINE_MALL),
        ("store_pos", Channel.STORE_POS),
    ],
)
def test_channels_by_short_name_or_stored_value(given, channel):
    secret, _ = _create("--channel", given)

    api_key = ApiKey.objects.get()
    assert api_key.channel == channel
    assert api_key.stores.count() == 0
    assert api_key.key_hash == ApiKey.hash_secret(secret)


def test_an_unknown_store_is_refused_and_no_key_is_made():
    StoreFactory(code="SH01")

    with pytest.raises(CommandError, match="没有这些门店编码：SH99。未创建密钥。"):
        _create("--channel", "pos", "--store", "SH01", "--store", "SH99")

    assert ApiKey.objects.count() == 0


def test_an_unknown_channel_is_refused():
    with pytest.raises(CommandError, match="invalid choice: 'wechat'"):
        _create("--channel", "wechat")

    assert ApiKey.objects.count() == 0


def test_each_run_makes_a_new_key_with_a_new_secret():
    first, _ = _create("--channel", "mall")
    second, _ = _create("--channel", "mall")

    assert first != second
    assert ApiKey.objects.count() == 2


def test_scopes_are_given_with_repeated_scope_options():
    StoreFactory(code="SH01")

    _, notice = _create("--channel", "pos", "--store", "SH01", "--scope", "coupons", "--scope", "orders")

    assert ApiKey.objects.get().scopes == ["orders", "coupons"]
    assert "权限：orders、coupons" in notice


def test_without_scope_options_a_key_may_do_what_its_stores_allow():
    StoreFactory(code="SH01")

    _create("--channel", "pos", "--store", "SH01")
    _create("--channel", "mall")

    assert [key.scopes for key in ApiKey.objects.order_by("pk")] == [
        ["members", "orders", "coupons", "stock", "pickups"],
        ["catalogue", "members", "orders", "coupons", "stock", "pickups"],
    ]


def test_catalogue_for_a_key_limited_to_stores_is_refused_and_no_key_is_made():
    StoreFactory(code="SH01")

    with pytest.raises(CommandError, match=r"只能授予不限门店的密钥.*未创建密钥。"):
        _create("--channel", "pos", "--store", "SH01", "--scope", "catalogue")

    assert ApiKey.objects.count() == 0


def test_an_unknown_scope_is_refused():
    with pytest.raises(CommandError, match="invalid choice: 'everything'"):
        _create("--channel", "mall", "--scope", "everything")

    assert ApiKey.objects.count() == 0
