"""Redis unreachable, inside one process: the cache reads as a miss, while locks and counters say they cannot be had
(omni.locks) and each caller fails safe. The outage across real processes and servers is tests/test_faults.py."""

import pytest

from associates.auth import SESSION_KEY
from omni.locks import LockUnavailable, counter_incr, lock_take
from tests.factories import AssociateFactory, StoreFactory
from tests.live_emulator import live_emulator
from tests.servers import free_port
from wecom import client as wecom_client_module
from wecom.client import wecom_client
from wecom.wechat_oauth import oa_state_issue, oa_state_verify

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000001", "1000002", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def redis_down(settings, monkeypatch):
    """Omni's production cache settings, aimed at a port where nothing listens."""
    unreachable = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
    settings.CACHES = {
        "default": {**unreachable, "OPTIONS": {**unreachable["OPTIONS"], "IGNORE_EXCEPTIONS": True}},
        "locks": unreachable,
    }
    monkeypatch.setattr(wecom_client_module, "_local_values", {})


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        yield running


def test_a_lock_or_counter_that_cannot_be_reached_is_never_taken_by_pretence(redis_down):
    with pytest.raises(LockUnavailable):
        lock_take("omni:test:lock", timeout=5)
    with pytest.raises(LockUnavailable):
        counter_incr("omni:test:counter", timeout=5)


@pytest.mark.django_db
def test_a_wechat_state_verifies_once_and_not_at_all_while_the_lock_store_is_down(settings):
    state, nonce = oa_state_issue(purpose="landing")
    assert oa_state_verify(state=state, nonce=nonce, purpose="landing") is True
    assert oa_state_verify(state=state, nonce=nonce, purpose="landing") is False

    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        **settings.CACHES,
        "locks": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": unreachable},
    }
    state, nonce = oa_state_issue(purpose="landing")

    assert oa_state_verify(state=state, nonce=nonce, purpose="landing") is False


@pytest.mark.django_db
def test_the_sidebar_serves_a_signed_in_associate_while_redis_is_down(client, redis_down):
    associate = AssociateFactory(store=StoreFactory(code="SH01"), wecom_userid="linyu")
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()

    response = client.get("/sidebar/")

    assert response.status_code == 200
    assert response.context["associate"] == associate


@pytest.mark.django_db(transaction=True)
def test_wecom_calls_go_on_with_one_token_per_process_while_redis_is_down(redis_down, emulator):
    client = wecom_client()

    client.external_contact.get_follow_user_list()
    wecom_client().external_contact.get_follow_user_list()

    assert emulator.control("GET", "calls", api="gettoken")["count"] == 1
