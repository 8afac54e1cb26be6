"""Demo data for community invites (wired into the demo by demo/seed.py, demo/accounts.py and the emulator loader).

- `communities_demo_seed`: a community per demo store (database only; no WeCom calls).
- `communities_demo_emulator_load`: in a running local emulator, a customer group per community owned by one of
  the store's associates with a few of their customers in it, synced into Omni and put behind the community, so
  the sidebar's 邀请进群 works in the demo.
- `COMMUNITY_MANAGER_PERMISSIONS`: what a store manager works with in admin (for the demo's manager group).
"""

import requests

from associates.models import Associate, Store
from clientbook.models import FollowRelation
from communities.models import Community
from communities.services import group_chat_refresh

COMMUNITY_MANAGER_PERMISSIONS = (
    "communities.view_community",
    "communities.add_community",
    "communities.change_community",
    "communities.view_communityinvitecode",
    "communities.view_groupmember",
    "communities.view_groupmemberevent",
    "communities.view_invite",
    "communities.view_groupchat",
)


def communities_demo_seed(*, stores: list[Store] | None = None) -> int:
    """A community for every store that has none; returns how many were created."""
    created = 0
    for store in stores if stores is not None else Store.objects.filter(is_active=True):
        if store.communities.exists():
            continue
        Community.objects.create(store=store, name=f"{store.name}会员俱乐部", room_base_name=f"{store.name}会员群")
        created += 1
    return created


def communities_demo_emulator_load(*, control_url: str, members: int = 3) -> int:
    """Give each community without groups a group in the emulator and sync it; returns the groups made.

    Omni's WeCom settings must point at the same emulator (as in `./run demo`)."""
    control = control_url.rstrip("/")
    made = 0
    for community in Community.objects.filter(is_active=True, chats__isnull=True).select_related("store"):
        owner = Associate.objects.filter(store=community.store, is_active=True).order_by("role", "pk").first()
        if owner is None:
            continue
        # Members among the owner's contacts in the emulator's WeCom: Omni's seeded relations go beyond them.
        in_wecom = requests.get(f"{control}/customers", params={"userid": owner.wecom_userid}, timeout=10)
        in_wecom.raise_for_status()
        known = [customer["external_userid"] for customer in in_wecom.json()["customers"]]
        contacts = list(
            FollowRelation.objects.filter(associate=owner, ended_at__isnull=True, external_userid__in=known)
            .order_by("pk")
            .values_list("external_userid", flat=True)[:members]
        )
        response = requests.post(
            f"{control}/groups",
            json={"owner": owner.wecom_userid, "name": f"{community.store.name}老友群", "members": contacts},
            timeout=10,
        )
        response.raise_for_status()
        chat = group_chat_refresh(chat_id=response.json()["group_chat"]["chat_id"])
        community.chats.add(chat)
        made += 1
    return made
