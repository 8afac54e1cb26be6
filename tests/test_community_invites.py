"""Community invites against the emulator: the associate's join way and poster, the sidebar invite API (idempotent
by request id), the workbench invite through the group-message assistant, a deleted join way, an expired
media_id, and joins through the poster crediting the associate — once."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from communities.handlers import group_chat_created, group_chat_updated
from communities.models import Community, CommunityInviteCode, GroupChat, GroupMemberEvent, Invite
from communities.services import community_invite_send
from omni.errors import ApplicationError
from sidebar.community_apis import CommunityOut, InviteSentOut
from tests import test_community_groups as groups
from tests.factories import AssociateFactory
from tests.test_community_groups import CHEN, WANG, _update, people
from wecom.client import wecom_client

emulator = groups.emulator  # the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(emulator):
    associate, chen, wang = people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    community = Community.objects.create(store=associate.store, name="静安会员俱乐部", brand_color="#C94838")
    community.chats.add(GroupChat.objects.get(chat_id=chat_id))
    client = APIClient()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return {
        "associate": associate,
        "chen": chen,
        "wang": wang,
        "chat_id": chat_id,
        "community": community,
        "api": client,
    }


def _calls(emulator, api: str) -> int:
    return emulator.control("GET", "calls", api=api)["count"]


def _join(emulator, chat_id: str, member: str, **body) -> dict:
    """The customer joins in the emulator; Omni gets the add_member callback (handled here, in-process)."""
    emulator.control(
        "POST", "groups/join", {"member": member, **(body if body.get("config_id") else {"chat_id": chat_id, **body})}
    )
    version = next(g for g in emulator.control("GET", "groups")["groups"] if g["chat_id"] == chat_id)["member_version"]
    scene = 3 if body.get("config_id") else 0
    payload = _update(chat_id, "add_member", [member], version, int(time.time()), JoinScene=scene)
    group_chat_updated(payload)
    return payload


def test_the_sidebar_invite_creates_the_join_way_and_poster_once_and_a_retry_sends_nothing_new(emulator, shop):
    api, chen = shop["api"], shop["chen"]
    url = f"/api/v1/sidebar/customers/{chen.pk}/community/"

    before = api.get(url)
    assert before.status_code == 200
    CommunityOut(data=before.json()).is_valid(raise_exception=True)
    assert (before.json()["community"]["name"], before.json()["in_community"]) == ("静安会员俱乐部", False)

    first = api.post(url + "invite/", {"request_id": "tap-1"}, format="json")
    again = api.post(url + "invite/", {"request_id": "tap-1"}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    InviteSentOut(data=first.json()).is_valid(raise_exception=True)
    assert first.json()["image"] == again.json()["image"]
    invite = Invite.objects.get()
    assert (invite.associate, invite.customer, invite.status, invite.channel) == (
        shop["associate"],
        chen,
        "sent",
        "sidebar",
    )
    code = CommunityInviteCode.objects.get()
    assert code.state == f"cm{shop['community'].pk}a{shop['associate'].pk}"
    way = emulator.control("GET", "join_ways")["join_ways"][0]
    assert (way["state"], way["chat_id_list"], way["scene"]) == (code.state, [shop["chat_id"]], 2)
    assert invite.media_id == code.poster_media_id == first.json()["image"]["mediaid"]
    assert (_calls(emulator, "externalcontact/groupchat/add_join_way"), _calls(emulator, "media/upload")) == (1, 1)

    # Another customer: same join way, the cached poster.
    second = api.post(f"/api/v1/sidebar/customers/{shop['wang'].pk}/community/invite/", {"request_id": "tap-2"})
    assert second.status_code == 201
    assert second.json()["image"]["mediaid"] == invite.media_id
    assert (_calls(emulator, "externalcontact/groupchat/add_join_way"), _calls(emulator, "media/upload")) == (1, 1)


def test_a_request_id_is_required_and_a_store_without_community_or_groups_is_refused(emulator, shop):
    api, chen = shop["api"], shop["chen"]
    url = f"/api/v1/sidebar/customers/{chen.pk}/community/invite/"

    assert api.post(url, {}, format="json").status_code == 400
    shop["community"].chats.clear()
    refused = api.post(url, {"request_id": "t"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "community_without_groups")
    shop["community"].delete()
    missing = api.post(url, {"request_id": "t"}, format="json")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_community")
    assert Invite.objects.count() == 0
    assert _calls(emulator, "media/upload") == 0


def test_a_customer_already_in_the_community_is_not_invited_and_the_sidebar_shows_the_membership(emulator, shop):
    api, chen = shop["api"], shop["chen"]
    _join(emulator, shop["chat_id"], CHEN)

    shown = api.get(f"/api/v1/sidebar/customers/{chen.pk}/community/").json()
    refused = api.post(f"/api/v1/sidebar/customers/{chen.pk}/community/invite/", {"request_id": "x"}, format="json")

    assert shown["in_community"] is True
    assert shown["memberships"][0]["chat"] == "静安老友群"
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "already_in_community")
    assert Invite.objects.count() == 0


def test_a_join_through_the_poster_marks_the_invite_joined_credits_the_associate_and_a_leave_is_recorded(
    emulator, shop
):
    sent = community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="r1")
    code = CommunityInviteCode.objects.get()

    payload = _join(emulator, shop["chat_id"], CHEN, config_id=code.config_id)
    group_chat_updated(payload)  # delivered twice

    invite = Invite.objects.get(pk=sent.invite.pk)
    assert (invite.status, invite.joined_chat.chat_id, invite.left_at) == ("joined", shop["chat_id"], None)
    join = GroupMemberEvent.objects.get(kind="join", member__userid=CHEN)
    assert (join.state, join.credited_associate, join.join_scene) == (code.state, shop["associate"], 3)

    emulator.control("POST", "groups/leave", {"chat_id": shop["chat_id"], "member": CHEN})
    version = emulator.control("GET", "groups")["groups"][0]["member_version"]
    group_chat_updated(_update(shop["chat_id"], "del_member", [CHEN], version, int(time.time()), QuitScene=0))

    invite.refresh_from_db()
    assert (invite.status, invite.left_at is not None) == ("joined", True)
    assert GroupMemberEvent.objects.filter(kind="leave", member__userid=CHEN).count() == 1


def test_a_join_and_leave_seen_only_afterwards_still_converts_once_even_when_the_callback_comes_again(emulator, shop):
    first = community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="r1")
    code = CommunityInviteCode.objects.get()
    emulator.control("POST", "groups/join", {"config_id": code.config_id, "member": CHEN})
    joined_version = emulator.control("GET", "groups")["groups"][0]["member_version"]
    emulator.control("POST", "groups/leave", {"chat_id": shop["chat_id"], "member": CHEN})
    add = _update(shop["chat_id"], "add_member", [CHEN], joined_version, int(time.time()), JoinScene=3)

    group_chat_updated(add)
    # A second invite, then the same add_member callback again (a re-delivery with a new CreateTime).
    second = community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="r2")
    group_chat_updated({**add, "CreateTime": str(int(time.time()) + 5)})

    assert Invite.objects.get(pk=first.invite.pk).status == "joined"
    assert Invite.objects.get(pk=second.invite.pk).status == "sent"
    assert GroupMemberEvent.objects.filter(member__userid=CHEN, kind="join").count() == 1
    assert GroupMemberEvent.objects.filter(member__userid=CHEN, kind="leave").count() == 1


def test_a_join_without_state_credits_the_open_invite_of_a_community_the_group_belongs_to(emulator, shop):
    colleague = AssociateFactory(store=shop["associate"].store, wecom_userid="zhaomin", name="赵敏")
    emulator.control("POST", "associates", {"userid": "zhaomin", "name": "赵敏"})
    community_invite_send(associate=colleague, customer_id=shop["wang"].pk, request_id="r-wang")

    _join(emulator, shop["chat_id"], WANG, invitor="linyu")

    invite = Invite.objects.get()
    assert (invite.status, invite.associate) == ("joined", colleague)
    assert GroupMemberEvent.objects.get(kind="join", member__userid=WANG).credited_associate == colleague


def test_a_join_way_deleted_in_wecom_is_created_again_with_a_new_poster(emulator, shop):
    community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="r1")
    code = CommunityInviteCode.objects.get()
    old_config, old_media = code.config_id, code.poster_media_id
    wecom_client().join_way_del(config_id=old_config)

    sent = community_invite_send(associate=shop["associate"], customer_id=shop["wang"].pk, request_id="r2")

    code.refresh_from_db()
    assert code.config_id and code.config_id != old_config
    assert code.qr_url.endswith(f"/qr/join_way/{code.config_id}.png")
    assert sent.invite.media_id == code.poster_media_id != old_media
    assert [w["config_id"] for w in emulator.control("GET", "join_ways")["join_ways"]] == [code.config_id]


def test_a_poster_older_than_wecom_keeps_media_is_uploaded_again(emulator, shop):
    community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="r1")
    CommunityInviteCode.objects.update(poster_uploaded_at=timezone.now() - timedelta(days=3))

    community_invite_send(associate=shop["associate"], customer_id=shop["wang"].pk, request_id="r2")

    media = list(Invite.objects.order_by("pk").values_list("media_id", flat=True))
    assert media[0] != media[1]
    assert _calls(emulator, "media/upload") == 2


def test_the_sidebar_retry_with_refresh_media_uploads_again_when_wecom_dropped_the_media(emulator, shop):
    api, chen = shop["api"], shop["chen"]
    url = f"/api/v1/sidebar/customers/{chen.pk}/community/invite/"
    first = api.post(url, {"request_id": "tap-1"}, format="json").json()
    emulator.control("POST", "clock", {"advance_seconds": 3 * 24 * 3600 + 1})

    retry = api.post(url, {"request_id": "tap-1", "refresh_media": True}, format="json")

    assert retry.status_code == 200
    assert retry.json()["image"]["mediaid"] != first["image"]["mediaid"]
    assert Invite.objects.get().media_id == retry.json()["image"]["mediaid"]
    assert Invite.objects.count() == 1


def test_the_workbench_invite_queues_the_poster_in_the_assistant_and_reuploads_an_expired_media_once(emulator, shop):
    associate, chen = shop["associate"], shop["chen"]
    emulator.control("POST", "contacts/add", {"external_userid": CHEN, "userid": "linyu"})
    FollowRelation.objects.create(associate=associate, customer=chen, external_userid=CHEN, followed_at=timezone.now())
    community_invite_send(associate=associate, customer_id=shop["wang"].pk, request_id="warm-cache")
    # WeCom forgot the media (3 days on its clock) while Omni's copy still looks fresh.
    emulator.control("POST", "clock", {"advance_seconds": 3 * 24 * 3600 + 1})

    sent = community_invite_send(associate=associate, customer_id=chen.pk, request_id="wb-1", channel="workbench")
    again = community_invite_send(associate=associate, customer_id=chen.pk, request_id="wb-1", channel="workbench")

    assert (sent.created, again.created, again.invite.pk) == (True, False, sent.invite.pk)
    messages = emulator.control("GET", "mass_messages", userid="linyu")["mass_messages"]
    assert len(messages) == 1
    assert messages[0]["msgid"] == sent.invite.msgid
    assert _calls(emulator, "media/upload") == 2
    assert emulator.control("GET", "calls", api="externalcontact/add_msg_template", errcode="40007")["count"] == 1


def test_the_workbench_invite_needs_the_customer_to_be_a_contact(emulator, shop):
    with pytest.raises(ApplicationError) as refused:
        community_invite_send(
            associate=shop["associate"], customer_id=shop["chen"].pk, request_id="wb", channel="workbench"
        )
    assert refused.value.code == "not_a_contact"
    assert Invite.objects.count() == 0
    assert emulator.control("GET", "mass_messages")["mass_messages"] == []


def test_a_request_id_reused_by_another_associate_is_refused(emulator, shop):
    colleague = AssociateFactory(store=shop["associate"].store, wecom_userid="zhaomin", name="赵敏")
    emulator.control("POST", "associates", {"userid": "zhaomin", "name": "赵敏"})
    community_invite_send(associate=shop["associate"], customer_id=shop["chen"].pk, request_id="same")

    with pytest.raises(ApplicationError) as refused:
        community_invite_send(associate=colleague, customer_id=shop["wang"].pk, request_id="same")
    assert refused.value.code == "request_id_reused"
    assert Invite.objects.count() == 1
