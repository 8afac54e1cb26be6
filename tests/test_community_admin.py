"""Admin for communities, scoped to the manager's stores: communities, groups and members, and the invite funnel
per associate and per store."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, Invite
from demo.communities import COMMUNITY_MANAGER_PERMISSIONS
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store_a, store_b = StoreFactory(name="上海静安店"), StoreFactory(name="北京三里屯店")
    linyu = AssociateFactory(store=store_a, name="林雨")
    zhaomin = AssociateFactory(store=store_a, name="赵敏")
    other = AssociateFactory(store=store_b, name="北京导购")
    chat_a = GroupChat.objects.create(chat_id="wrA", name="静安老友群", owner=linyu, owner_userid=linyu.wecom_userid)
    chat_b = GroupChat.objects.create(chat_id="wrB", name="三里屯群", owner=other, owner_userid=other.wecom_userid)
    community_a = Community.objects.create(store=store_a, name="静安会员俱乐部")
    community_a.chats.add(chat_a)
    community_b = Community.objects.create(store=store_b, name="三里屯会员群")
    community_b.chats.add(chat_b)
    now = timezone.now()
    n = 0
    for associate, community, joined in (
        (linyu, community_a, 2),
        (zhaomin, community_a, 0),
        (other, community_b, 1),
    ):
        code = CommunityInviteCode.objects.create(
            community=community, associate=associate, state=f"cm{community.pk}a{associate.pk}"
        )
        for i in range(3):
            n += 1
            Invite.objects.create(
                request_id=f"r{n}",
                associate=associate,
                customer=CustomerFactory(name=f"客户{n}", primary_store=community.store),
                community=community,
                store=community.store,
                invite_code=code,
                sent_at=now,
                status="joined" if i < joined else "sent",
                joined_at=now if i < joined else None,
            )
    GroupMember.objects.create(chat=chat_a, userid="wmA", member_type=2, name="静安客户")
    GroupMember.objects.create(chat=chat_b, userid="wmB", member_type=2, name="北京客户")
    manager = UserFactory(username="manager_a")
    manager.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["communities", "associates"],
            codename__in=[p.split(".")[1] for p in COMMUNITY_MANAGER_PERMISSIONS],
        )
    )
    store_a.managers.add(manager)
    root = UserFactory(username="root", is_superuser=True)
    return {"manager": manager, "root": root, "community_b": community_b, "chat_b": chat_b}


def _rows(html: str, table: str) -> list[tuple[str, ...]]:
    body = html[html.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    return [tuple(re.findall(r"<td>(.*?)</td>", row)) for row in re.findall(r"<tr>(<td>.*?)</tr>", body, flags=re.S)]


def test_the_invite_funnel_is_per_associate_and_per_store_within_the_managers_stores(client, shop):
    client.force_login(shop["manager"])

    html = client.get("/admin/communities/invite/").content.decode()

    assert _rows(html, "funnel-by-store") == [("上海静安店", "6", "2", "33%")]
    assert _rows(html, "funnel-by-associate") == [("林雨", "3", "2", "67%"), ("赵敏", "3", "0", "0%")]
    assert "北京导购" not in html


def test_hq_sees_every_store_in_the_funnel(client, shop):
    client.force_login(shop["root"])

    html = client.get("/admin/communities/invite/").content.decode()

    assert _rows(html, "funnel-by-store") == [("上海静安店", "6", "2", "33%"), ("北京三里屯店", "3", "1", "33%")]


def test_communities_groups_and_members_of_other_stores_are_hidden_from_the_manager(client, shop):
    client.force_login(shop["manager"])

    communities = client.get("/admin/communities/community/").content.decode()
    chats = client.get("/admin/communities/groupchat/").content.decode()
    members = client.get("/admin/communities/groupmember/").content.decode()

    assert "静安会员俱乐部" in communities and "三里屯会员群" not in communities
    assert "静安老友群" in chats and "三里屯群" not in chats
    assert "静安客户" in members and "北京客户" not in members
    assert client.get(f"/admin/communities/community/{shop['community_b'].pk}/change/").status_code == 404
    assert client.get(f"/admin/communities/groupchat/{shop['chat_b'].pk}/change/").status_code == 404


def test_a_manager_creates_a_community_only_with_their_stores_groups(client, shop):
    client.force_login(shop["manager"])
    store_a = shop["manager"].managed_stores.get()
    form = client.get("/admin/communities/community/add/").content.decode()
    assert "静安老友群" in form and "三里屯群" not in form

    refused = client.post(
        "/admin/communities/community/add/",
        {
            "store": store_a.pk,
            "name": "静安二群",
            "chats": [shop["chat_b"].pk],
            "brand_color": "#07C160",
            "copy_line": "进群有礼",
            "auto_create_room": "on",
            "is_active": "on",
        },
    )
    assert refused.status_code == 200
    assert not Community.objects.filter(name="静安二群").exists()

    created = client.post(
        "/admin/communities/community/add/",
        {
            "store": store_a.pk,
            "name": "静安二群",
            "chats": [GroupChat.objects.get(chat_id="wrA").pk],
            "brand_color": "#c94838",
            "copy_line": "进群有礼",
            "auto_create_room": "on",
            "is_active": "on",
        },
    )
    assert created.status_code == 302
    community = Community.objects.get(name="静安二群")
    assert (community.brand_color, list(community.chats.values_list("chat_id", flat=True))) == ("#C94838", ["wrA"])
