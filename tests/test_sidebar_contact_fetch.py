"""The sidebar's contact lookup for a WeCom contact Omni has no record of yet: it asks WeCom (the local
emulator, over HTTP), records the contact if they are this associate's, and otherwise reveals nothing."""

import socket

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from clientbook.services import follow_fetch
from customers.models import Customer, Identity
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from tests.threads import failures, run_concurrently
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator

CORP_ID, AGENT_ID, SECRET = "wwcontactfetch0001", "1000002", "contact-fetch-secret"
TOKEN, AES_KEY = "ContactFetchToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def emulator(settings):
    # Callbacks are off: the add_external_contact event never reaches Omni, as when it is still queued
    # or the contact was added before Omni was installed. So no live server is needed either.
    running = start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            callback_url="http://127.0.0.1:9/wecom/callback/",
            sidebar_url="http://127.0.0.1:9/sidebar/",
        )
    )
    running.control("POST", "faults", {"callbacks": "off"})
    running.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    running.control("POST", "associates", {"userid": "wangfang", "name": "王芳", "store": "北京三里屯店"})
    settings.WECOM_API_BASE = running.api_base
    settings.WECOM_CORP_ID, settings.WECOM_AGENT_ID, settings.WECOM_SECRET = CORP_ID, AGENT_ID, SECRET
    settings.WECOM_RETRY_BACKOFF = 0.01
    settings.WECOM_MAX_RETRIES = 2
    cache.clear()
    yield running
    running.stop()


@pytest.fixture
def associate(db):
    return AssociateFactory(store=StoreFactory(code="SH01", name="上海静安店"), wecom_userid="linyu", name="林雨")


@pytest.fixture
def signed_in(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def _contact(emulator, *, userid="linyu", name="陈静", remark="", **customer) -> str:
    person = emulator.control("POST", "customers", {"name": name, "gender": 2, **customer})
    external_userid = person["external_userid"]
    emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": userid, "add_way": 1})
    if remark:
        emulator.control(
            "POST", "contacts/edit", {"userid": userid, "external_userid": external_userid, "remark": remark}
        )
    return external_userid


def _lookup(client, external_userid):
    return client.get("/sidebar/contact/", {"external_userid": external_userid})


def _contact_gets(emulator) -> int:
    return emulator.control("GET", "calls", api="externalcontact/get")["count"]


def _nothing_written():
    return (Customer.objects.count(), Identity.objects.count(), FollowRelation.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_a_contact_whose_add_callback_never_arrived_is_fetched_from_wecom_and_recorded(emulator, signed_in, associate):
    external_userid = _contact(emulator, remark="陈女士 真丝裙")
    created = emulator.control("GET", "customers", userid="linyu")["customers"][0]["relation"]["createtime"]

    response = _lookup(signed_in, external_userid)

    customer = Customer.objects.get()
    avatar = f"{emulator.url}/avatar/{external_userid}.svg"
    assert response.status_code == 200
    assert response.json() == {"id": customer.pk, "name": "陈静", "phone": "", "store": "上海静安店", "avatar": avatar}
    assert (customer.gender, customer.avatar_url, customer.primary_store_id, customer.primary_associate_id) == (
        Customer.Gender.FEMALE,
        avatar,
        associate.store_id,
        associate.pk,
    )
    assert list(customer.identities.values_list("kind", "value")) == [
        (Identity.Kind.WECOM_EXTERNAL_USERID, external_userid)
    ]
    follow = FollowRelation.objects.get()
    assert (follow.associate_id, follow.customer_id, follow.external_userid) == (
        associate.pk,
        customer.pk,
        external_userid,
    )
    assert (follow.remark, follow.add_way, follow.add_way_label) == ("陈女士 真丝裙", 1, "扫描二维码")
    assert (follow.contact_type, follow.contact_type_label) == (FollowRelation.ContactType.WECHAT, "微信用户")
    assert int(follow.followed_at.timestamp()) == created
    assert follow.welcome == FollowRelation.Welcome.NONE
    assert requests.get(avatar, timeout=10).headers["Content-Type"] == "image/svg+xml"


@pytest.mark.django_db
def test_a_second_lookup_is_answered_locally_and_writes_nothing_new(emulator, signed_in):
    external_userid = _contact(emulator)
    first = _lookup(signed_in, external_userid).json()

    second = _lookup(signed_in, external_userid).json()

    assert second == first
    assert _contact_gets(emulator) == 1
    assert (Customer.objects.count(), FollowRelation.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_an_avatar_given_by_wecom_is_kept(emulator, signed_in):
    photo = "https://wx.qlogo.cn/mmhead/Q3auHgzwzM5xChen/132"
    external_userid = _contact(emulator, avatar=photo)

    body = _lookup(signed_in, external_userid).json()

    assert body["avatar"] == photo
    assert Customer.objects.get().avatar_url == photo


@pytest.mark.django_db
def test_a_contact_of_another_associate_is_404_and_nothing_is_written(emulator, signed_in):
    AssociateFactory(store=StoreFactory(code="BJ01"), wecom_userid="wangfang")
    external_userid = _contact(emulator, userid="wangfang", name="北京客户")

    response = _lookup(signed_in, external_userid)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "北京客户" not in response.content.decode()
    assert _nothing_written()


@pytest.mark.django_db
def test_another_stores_customer_who_did_not_add_this_associate_is_404(emulator, signed_in):
    other = CustomerFactory(name="北京客户", primary_store=StoreFactory(code="BJ01"))
    external_userid = _contact(emulator, userid="wangfang", name="北京客户")
    IdentityFactory(customer=other, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)

    response = _lookup(signed_in, external_userid)

    assert response.status_code == 404
    assert "北京客户" not in response.content.decode()
    assert FollowRelation.objects.count() == 0


@pytest.mark.django_db
def test_another_stores_customer_who_added_this_associate_too_is_recorded_and_shown(emulator, signed_in, associate):
    other = CustomerFactory(name="王女士", primary_store=StoreFactory(code="BJ01"))
    external_userid = _contact(emulator, name="王女士")
    IdentityFactory(customer=other, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)

    response = _lookup(signed_in, external_userid)

    assert response.json()["id"] == other.pk
    assert FollowRelation.objects.get().customer_id == other.pk
    other.refresh_from_db()
    assert (Customer.objects.count(), other.primary_store.code) == (1, "BJ01")


@pytest.mark.django_db
@pytest.mark.parametrize("external_userid", ["not-an-id", "wm" + "b" * 30, ""])
def test_an_id_wecom_does_not_know_is_404_and_nothing_is_written(emulator, signed_in, external_userid):
    response = _lookup(signed_in, external_userid)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _nothing_written()


@pytest.mark.django_db
def test_wecom_unreachable_is_503_and_nothing_is_written(emulator, signed_in, settings):
    external_userid = _contact(emulator)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.WECOM_API_BASE = f"http://127.0.0.1:{closed_port}/cgi-bin/"

    response = _lookup(signed_in, external_userid)

    assert response.status_code == 503
    assert response.json()["error"] == {"code": "wecom_unavailable", "message": "暂时连不上企业微信，请稍后再试。"}
    assert _nothing_written()


@pytest.mark.django_db
def test_wecom_busy_past_the_retries_is_503_and_nothing_is_written(emulator, signed_in):
    external_userid = _contact(emulator)
    emulator.control("POST", "faults", {"busy_rate": 1.0, "only_apis": ["externalcontact/get"]})

    response = _lookup(signed_in, external_userid)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wecom_unavailable"
    assert _contact_gets(emulator) == 3  # the call and its 2 retries
    assert _nothing_written()


@pytest.mark.django_db
def test_the_nightly_sync_keeps_the_avatar_and_updates_it_when_it_changed(emulator, associate):
    photo = "https://wx.qlogo.cn/mmhead/Q3auHgzwzM5xNew/132"
    external_userid = _contact(emulator, avatar=photo)
    known = CustomerFactory(name="陈静", avatar_url="https://wx.qlogo.cn/mmhead/Q3auHgzwzM5xOld/132")
    IdentityFactory(customer=known, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)

    call_command("wecom_sync", "contacts", "--inline")

    known.refresh_from_db()
    assert known.avatar_url == photo
    follow = FollowRelation.objects.get()
    assert (follow.customer_id, follow.contact_type, follow.add_way) == (known.pk, 1, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lookups_racing_each_other_record_the_contact_once(emulator, associate):
    external_userid = _contact(emulator)
    follows = run_concurrently(lambda: follow_fetch(associate=associate, external_userid=external_userid), contenders=6)

    assert failures(follows) == []
    assert len({follow.pk for follow in follows}) == 1
    assert (Customer.objects.count(), FollowRelation.objects.count()) == (1, 1)
    assert Identity.objects.filter(value=external_userid).count() == 1
