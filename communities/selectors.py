"""Reads for community invites: a customer's membership (sidebar), an associate's uninvited customers and funnel
(workbench), and the invite funnel per associate and per store (admin)."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from associates.models import Associate
from clientbook.selectors import customers_visible
from communities.models import Community, GroupChat, GroupMember, Invite
from communities.services import community_for_store
from customers.models import Customer

WORKBENCH_UNINVITED = 20


@dataclass(frozen=True)
class CustomerCommunity:
    community: Community | None
    memberships: list[GroupMember]
    invites: list[Invite]

    @property
    def in_community(self) -> bool:
        return bool(self.memberships)


def customer_community_get(*, associate: Associate, customer_id: int) -> CustomerCommunity:
    """The store community of `associate`, the groups of it the customer is in now, and the invites sent."""
    community = community_for_store(store_id=associate.store_id)
    if community is None:
        return CustomerCommunity(community=None, memberships=[], invites=[])
    memberships = list(
        GroupMember.objects.filter(
            customer_id=customer_id,
            is_member=True,
            chat__in=community.chats.filter(status=GroupChat.Status.ACTIVE),
        )
        .select_related("chat", "invite_code__associate")
        .order_by("joined_at")
    )
    invites = list(Invite.objects.filter(customer_id=customer_id, community=community).select_related("associate")[:5])
    return CustomerCommunity(community=community, memberships=memberships, invites=invites)


def _in_community(community: Community) -> Exists:
    return Exists(
        GroupMember.objects.filter(
            customer_id=OuterRef("pk"),
            is_member=True,
            chat__in=community.chats.filter(status=GroupChat.Status.ACTIVE),
        )
    )


def workbench_uninvited_customers(*, associate: Associate, limit: int = WORKBENCH_UNINVITED) -> list[Customer]:
    """The associate's WeCom customers who are not in the store community, not-yet-invited first."""
    community = community_for_store(store_id=associate.store_id)
    if community is None:
        return []
    invited = Exists(Invite.objects.filter(customer_id=OuterRef("pk"), community=community))
    return list(
        customers_visible(viewer=associate)
        .filter(follows__associate=associate, follows__ended_at__isnull=True)
        .annotate(in_community=_in_community(community), invited=invited)
        .filter(in_community=False)
        .distinct()
        .order_by("invited", "name", "pk")[:limit]
    )


@dataclass(frozen=True)
class Funnel:
    sent: int
    joined: int

    @property
    def rate(self) -> int:
        """Joined per hundred sent."""
        return round(self.joined * 100 / self.sent) if self.sent else 0


def associate_invite_funnel(*, associate: Associate) -> Funnel:
    counts = Invite.objects.filter(associate=associate).aggregate(
        sent=Count("pk"), joined=Count("pk", filter=Q(status=Invite.Status.JOINED))
    )
    return Funnel(sent=counts["sent"], joined=counts["joined"])


def invite_funnel_rows(*, invites: QuerySet[Invite], by: str) -> list[dict]:
    """Sent and joined per associate (`by="associate"`) or per store (`by="store"`) over `invites`."""
    field = {"associate": "associate__name", "store": "store__name"}[by]
    rows = (
        invites.order_by()
        .values(f"{by}_id", field)
        .annotate(sent=Count("pk"), joined=Count("pk", filter=Q(status=Invite.Status.JOINED)))
        .order_by("-sent", field)
    )
    return [
        {
            "name": row[field],
            "sent": row["sent"],
            "joined": row["joined"],
            "rate": round(row["joined"] * 100 / row["sent"]) if row["sent"] else 0,
        }
        for row in rows
    ]
