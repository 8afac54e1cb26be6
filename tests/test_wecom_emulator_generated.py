"""The emulator's generated corp: N associates × M contacts served page by page through WeCom's real customer APIs,
deterministic, with churn between generations; and WeCom's hourly limit, in the emulator and in Omni's client."""

import pytest
import requests
from django.core.cache import cache

from tests.test_wecom_emulator import WeCom, _config
from wecom.client import WeComBudgetExhausted, WeComClient
from wecom.emulator.generated import GeneratedCorp
from wecom.emulator.server import start_emulator


@pytest.fixture
def emulator():
    running = start_emulator(_config("http://127.0.0.1:9/unused"))
    yield running
    running.stop()


@pytest.fixture
def wecom(emulator):
    return WeCom(emulator)


def _all_pages(wecom, userids: list[str], limit: int = 100) -> list[dict]:
    items, cursor, calls = [], "", 0
    while True:
        page = wecom.post(
            "externalcontact/batch/get_by_user", {"userid_list": userids, "cursor": cursor, "limit": limit}
        )
        assert page["errcode"] == 0, page
        calls += 1
        items += page["external_contact_list"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_a_generated_corp_serves_every_contact_of_every_member_page_by_page_and_the_same_twice(emulator, wecom):
    emulator.control("POST", "generated", {"associates": 3, "contacts_per_associate": 250, "seed": 7})

    members = wecom.get("externalcontact/get_follow_user_list")["follow_user"]
    first = _all_pages(wecom, members[:2])
    again = _all_pages(wecom, members[:2], limit=70)

    assert members == ["g007u000000", "g007u000001", "g007u000002"]
    assert len(first) == 500
    assert [i["follow_info"]["userid"] for i in first] == ["g007u000000"] * 250 + ["g007u000001"] * 250
    assert len({i["external_contact"]["external_userid"] for i in first}) == 500
    assert first == again
    assert all(len(i["external_contact"]["external_userid"]) == 32 for i in first)
    listed = wecom.get("externalcontact/list", userid="g007u000002")["external_userid"]
    assert len(listed) == 250
    one = wecom.get("externalcontact/get", external_userid=listed[3])
    assert one["errcode"] == 0
    assert [f["userid"] for f in one["follow_user"]] == ["g007u000002"]


def test_a_new_generation_drops_the_churned_share_of_each_members_contacts_and_adds_as_many(emulator, wecom):
    emulator.control("POST", "generated", {"associates": 2, "contacts_per_associate": 100, "churn": 0.1})
    before = {i["external_contact"]["external_userid"] for i in _all_pages(wecom, ["g001u000000"])}

    emulator.control("POST", "generated", {"generation": 1})
    after = {i["external_contact"]["external_userid"] for i in _all_pages(wecom, ["g001u000000"])}

    assert len(before) == len(after) == 100
    assert len(before - after) == 10
    assert len(after - before) == 10
    gone = sorted(before - after)[0]
    assert wecom.get("externalcontact/get", external_userid=gone)["errcode"] == 84061


def test_a_shared_contact_is_one_person_followed_by_two_members(emulator, wecom):
    emulator.control("POST", "generated", {"associates": 2, "contacts_per_associate": 20, "shared_every": 5})

    first = {i["external_contact"]["external_userid"] for i in _all_pages(wecom, ["g001u000000"])}
    second = {i["external_contact"]["external_userid"] for i in _all_pages(wecom, ["g001u000001"])}
    shared = sorted(first & second)

    assert len(shared) == 4
    followers = wecom.get("externalcontact/get", external_userid=shared[0])["follow_user"]
    assert sorted(f["userid"] for f in followers) == ["g001u000000", "g001u000001"]


def test_generated_members_mix_with_members_made_one_by_one_in_a_batch_call(emulator, wecom):
    emulator.control("POST", "associates", {"userid": "zhangsan", "name": "张三", "store": "上海店"})
    for n in range(3):
        person = emulator.control("POST", "customers", {"name": f"客户{n}"})
        emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "zhangsan"})
    emulator.control("POST", "generated", {"associates": 1, "contacts_per_associate": 5})

    items = _all_pages(wecom, ["zhangsan", "g001u000000"], limit=4)

    assert [i["follow_info"]["userid"] for i in items] == ["zhangsan"] * 3 + ["g001u000000"] * 5
    unknown = wecom.post("externalcontact/batch/get_by_user", {"userid_list": ["g001u000001"]})
    assert unknown["errcode"] == 40003


def test_a_bad_generated_corp_is_refused_and_changes_nothing(emulator):
    emulator.control("POST", "generated", {"associates": 2, "contacts_per_associate": 10})

    answer = requests.post(f"{emulator.url}/control/generated", json={"churn": 2}, timeout=10)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_generated"
    assert emulator.control("GET", "generated")["generated"]["churn"] == 0.0


def test_a_page_is_computed_from_its_position_not_from_a_list_of_every_contact():
    corp = GeneratedCorp(associates=5000, contacts_per_associate=4000)

    slots = corp.slots(4999, 3900, 100)

    assert list(slots) == list(range(3900, 4000))
    assert corp.person_of(corp.external_userid(corp.person(4999, 3999))) == 4999 * 10**9 + 3999


def test_exceeding_the_hourly_limit_answers_45009_and_blocks_the_api_for_the_hour(emulator, wecom):
    wecom.gettoken()
    emulator.control("POST", "faults", {"per_hour_limit": 2})

    answers = [wecom.get("externalcontact/get_follow_user_list")["errcode"] for _ in range(4)]
    emulator.control("POST", "faults", {"per_hour_limit": 150_000})

    assert answers == [0, 0, 45009, 45009]
    assert wecom.get("externalcontact/get_follow_user_list")["errcode"] == 45009  # blocked for the hour
    assert wecom.get("externalcontact/get", external_userid="wm" + "a" * 30)["errcode"] == 84061


@pytest.mark.django_db
def test_omnis_client_stops_at_its_hourly_budget_before_wecom_does(emulator):
    cache.clear()  # the hour's counters of earlier tests
    client = WeComClient(
        corp_id=emulator.emulator.config.corp_id,
        agent_id=emulator.emulator.config.agent_id,
        secret=emulator.emulator.config.secret,
        api_base=emulator.api_base,
        rate_limit_per_hour=2,
    )
    client.external_contact.get_follow_user_list()
    client.external_contact.get_follow_user_list()

    with pytest.raises(WeComBudgetExhausted) as refused:
        client.external_contact.get_follow_user_list()

    assert refused.value.transient
    assert 0 < refused.value.retry_in <= 3600
    assert emulator.control("GET", "calls", api="externalcontact/get_follow_user_list")["count"] == 2
