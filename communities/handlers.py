"""The communities' WeCom callbacks (change_external_chat), registered with `wecom.events` when the app is ready.

Each re-reads the group from WeCom and converges (idempotent, safe in any order); a change WeCom's answer does not show
yet is looked at again later on the bulk queue (`communities.tasks.group_chat_recheck_later`).
"""

from communities.models import GroupMember
from communities.services import group_chat_dismiss, group_chat_refresh, member_change_from, moment_of
from communities.tasks import group_chat_recheck_later
from customers.models import AutoTagRule
from customers.tags_events import auto_tags_refresh_later
from wecom.events import handles


@handles("change_external_chat", "create")
def group_chat_created(payload: dict) -> None:
    group_chat_refresh(chat_id=str(payload.get("ChatId", "")))


@handles("change_external_chat", "update")
def group_chat_updated(payload: dict) -> None:
    """add_member / del_member / change_owner / change_name / change_notice: re-fetch and converge."""
    group_chat_refresh(
        chat_id=str(payload.get("ChatId", "")),
        change=member_change_from(payload),
        payload=payload,
        recheck_later=group_chat_recheck_later,
    )
    if payload.get("UpdateDetail") in ("add_member", "del_member"):
        # Auto tags "by community joined" of the chat's customers (one query; nothing when no such rule).
        auto_tags_refresh_later(
            customer_ids=GroupMember.objects.filter(chat__chat_id=str(payload.get("ChatId", ""))).values_list(
                "customer_id", flat=True
            ),
            kind=AutoTagRule.Kind.COMMUNITY,
        )


@handles("change_external_chat", "dismiss")
def group_chat_dismissed(payload: dict) -> None:
    group_chat_dismiss(chat_id=str(payload.get("ChatId", "")), at=moment_of(payload.get("CreateTime")))
