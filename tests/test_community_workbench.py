"""The workbench's community card: my customers not yet in the store community, each with a one-tap invite (the
poster through WeCom's group-message assistant), and my funnel sent → joined."""

import re

import pytest
from django.utils import timezone

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from communities.handlers import group_chat_created
from communities.models import Community, GroupChat, Invite
from communities.services import community_invite_send
from tests import test_community_groups as groups
from tests.factories import AssociateFactory, CustomerFactory
from tests.test_community_groups import CHEN, WANG, people
from tests.test_community_invites import _join

emulator = groups.emulator  # the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(emulator, client):
    associate, chen, wang = people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    community = Community.objects.create(store=associate.store, name="静安会员俱乐部")
    community.chats.add(GroupChat.objects.get(chat_id=chat_id))
    for customer, external_userid in ((chen, CHEN), (wang, WANG)):
        emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu"})
        FollowRelation.objects.create(
            associate=associate, customer=customer, external_userid=external_userid, followed_at=timezone.now()
        )
    # A customer of the store who is not 林雨's WeCom contact: not hers to invite.
    CustomerFactory(name="路人甲", primary_store=associate.store)
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return {"associate": associate, "chen": chen, "wang": wang, "chat_id": chat_id}


def _card(html: str) -> str:
    return html[html.index('id="community"') : html.index('id="customers"')]


def test_the_card_lists_my_contacts_outside_the_community_and_my_funnel(client, emulator, shop):
    _join(emulator, shop["chat_id"], CHEN)
    community_invite_send(associate=shop["associate"], customer_id=shop["wang"].pk, request_id="r1")

    card = _card(client.get("/workbench/").content.decode())

    assert "王磊" in card and "已邀请未入群" in card
    assert "陈静" not in card  # already in the group
    assert "路人甲" not in card
    assert re.search(r'id="funnel-sent">1<', card) and re.search(r'id="funnel-joined">0<', card)


def test_one_tap_invites_through_the_assistant_once_even_when_the_form_is_sent_twice(client, emulator, shop):
    card = _card(client.get("/workbench/").content.decode())
    form = re.search(rf'data-customer="{shop["chen"].pk}">.*?name="request_id" value="(\w+)"', card, flags=re.S)
    body = {"customer_id": shop["chen"].pk, "request_id": form.group(1)}

    first = client.post("/workbench/community/invite/", body, follow=True)
    second = client.post("/workbench/community/invite/", body, follow=True)

    assert "已把社群海报放进群发助手" in first.content.decode()
    assert "已邀请过陈静" in second.content.decode()
    invite = Invite.objects.get()
    assert (invite.channel, invite.customer, invite.status) == ("workbench", shop["chen"], "sent")
    messages = emulator.control("GET", "mass_messages", userid="linyu")["mass_messages"]
    assert [m["msgid"] for m in messages] == [invite.msgid]

    # She joins through the poster: the funnel shows it.
    _join(emulator, shop["chat_id"], CHEN, config_id=invite.invite_code.config_id)
    card = _card(client.get("/workbench/").content.decode())
    assert re.search(r'id="funnel-sent">1<', card) and re.search(r'id="funnel-joined">1<', card)


def test_a_customer_outside_my_scope_cannot_be_invited(client, emulator, shop):
    stranger = CustomerFactory(name="外店客户", primary_store=AssociateFactory().store)

    page = client.post(
        "/workbench/community/invite/", {"customer_id": stranger.pk, "request_id": "x"}, follow=True
    ).content.decode()

    assert "没有这位客户" in page
    assert Invite.objects.count() == 0
