"""Community invites: keep customer groups in step with WeCom, keep join ways and posters, send invites, and
credit joins to the associate who invited.

Groups converge by re-fetching: every `change_external_chat` callback (create, update, dismiss — in any order,
any number of times) locks the group's row and reads `groupchat/get`, and the difference between what we hold
and what WeCom answers becomes join and leave events. Events are transitions of a member's row made under that
lock, and each has a unique key, so a duplicate callback or a re-fetch that finds nothing new records nothing.
A callback's MemChangeList adds what a re-fetch cannot see: someone who joined and left again before we looked.

Invites are idempotent by the client's request id (a double tap sends once); the poster is uploaded once per
design and reused while WeCom keeps the media (3 days); a join way deleted in WeCom is re-created.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from associates.models import Associate
from clientbook.models import FollowRelation
from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, GroupMemberEvent, Invite
from communities.posters import community_poster_png
from customers.models import Customer, Identity
from omni.errors import ApplicationError
from wecom import constants as C
from wecom.client import WeComClient, WeComError, wecom_client
from wecom.events import EventNotApplicable
from wecom.models import SyncRun
from wecom.sync import sync_pages

logger = logging.getLogger(__name__)

ERR_INVALID_CHAT_ID = 40050
ERR_INVALID_MEDIA_ID = 40007
# Re-upload a poster this long before WeCom forgets the media, so a send never races the expiry.
POSTER_REUSE_FOR = timedelta(seconds=C.MEDIA_TTL_SECONDS) - timedelta(hours=2)
QR_DOWNLOAD_TIMEOUT = 10
# A callback WeCom has not applied yet is looked at again this often, first after this many seconds (doubling).
RECHECK_ATTEMPTS = 4
RECHECK_FIRST_PAUSE = 15


def moment_of(ts: int | str | None) -> datetime | None:
    try:
        value = int(ts or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(value, UTC) if value > 0 else None


# ---------------------------------------------------------------------------------------------------------------
# Groups and members


@dataclass(frozen=True)
class MemberChange:
    """What an update callback says changed (used beside the re-fetch, never instead of it)."""

    detail: str
    userids: tuple[str, ...]
    join_scene: int | None
    quit_scene: int | None
    version: str
    last_version: str
    at: datetime


def member_change_from(payload: dict) -> MemberChange | None:
    detail = str(payload.get("UpdateDetail", ""))
    if detail not in ("add_member", "del_member"):
        return None
    items = payload.get("MemChangeList") or {}
    items = items.get("Item", []) if isinstance(items, dict) else items
    userids = tuple(i for i in ([items] if isinstance(items, str) else items) if isinstance(i, str) and i)

    def number(name: str) -> int | None:
        value = payload.get(name)
        return int(value) if str(value or "").lstrip("-").isdigit() else None

    return MemberChange(
        detail=detail,
        userids=userids,
        join_scene=number("JoinScene"),
        quit_scene=number("QuitScene"),
        version=str(payload.get("CurMemVer", "")),
        last_version=str(payload.get("LastMemVer", "")),
        at=moment_of(payload.get("CreateTime")) or timezone.now(),
    )


def _customer_for(*, userid: str, unionid: str) -> Customer | None:
    """The One ID customer of an external group member: by external_userid, else by unionid."""
    match = Q(identities__kind=Identity.Kind.WECOM_EXTERNAL_USERID, identities__value=userid)
    if unionid:
        match |= Q(identities__kind=Identity.Kind.WECHAT_UNIONID, identities__value=unionid)
    found = list(Customer.objects.filter(match, merged_into__isnull=True).distinct()[:2])
    # Two different customers claim this member (an unresolved One ID conflict): link neither.
    return found[0] if len(found) == 1 else None


def _event(
    *, chat: GroupChat, member: GroupMember, kind: str, at: datetime, key: str, **fields
) -> GroupMemberEvent | None:
    """Record one join or leave; None when its key is already recorded."""
    event, created = GroupMemberEvent.objects.get_or_create(
        key=key[:200], defaults={"chat": chat, "member": member, "kind": kind, "at": at, **fields}
    )
    return event if created else None


def _stamp(member: GroupMember) -> int:  # the membership a leave ends
    return int(member.joined_at.timestamp()) if member.joined_at else 0


def _join(
    chat: GroupChat,
    member: GroupMember | None,
    *,
    userid: str,
    entry: dict,
    at: datetime,
    join_scene: int | None,
    key: str,
) -> GroupMember:
    """A not-a-member → member transition: the row, the join event and, for a customer, the invite it converts."""
    if entry.get("type"):
        external = int(entry["type"]) == GroupMember.Type.EXTERNAL
    else:
        external = not Associate.objects.filter(wecom_userid=userid).exists()
    unionid = entry.get("unionid", "") or ""
    state = (entry.get("state") or "")[:30]
    code = (
        CommunityInviteCode.objects.select_related("community", "associate").filter(state=state).first()
        if state
        else None
    )
    values = {
        "member_type": GroupMember.Type.EXTERNAL if external else GroupMember.Type.STAFF,
        "unionid": unionid,
        "name": (entry.get("name") or (member.name if member else ""))[:100],
        "customer": _customer_for(userid=userid, unionid=unionid) if external else None,
        "associate": None if external else Associate.objects.filter(wecom_userid=userid).first(),
        "is_member": True,
        "joined_at": at,
        "wecom_join_time": int(entry["join_time"]) if entry.get("join_time") else None,
        "left_at": None,
        "join_scene": join_scene,
        "invitor_userid": ((entry.get("invitor") or {}).get("userid") or "")[:64],
        "state": state,
        "invite_code": code,
    }
    if member is None:
        member = GroupMember.objects.create(chat=chat, userid=userid, **values)
    else:
        for name, value in values.items():
            setattr(member, name, value)
        member.save()
    if code is not None and not code.community.chats.filter(pk=chat.pk).exists():
        # A room WeCom created on its own when the others filled up (auto_create_room): it belongs to the community.
        code.community.chats.add(chat)
    event = _event(
        chat=chat,
        member=member,
        kind=GroupMemberEvent.Kind.JOIN,
        at=at,
        key=key,
        join_scene=join_scene,
        state=state,
        credited_associate=code.associate if code else None,
    )
    # Only a join recorded now converts an invite: the same join seen again must not convert a second one.
    if event is not None and member.customer_id:
        credited = _invite_convert(chat=chat, member=member, code=code, at=at)
        if credited is not None and credited.pk != event.credited_associate_id:
            event.credited_associate = credited
            event.save(update_fields=["credited_associate"])
    return member


def _leave(chat: GroupChat, member: GroupMember, *, at: datetime, quit_scene: int | None = None) -> None:
    key = f"leave:{chat.chat_id}:{member.userid}:{_stamp(member)}"
    member.is_member, member.left_at = False, at
    member.save(update_fields=["is_member", "left_at"])
    _event(chat=chat, member=member, kind=GroupMemberEvent.Kind.LEAVE, at=at, key=key, quit_scene=quit_scene)
    if member.customer_id:
        Invite.objects.filter(
            customer_id=member.customer_id, joined_chat=chat, status=Invite.Status.JOINED, left_at__isnull=True
        ).update(left_at=at)


def _invite_convert(*, chat: GroupChat, member: GroupMember, code: CommunityInviteCode | None, at: datetime):
    """Mark the invite this join answers as joined; returns the associate credited (or None).

    The join way's state names the invite code, so that associate's invite wins; without a state (invited by
    a member, or scanned a forwarded poster whose state we cannot see) the customer's latest open invite to a
    community this group belongs to is credited.
    """
    open_invites = Invite.objects.select_for_update(no_key=True).filter(
        customer_id=member.customer_id, status=Invite.Status.SENT
    )
    invite = None
    if code is not None:
        invite = open_invites.filter(invite_code=code).order_by("-sent_at", "-pk").first()
        invite = invite or open_invites.filter(community=code.community).order_by("-sent_at", "-pk").first()
    if invite is None:
        invite = open_invites.filter(community__chats=chat).order_by("-sent_at", "-pk").first()
    if invite is None:
        return None
    Invite.objects.filter(pk=invite.pk, status=Invite.Status.SENT).update(
        status=Invite.Status.JOINED, joined_at=at, joined_chat=chat
    )
    return invite.associate


def _apply(chat: GroupChat, info: dict, change: MemberChange | None, *, pending: bool = False) -> None:
    """Make our members of `chat` what WeCom says (`info` from groupchat/get); the row is locked by the caller.

    `pending`: WeCom still answers the member list from before `change` (it applies some changes late). The
    callback's members are then taken as joined / left as it says, and the re-fetch's older view of them is
    ignored until the next look.
    """
    now = timezone.now()
    fetched = {m["userid"]: m for m in info.get("member_list", []) if m.get("userid")}
    rows = {m.userid: m for m in GroupMember.objects.filter(chat=chat)}
    held = set(change.userids) if change is not None and pending else set()

    if change is not None and change.detail == "add_member":
        for userid in change.userids:
            row = rows.get(userid)
            key = f"join:{chat.chat_id}:{userid}:v{change.version}"
            if userid in fetched or (row is not None and row.is_member):
                continue
            if GroupMemberEvent.objects.filter(key=key).exists():
                continue  # this callback was applied before (it came again with another CreateTime)
            # Not in WeCom's answer: either already gone again, or not applied by WeCom yet (`pending`).
            row = rows[userid] = _join(
                chat, row, userid=userid, entry={}, at=change.at, join_scene=change.join_scene, key=key
            )
    if change is not None and change.detail == "del_member" and pending:
        for userid in change.userids:
            row = rows.get(userid)
            if row is not None and row.is_member:
                _leave(chat, row, at=change.at, quit_scene=change.quit_scene)

    for userid, entry in fetched.items():
        if userid in held:
            continue
        row = rows.get(userid)
        join_time = int(entry.get("join_time") or 0) or None
        if row is not None and row.is_member:
            if row.wecom_join_time is None or join_time is None or row.wecom_join_time == join_time:
                _member_touch(row, entry, join_time=join_time)
                continue
            # A different join time: they left and came back between two looks.
            _leave(chat, row, at=moment_of(join_time) or now)
        joined_at = moment_of(join_time) or (change.at if change is not None else now)
        rows[userid] = _join(
            chat,
            row,
            userid=userid,
            entry=entry,
            at=joined_at,
            join_scene=entry.get("join_scene"),
            key=f"join:{chat.chat_id}:{userid}:{join_time or int(joined_at.timestamp())}",
        )

    quit_scene = change.quit_scene if change is not None and change.detail == "del_member" else None
    for userid, row in rows.items():
        if row.is_member and userid not in fetched and userid not in held:
            at = change.at if change is not None else now
            _leave(chat, row, at=max(at, row.joined_at) if row.joined_at else at, quit_scene=quit_scene)

    owner_userid = info.get("owner", "") or ""
    chat.name = (info.get("name") or "")[:100]
    chat.owner_userid = owner_userid
    chat.owner = Associate.objects.filter(wecom_userid=owner_userid).first() if owner_userid else None
    chat.member_count = sum(1 for row in rows.values() if row.is_member)
    chat.member_version = str(info.get("member_version", ""))[:64]
    chat.wecom_created_at = moment_of(info.get("create_time")) or chat.wecom_created_at
    chat.status, chat.dismissed_at, chat.synced_at = GroupChat.Status.ACTIVE, None, now
    chat.save()


def _member_touch(row: GroupMember, entry: dict, *, join_time: int | None) -> None:
    """Still a member: keep what may change without a join (WeCom's join time, a late One ID link, a name)."""
    changed = []
    if row.wecom_join_time is None and join_time is not None:
        row.wecom_join_time = join_time
        changed.append("wecom_join_time")
    if row.customer_id is None and row.member_type == GroupMember.Type.EXTERNAL:
        row.customer = _customer_for(userid=row.userid, unionid=entry.get("unionid", "") or "")
        if row.customer_id:
            changed.append("customer")
    if entry.get("name") and entry["name"][:100] != row.name:
        row.name = entry["name"][:100]
        changed.append("name")
    if changed:
        row.save(update_fields=changed)


def _locked_chat(chat_id: str) -> GroupChat | None:
    return GroupChat.objects.select_for_update(no_key=True).filter(chat_id=chat_id).first()


def group_chat_refresh(
    *,
    chat_id: str,
    change: MemberChange | None = None,
    client: WeComClient | None = None,
    payload: dict | None = None,
    attempt: int = 0,
    recheck_later: Callable[[dict, int], None] | None = None,
) -> GroupChat | None:
    """Re-read one group from WeCom and converge our copy to it (idempotent; safe in any order).

    A group we have never seen is created from WeCom's answer. WeCom answering "no such chat" marks a known
    group dismissed; for an unknown one there is nothing to do (EventNotApplicable: recorded, not retried).
    When WeCom's answer does not show the callback's change yet, the callback (`payload`) is looked at again
    later by `recheck_later(payload, attempt)` (`communities.tasks.group_chat_recheck_later`), a few times with
    growing pauses, and then WeCom's view is taken as final.
    """
    client = client or wecom_client()
    if not chat_id or len(chat_id) > 64:
        raise EventNotApplicable(f"invalid chat id {chat_id!r}")
    with transaction.atomic():
        chat = _locked_chat(chat_id)
        if chat is not None and change is not None and change.version and change.version == chat.member_version:
            # Our copy already includes this change (a duplicate, or a callback overtaken by a later re-fetch).
            return chat
        try:
            info = client.groupchat_get(chat_id=chat_id).get("group_chat", {})
        except WeComError as exc:
            if exc.errcode != ERR_INVALID_CHAT_ID:
                raise
            if chat is None:
                raise EventNotApplicable(f"WeCom does not know chat {chat_id}") from exc
            _dismiss(chat, at=timezone.now())
            return chat
        if chat is None:
            GroupChat.objects.get_or_create(chat_id=chat_id)
            chat = _locked_chat(chat_id)
        pending = (
            change is not None
            and bool(change.last_version)
            and change.last_version != change.version
            and str(info.get("member_version", "")) == change.last_version
            and attempt < RECHECK_ATTEMPTS
        )
        _apply(chat, info, change, pending=pending)
        if pending and payload is not None and recheck_later is not None:
            recheck_later(payload, attempt + 1)
        return chat


def group_chat_recheck(
    *, payload: dict, attempt: int, recheck_later: Callable[[dict, int], None] | None = None
) -> GroupChat | None:
    """Look again at a group whose callback WeCom had not applied yet (from `group_chat_recheck_task`)."""
    try:
        return group_chat_refresh(
            chat_id=str(payload.get("ChatId", "")),
            change=member_change_from(payload),
            payload=payload,
            attempt=attempt,
            recheck_later=recheck_later,
        )
    except EventNotApplicable as exc:
        logger.info("Group recheck skipped: %s", exc)
        return None


def _dismiss(chat: GroupChat, *, at: datetime) -> None:
    for member in GroupMember.objects.filter(chat=chat, is_member=True):
        _leave(chat, member, at=at)
    chat.status, chat.dismissed_at, chat.member_count = GroupChat.Status.DISMISSED, at, 0
    chat.save(update_fields=["status", "dismissed_at", "member_count"])


def group_chat_dismiss(*, chat_id: str, at: datetime | None = None) -> GroupChat | None:
    """The group was dismissed: everyone left. Unknown groups need nothing."""
    with transaction.atomic():
        chat = _locked_chat(chat_id)
        if chat is None:
            logger.info("Dismissed group %s was never synced; nothing to do", chat_id)
            return None
        if chat.status != GroupChat.Status.DISMISSED:
            _dismiss(chat, at=at or timezone.now())
        return chat


def groups_sync_page(*, client: WeComClient, cursor: str) -> tuple[str, int]:
    """One page of groupchat/list, each group re-fetched and converged; returns the next cursor and the count."""
    page = client.groupchat_list(cursor=cursor)
    chats = page.get("group_chat_list", [])
    for item in chats:
        try:
            group_chat_refresh(chat_id=item["chat_id"], client=client)
        except EventNotApplicable:
            logger.info("Group %s vanished during sync", item["chat_id"])
    return page.get("next_cursor", "") or "", len(chats)


@sync_pages(SyncRun.Kind.GROUPS)
def groups_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    """The groups' page of WeCom's full sync (`wecom.sync`): the same convergence as change_external_chat."""
    state["cursor"], count = groups_sync_page(client=client, cursor=state.get("cursor", ""))
    return state, count, not state["cursor"]


# ---------------------------------------------------------------------------------------------------------------
# Communities, join ways and posters


def community_for_store(*, store_id: int) -> Community | None:
    return Community.objects.filter(store_id=store_id, is_active=True).select_related("store").order_by("pk").first()


def community_chat_ids(*, community: Community) -> list[str]:
    """The groups a join way for the community points at: the newest five live ones (WeCom's limit)."""
    chats = community.chats.filter(status=GroupChat.Status.ACTIVE).order_by("-wecom_created_at", "-pk")
    return list(reversed(list(chats.values_list("chat_id", flat=True)[: C.JOIN_WAY_MAX_CHAT_IDS])))


def _join_way_fields(community: Community, code: CommunityInviteCode, chat_ids: list[str]) -> dict:
    return {
        "scene": 2,
        "remark": f"{community.name}·{code.associate.name}"[:30],
        "auto_create_room": 1 if community.auto_create_room else 0,
        "room_base_name": (community.room_base_name or community.name)[:40],
        "room_base_id": 1,
        "chat_id_list": chat_ids,
        "state": code.state,
    }


def community_invite_code_ensure(
    *, community: Community, associate: Associate, client: WeComClient | None = None
) -> CommunityInviteCode:
    """The associate's join way for the community, live in WeCom: created when missing, re-created when WeCom
    no longer has it, pointed at the community's current groups. Locks the code row (callers hold it while sending).
    """
    client = client or wecom_client()
    if associate.store_id != community.store_id:
        raise ApplicationError("associate_not_in_store", "导购不属于该社群的门店", status_code=403)
    chat_ids = community_chat_ids(community=community)
    if not chat_ids:
        raise ApplicationError("community_without_groups", "社群还没有可加入的客户群，请联系店长配置", status_code=409)
    CommunityInviteCode.objects.get_or_create(
        community=community, associate=associate, defaults={"state": f"cm{community.pk}a{associate.pk}"[:30]}
    )
    code = (
        CommunityInviteCode.objects.select_for_update(no_key=True)
        .select_related("associate", "community__store")
        .get(community=community, associate=associate)
    )
    way = None
    if code.config_id:
        try:
            way = client.join_way_get(config_id=code.config_id).get("join_way")
        except WeComError as exc:
            if exc.transient:
                raise
            logger.warning("Join way %s of %s is gone in WeCom (%s); creating it again", code.config_id, code, exc)
    if way is None:
        config_id = client.join_way_add(**_join_way_fields(community, code, chat_ids))["config_id"]
        way = client.join_way_get(config_id=config_id)["join_way"]
        code.config_id = config_id
    elif sorted(way.get("chat_id_list") or []) != sorted(chat_ids):
        client.join_way_update(config_id=code.config_id, **_join_way_fields(community, code, chat_ids))
    code.qr_url, code.chat_ids = way.get("qr_code", "") or "", chat_ids
    code.save(update_fields=["config_id", "qr_url", "chat_ids"])
    return code


def _poster_inputs(code: CommunityInviteCode) -> dict:
    community = code.community
    return {
        "store_name": community.store.name,
        "community_name": community.name,
        "associate_name": code.associate.name,
        "copy_line": community.copy_line,
        "brand_color": community.brand_color,
    }


def community_poster_media(*, code: CommunityInviteCode, client: WeComClient | None = None, force: bool = False) -> str:
    """The poster's media_id: the cached one while WeCom still keeps it and the poster is unchanged, else a new
    upload. `force` re-uploads (WeCom said the media_id is no longer valid)."""
    client = client or wecom_client()
    inputs = _poster_inputs(code)
    digest = hashlib.sha256(repr((sorted(inputs.items()), code.qr_url)).encode()).hexdigest()
    fresh = code.poster_uploaded_at is not None and timezone.now() - code.poster_uploaded_at < POSTER_REUSE_FOR
    if code.poster_media_id and code.poster_digest == digest and fresh and not force:
        return code.poster_media_id
    try:
        response = requests.get(code.qr_url, timeout=QR_DOWNLOAD_TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise WeComError(None, f"join QR download failed: {exc.__class__.__name__}") from exc
    png = community_poster_png(qr_png=response.content, **inputs)
    media_id = client.media_upload_image(content=png, filename=f"community-{code.state}.png")["media_id"]
    code.poster_media_id, code.poster_digest, code.poster_uploaded_at = media_id, digest, timezone.now()
    code.save(update_fields=["poster_media_id", "poster_digest", "poster_uploaded_at"])
    return media_id


def community_poster_bytes(*, code: CommunityInviteCode) -> bytes:
    """The poster as it is (or would be) uploaded; for previews."""
    response = requests.get(code.qr_url, timeout=QR_DOWNLOAD_TIMEOUT)
    response.raise_for_status()
    return community_poster_png(qr_png=response.content, **_poster_inputs(code))


# ---------------------------------------------------------------------------------------------------------------
# Invites


@dataclass(frozen=True)
class InviteSent:
    invite: Invite
    created: bool


def customer_in_community(*, customer_id: int, community: Community) -> bool:
    return GroupMember.objects.filter(
        customer_id=customer_id, is_member=True, chat__in=community.chats.filter(status=GroupChat.Status.ACTIVE)
    ).exists()


def _replay(invite: Invite, *, associate: Associate) -> InviteSent:
    if invite.associate_id != associate.pk:
        raise ApplicationError("request_id_reused", "这个请求号已被使用", status_code=409)
    return InviteSent(invite=invite, created=False)


def community_invite_send(
    *,
    associate: Associate,
    customer_id: int,
    request_id: str,
    channel: str = Invite.Channel.SIDEBAR,
    refresh_media: bool = False,
) -> InviteSent:
    """Invite a customer into the associate's store community and record it.

    Sidebar: answers the poster's media_id; the page puts it in the chat with sendChatMessage. Workbench: WeCom's
    group-message assistant (add_msg_template) carries the poster; the associate confirms it in WeCom. A replay
    with the same request id returns the recorded invite and sends nothing; with `refresh_media` (the page was
    told the media_id is invalid) it re-uploads the poster and answers the new media_id.
    """
    request_id = request_id.strip()
    if not request_id or len(request_id) > 64:
        raise ApplicationError("invalid_request_id", "request_id 必填，最长 64 个字符")
    existing = Invite.objects.filter(request_id=request_id).first()
    if existing is not None and not refresh_media:
        return _replay(existing, associate=associate)
    community = community_for_store(store_id=associate.store_id)
    if community is None:
        raise ApplicationError("no_community", "门店还没有社群", status_code=404)
    client = wecom_client()
    # The join way and the poster commit on their own: a later WeCom failure must not orphan what WeCom made.
    with transaction.atomic():
        code = community_invite_code_ensure(community=community, associate=associate, client=client)
        media_id = community_poster_media(code=code, client=client, force=refresh_media)
    with transaction.atomic():
        # The code row's lock: a concurrent double tap waits here and then finds the first tap's invite.
        code = CommunityInviteCode.objects.select_for_update(no_key=True).select_related("community").get(pk=code.pk)
        existing = Invite.objects.filter(request_id=request_id).first()
        if existing is not None:
            sent = _replay(existing, associate=associate)
            if refresh_media and existing.channel == Invite.Channel.SIDEBAR and existing.media_id != media_id:
                existing.media_id = media_id
                existing.save(update_fields=["media_id"])
            return sent
        if customer_in_community(customer_id=customer_id, community=community):
            raise ApplicationError("already_in_community", "客户已经在门店社群里了", status_code=409)
        msgid = ""
        if channel == Invite.Channel.WORKBENCH:
            msgid, media_id = _send_by_assistant(
                associate=associate, customer_id=customer_id, code=code, media_id=media_id, client=client
            )
        if Invite.objects.filter(request_id=request_id).exists():
            raise ApplicationError("request_id_reused", "这个请求号已被使用", status_code=409)
        invite = Invite.objects.create(
            request_id=request_id,
            associate=associate,
            customer_id=customer_id,
            community=community,
            store_id=community.store_id,
            invite_code=code,
            channel=channel,
            media_id=media_id,
            msgid=msgid,
            sent_at=timezone.now(),
        )
    return InviteSent(invite=invite, created=True)


def _send_by_assistant(
    *, associate: Associate, customer_id: int, code: CommunityInviteCode, media_id: str, client: WeComClient
) -> tuple[str, str]:
    """Queue the poster in WeCom's group-message assistant for this one customer; returns (msgid, media_id)."""
    follow = (
        FollowRelation.objects.filter(associate=associate, customer_id=customer_id, ended_at__isnull=True)
        .order_by("-followed_at")
        .first()
    )
    if follow is None:
        raise ApplicationError("not_a_contact", "客户不是你的企业微信好友，无法发送", status_code=409)

    def send(media: str) -> dict:
        return client.post(
            "externalcontact/add_msg_template",
            data={
                "chat_type": "single",
                "sender": associate.wecom_userid,
                "external_userid": [follow.external_userid],
                "text": {"content": f"邀请您加入{code.community.name}：{code.community.copy_line}"},
                "attachments": [{"msgtype": "image", "image": {"media_id": media}}],
            },
        )

    try:
        result = send(media_id)
    except WeComError as exc:
        if exc.errcode != ERR_INVALID_MEDIA_ID:
            raise
        media_id = community_poster_media(code=code, client=client, force=True)
        result = send(media_id)
    if follow.external_userid in (result.get("fail_list") or []):
        raise ApplicationError("send_failed", "企业微信未能向该客户发送（可能已不是好友）", status_code=409)
    return result.get("msgid", ""), media_id
