"""The emulator's corp tags: edit_corp_tag and del_corp_tag with WeCom's limits and errcodes (no callback for API
changes), and the admin console's changes, which fire change_external_tag (create / update / delete / shuffle)."""

from tests import test_wecom_emulator as base
from wecom.emulator import limits as L

emulator, receiver, wecom = base.emulator, base.receiver, base.wecom
_associate, _deliveries, _friend = base._associate, base._deliveries, base._friend


def _library(wecom) -> dict:
    return {
        g["group_name"]: [t["name"] for t in g["tag"]]
        for g in wecom.post("externalcontact/get_corp_tag_list", {})["tag_group"]
    }


def test_edit_and_del_corp_tag_change_the_library_and_the_follows_without_a_callback(emulator, wecom, receiver):
    _associate(emulator)
    external_userid, _ = _friend(emulator)
    group = wecom.post(
        "externalcontact/add_corp_tag", {"group_name": "兴趣", "tag": [{"name": "护肤"}, {"name": "彩妆"}]}
    )["tag_group"]
    skin, makeup = (t["id"] for t in group["tag"])
    wecom.post(
        "externalcontact/mark_tag", {"userid": "zhangsan", "external_userid": external_userid, "add_tag": [skin]}
    )
    before = len(_deliveries(emulator))

    renamed = wecom.post("externalcontact/edit_corp_tag", {"id": makeup, "name": "香水"})
    clash = wecom.post("externalcontact/edit_corp_tag", {"id": makeup, "name": "护肤"})
    too_long = wecom.post("externalcontact/edit_corp_tag", {"id": makeup, "name": "长" * 31})
    unknown = wecom.post("externalcontact/edit_corp_tag", {"id": "etNOPE", "name": "x"})
    group_renamed = wecom.post("externalcontact/edit_corp_tag", {"id": group["group_id"], "name": "爱好"})
    deleted = wecom.post("externalcontact/del_corp_tag", {"tag_id": [skin]})
    deleted_again = wecom.post("externalcontact/del_corp_tag", {"tag_id": [skin]})
    empty = wecom.post("externalcontact/del_corp_tag", {})

    assert (renamed["errcode"], group_renamed["errcode"], deleted["errcode"]) == (0, 0, 0)
    assert clash["errcode"] == L.TAG_NAME_EXISTS
    assert too_long["errcode"] == L.INVALID_PARAMETER
    assert (unknown["errcode"], deleted_again["errcode"]) == (L.INVALID_TAG_ID, L.INVALID_TAG_ID)
    assert empty["errcode"] == L.INVALID_PARAMETER
    assert _library(wecom) == {"爱好": ["香水"]}
    contact = wecom.get("externalcontact/get", external_userid=external_userid)
    assert contact["follow_user"][0]["tags"] == []
    assert len(_deliveries(emulator)) == before  # API changes: no callback

    wecom.post("externalcontact/del_corp_tag", {"tag_id": [makeup]})
    assert _library(wecom) == {}  # a group whose last tag went is gone too


def test_admin_console_changes_fire_change_external_tag(emulator, wecom, receiver):
    _associate(emulator)
    external_userid, _ = _friend(emulator)
    created = emulator.control("POST", "tags", {"group_name": "会员等级", "names": ["金卡", "银卡"]})
    gold, silver = (t["id"] for t in created["tags"])
    emulator.control("POST", "tags/mark", {"userid": "zhangsan", "external_userid": external_userid, "add_tag": [gold]})

    emulator.control("POST", "tags/edit", {"id": silver, "name": "铂金卡"})
    emulator.control("POST", "tags/edit", {"id": gold, "order": 5})
    emulator.control("POST", "tags/delete", {"id": gold})
    emulator.control("POST", "tags/delete", {"id": created["group_id"]})
    _deliveries(emulator)

    events = [(e["Event"], e.get("ChangeType"), e.get("TagType"), e.get("Id")) for e in receiver.events()]
    assert events[1:] == [
        ("change_external_tag", "create", "tag_group", created["group_id"]),
        ("change_external_contact", "edit_external_contact", None, None),
        ("change_external_tag", "update", "tag", silver),
        ("change_external_tag", "shuffle", None, created["group_id"]),
        ("change_external_tag", "delete", "tag", gold),
        ("change_external_tag", "delete", "tag_group", created["group_id"]),
    ]
    assert events[0][:2] == ("change_external_contact", "add_external_contact")
    assert _library(wecom) == {}
    listed = emulator.control("GET", "tags")
    assert [f["tag_ids"] for f in listed["follows"]] == [[]]
