"""The emulator's contact ways and acquisition links as WeCom has them: multi-member codes hand new customers to their
members in turn, links add through add_way 16 with customer_channel as the State and use the corp's quota, and the
limits and error codes of add_contact_way and customer_acquisition/*."""

import pytest
import requests

from tests.test_wecom_emulator import WeCom, _associate, _deliveries, emulator, receiver  # noqa: F401
from wecom.emulator import limits as L


@pytest.fixture
def wecom(emulator):  # noqa: F811
    return WeCom(emulator)


def _new_customer(emulator, name="王五") -> str:  # noqa: F811
    return emulator.control("POST", "customers", {"name": name})["external_userid"]


def test_a_multi_member_code_hands_new_customers_to_its_members_in_turn_skipping_who_left(emulator, wecom, receiver):  # noqa: F811
    for userid in ("a1", "a2", "a3"):
        _associate(emulator, userid=userid, name=userid)
    way = wecom.post(
        "externalcontact/add_contact_way", {"type": 2, "scene": 2, "state": "store_sh01", "user": ["a1", "a2", "a3"]}
    )
    emulator.control("POST", "associates/resign", {"userid": "a2"})

    added = [
        emulator.control(
            "POST", "contacts/add", {"external_userid": _new_customer(emulator), "config_id": way["config_id"]}
        )
        for _ in range(3)
    ]
    _deliveries(emulator)

    assert [a["relation"]["userid"] for a in added] == ["a1", "a3", "a1"]
    assert [(e["UserID"], e["State"]) for e in receiver.events()] == [
        ("a1", "store_sh01"),
        ("a3", "store_sh01"),
        ("a1", "store_sh01"),
    ]
    assert "_turn" not in wecom.post("externalcontact/get_contact_way", {"config_id": way["config_id"]})["contact_way"]


def test_add_contact_way_refuses_more_than_100_members_and_unknown_ones(emulator, wecom):  # noqa: F811
    _associate(emulator, userid="a1")
    too_many = wecom.post("externalcontact/add_contact_way", {"type": 2, "scene": 2, "user": ["a1"] * 101})
    unknown = wecom.post("externalcontact/add_contact_way", {"type": 2, "scene": 2, "user": ["a1", "nobody"]})
    updated = wecom.post("externalcontact/update_contact_way", {"config_id": "nope", "state": "x"})

    assert (too_many["errcode"], unknown["errcode"], updated["errcode"]) == (
        L.INVALID_PARAMETER,
        L.INVALID_USERID,
        L.INVALID_PARAMETER,
    )


def test_an_acquisition_link_adds_in_turn_with_its_channel_as_state_and_uses_the_quota(emulator, wecom, receiver):  # noqa: F811
    _associate(emulator, userid="a1")
    _associate(emulator, userid="a2")
    created = wecom.post(
        "externalcontact/customer_acquisition/create_link",
        {"link_name": "商场短信", "range": {"user_list": ["a1", "a2"]}, "skip_verify": True},
    )
    link_id = created["link"]["link_id"]
    quota_before = wecom.get("externalcontact/customer_acquisition_quota")

    first = emulator.control(
        "POST",
        "links/open",
        {"external_userid": _new_customer(emulator), "link_id": link_id, "customer_channel": "lk1"},
    )
    second = emulator.control(
        "POST",
        "links/open",
        {"external_userid": _new_customer(emulator), "link_id": link_id, "customer_channel": "lk1"},
    )
    _deliveries(emulator)
    quota_after = wecom.get("externalcontact/customer_acquisition_quota")
    got = wecom.post("externalcontact/customer_acquisition/get", {"link_id": link_id})
    listed = wecom.post("externalcontact/customer_acquisition/list_link", {"limit": 100})
    customers = wecom.post("externalcontact/customer_acquisition/customer", {"link_id": link_id})

    assert created["errcode"] == 0 and created["link"]["url"].endswith(f"/ca/{link_id}")
    assert [first["relation"]["userid"], second["relation"]["userid"]] == ["a1", "a2"]
    assert [first["relation"]["add_way"], first["relation"]["state"]] == [16, "lk1"]
    assert [e["State"] for e in receiver.events()] == ["lk1", "lk1"]
    assert (quota_before["total"], quota_before["balance"]) == (
        L.ACQUISITION_QUOTA_DEFAULT,
        L.ACQUISITION_QUOTA_DEFAULT,
    )
    assert quota_after["balance"] == L.ACQUISITION_QUOTA_DEFAULT - 2
    assert got["link"]["link_name"] == "商场短信" and got["range"]["user_list"] == ["a1", "a2"]
    assert listed["link_id_list"] == [link_id]
    assert [c["userid"] for c in customers["customer_list"]] == ["a1", "a2"]


def test_acquisition_link_limits_update_and_delete(emulator, wecom):  # noqa: F811
    _associate(emulator, userid="a1")
    long_name = wecom.post(
        "externalcontact/customer_acquisition/create_link", {"link_name": "x" * 31, "range": {"user_list": ["a1"]}}
    )
    no_range = wecom.post("externalcontact/customer_acquisition/create_link", {"link_name": "x", "range": {}})
    unknown = wecom.post(
        "externalcontact/customer_acquisition/create_link", {"link_name": "x", "range": {"user_list": ["ghost"]}}
    )
    link_id = wecom.post(
        "externalcontact/customer_acquisition/create_link", {"link_name": "小程序", "range": {"user_list": ["a1"]}}
    )["link"]["link_id"]
    renamed = wecom.post(
        "externalcontact/customer_acquisition/update_link", {"link_id": link_id, "link_name": "小程序2"}
    )
    name = wecom.post("externalcontact/customer_acquisition/get", {"link_id": link_id})["link"]["link_name"]
    deleted = wecom.post("externalcontact/customer_acquisition/delete_link", {"link_id": link_id})
    gone = wecom.post("externalcontact/customer_acquisition/get", {"link_id": link_id})

    assert [long_name["errcode"], no_range["errcode"], unknown["errcode"]] == [40058, 40058, L.INVALID_USERID]
    assert (renamed["errcode"], name, deleted["errcode"], gone["errcode"]) == (0, "小程序2", 0, 40058)


def test_a_link_cannot_add_once_the_quota_is_used_up(emulator, wecom):  # noqa: F811
    _associate(emulator, userid="a1")
    link_id = wecom.post(
        "externalcontact/customer_acquisition/create_link", {"link_name": "广告", "range": {"user_list": ["a1"]}}
    )["link"]["link_id"]
    wecom.get("externalcontact/customer_acquisition_quota")
    with emulator.emulator.state.change() as data:
        data["acquisition_quota"]["used"] = data["acquisition_quota"]["total"]

    refused = requests.post(
        f"{emulator.url}/control/links/open",
        json={"external_userid": _new_customer(emulator), "link_id": link_id},
        timeout=10,
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "quota_exhausted"
    assert emulator.control("GET", "acquisition_links")["acquisition_links"][0]["customers"] == 0
