"""Real threads on PostgreSQL: a double (or eight-fold) tap on 邀请进群 sends one invite and uploads one poster, and
the same join callback handled by several workers at once records one join and converts one invite."""

import time

import pytest

from communities.handlers import group_chat_created, group_chat_updated
from communities.models import Community, GroupChat, GroupMemberEvent, Invite
from communities.services import community_invite_send
from tests import test_community_groups as groups
from tests.test_community_groups import CHEN, _update, people
from tests.threads import failures, run_concurrently

emulator = groups.emulator  # the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _shop(emulator):
    associate, chen, _ = people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    community = Community.objects.create(store=associate.store, name="静安会员俱乐部")
    community.chats.add(GroupChat.objects.get(chat_id=chat_id))
    return associate, chen, chat_id


def test_eight_taps_with_one_request_id_send_one_invite_and_upload_one_poster(emulator):
    associate, chen, _ = _shop(emulator)

    outcomes = run_concurrently(
        lambda: community_invite_send(associate=associate, customer_id=chen.pk, request_id="tap"), contenders=8
    )

    assert failures(outcomes) == []
    assert sorted(o.created for o in outcomes) == [False] * 7 + [True]
    assert Invite.objects.count() == 1
    assert emulator.control("GET", "calls", api="media/upload")["count"] == 1
    assert emulator.control("GET", "calls", api="externalcontact/groupchat/add_join_way")["count"] == 1


def test_one_join_handled_by_six_workers_at_once_is_one_join_and_one_conversion(emulator):
    associate, chen, chat_id = _shop(emulator)
    invite = community_invite_send(associate=associate, customer_id=chen.pk, request_id="r1").invite
    emulator.control("POST", "groups/join", {"config_id": invite.invite_code.config_id, "member": CHEN})
    version = emulator.control("GET", "groups")["groups"][0]["member_version"]
    payload = _update(chat_id, "add_member", [CHEN], version, int(time.time()), JoinScene=3)

    outcomes = run_concurrently(lambda: group_chat_updated(payload), contenders=6)

    assert failures(outcomes) == []
    assert GroupMemberEvent.objects.filter(kind="join", member__userid=CHEN).count() == 1
    invite.refresh_from_db()
    assert invite.status == "joined"
