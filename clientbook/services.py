"""The client book in WeCom: friendships, contact-me QR codes, welcome messages, follow-up tasks, tags on a follow.

WeCom's change_external_contact callbacks reach these through `clientbook.handlers`.
"""

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from django.utils import timezone

from associates.models import Associate, Store
from clientbook.codes_state import member_state_customer_id
from clientbook.models import ContactWay, FollowRelation, FollowUpTask
from customers.models import Customer, CustomerTag, Identity, Tag
from customers.services import Profile, customer_resolve
from omni.errors import ApplicationError
from wecom import constants as C
from wecom.client import WeComClient, WeComError, wecom_client

logger = logging.getLogger(__name__)

DEFAULT_WELCOME = "您好，我是{store}的{associate}，很高兴为您服务～有任何问题随时在这里找我。"
_GENDER = {1: Customer.Gender.MALE, 2: Customer.Gender.FEMALE}
# WeCom's answers that say for certain there is no such contact (or not one of ours).
_NOT_A_CONTACT = frozenset({C.ERR_INVALID_EXTERNAL_USERID, C.ERR_NO_RELATIONSHIP})


def contact_way_create(*, store: Store, associate: Associate | None = None, label: str = "") -> ContactWay:
    """Create a 联系我 QR code in WeCom whose `state` attributes new customers to this store/associate."""
    if associate is not None and associate.store_id != store.pk:
        raise ApplicationError("associate_not_in_store", "The associate does not work in this store.")
    users = (
        [associate.wecom_userid]
        if associate
        else list(store.associates.filter(is_active=True).values_list("wecom_userid", flat=True)[:100])
    )
    if not users:
        raise ApplicationError("no_associates", "The store has no active associate to add.")
    state = f"cw{secrets.token_hex(6)}"
    result = wecom_client().external_contact.add_contact_way(
        type=1 if associate else 2, scene=2, state=state, user=users, skip_verify=True
    )
    return ContactWay.objects.create(
        store=store,
        associate=associate,
        label=label,
        state=state,
        config_id=result["config_id"],
        qr_code=result.get("qr_code", ""),
    )


def follow_user_of(contact: dict, userid: str) -> dict:
    """`userid`'s entry in an externalcontact/get answer's follow_user list ({} if none)."""
    return next((item for item in contact.get("follow_user", []) if item.get("userid") == userid), {})


def contact_get(client: WeComClient, *, external_userid: str, userid: str) -> tuple[dict, dict]:
    """externalcontact/get, and `userid`'s follow_user entry ({} if none): WeCom pages follow_user by 500."""
    contact = client.external_contact.get(external_userid)
    follow_user = follow_user_of(contact, userid)
    while not follow_user and contact.get("next_cursor"):
        contact = client.get(
            "externalcontact/get", params={"external_userid": external_userid, "cursor": contact["next_cursor"]}
        )
        follow_user = follow_user_of(contact, userid)
    return contact, follow_user


def _avatar_url(person: dict) -> str:
    """WeCom's avatar if it is one we can store and show: an http(s) URL that fits the field."""
    avatar = (person.get("avatar") or "").strip()
    max_length = Customer._meta.get_field("avatar_url").max_length
    return avatar if avatar.startswith(("https://", "http://")) and len(avatar) <= max_length else ""


def follow_record(*, associate: Associate, person: dict, follow_user: dict, state: str = "") -> FollowRelation:
    """Link a WeCom external contact to its One ID customer and record the friendship (idempotent).

    `person` is WeCom's external_contact, `follow_user` this associate's follow_user / follow_info entry;
    a `state` naming one of our contact-me QR codes attributes the customer to that code's store.
    """
    external_userid = person["external_userid"]
    state = state or follow_user.get("state", "")
    contact_way = ContactWay.objects.filter(state=state).select_related("store").first() if state else None
    identities = [(Identity.Kind.WECOM_EXTERNAL_USERID, external_userid)]
    if person.get("unionid"):
        identities.append((Identity.Kind.WECHAT_UNIONID, person["unionid"]))
    # A member's own code: its state names the member, so the new contact joins that One ID customer at once.
    member_id = member_state_customer_id(state) if state else None
    if member_id is not None:
        known = Identity.objects.filter(customer_id=member_id).exclude(kind=Identity.Kind.WECOM_EXTERNAL_USERID)
        identities.extend(known.order_by("pk").values_list("kind", "value")[:1])
    customer = customer_resolve(
        identities=identities,
        source="wecom",
        profile=Profile(
            name=person.get("name"),
            gender=_GENDER.get(person.get("gender")),
            primary_store=contact_way.store if contact_way else associate.store,
            primary_associate=associate,
        ),
    ).customer
    avatar = _avatar_url(person)
    # One ID fills only blank fields; the avatar follows WeCom, the customer may change it any day.
    if avatar and customer.avatar_url != avatar:
        Customer.objects.filter(pk=customer.pk).exclude(avatar_url=avatar).update(
            avatar_url=avatar, updated_at=timezone.now()
        )
        customer.avatar_url = avatar
    contact_type = person.get("type")
    created_ts = int(follow_user.get("createtime") or 0)
    follow, _ = FollowRelation.objects.update_or_create(
        associate=associate,
        external_userid=external_userid,
        defaults={
            "customer": customer,
            "add_way": follow_user.get("add_way"),
            "contact_type": contact_type if contact_type in FollowRelation.ContactType.values else None,
            "state": state[:30],
            "contact_way": contact_way,
            "remark": (follow_user.get("remark") or "")[:100],
            "followed_at": datetime.fromtimestamp(created_ts, UTC) if created_ts else timezone.now(),
            "ended_at": None,
            "ended_reason": "",
        },
    )
    return follow


def follow_fetch(*, associate: Associate, external_userid: str) -> FollowRelation | None:
    """Ask WeCom about a contact we have no record of and, if they are `associate`'s, record them.

    For a chat opened before the add_external_contact callback was processed, or with a contact added
    before Omni was installed and not yet synced. None when WeCom says the contact is not this
    associate's (or no contact at all); ApplicationError `wecom_unavailable` (503) when WeCom cannot
    say, and then nothing is written. Idempotent, and a callback recording the same contact at the same
    moment is safe: follow_record is.
    """
    if not external_userid or len(external_userid) > FollowRelation._meta.get_field("external_userid").max_length:
        return None
    try:
        contact, follow_user = contact_get(
            wecom_client(), external_userid=external_userid, userid=associate.wecom_userid
        )
    except WeComError as exc:
        if exc.errcode in _NOT_A_CONTACT:
            return None
        logger.warning("WeCom could not look up contact %s for %s: %s", external_userid, associate, exc)
        raise ApplicationError("wecom_unavailable", "暂时连不上企业微信，请稍后再试。", status_code=503) from exc
    person = contact.get("external_contact") or {}
    if not follow_user or person.get("external_userid") != external_userid:
        return None
    return follow_record(associate=associate, person=person, follow_user=follow_user)


def welcome_text(*, associate: Associate) -> str:
    template = associate.store.welcome_text or DEFAULT_WELCOME
    return template.replace("{store}", associate.store.name).replace("{associate}", associate.name)


def _code_welcome_text(follow: FollowRelation) -> str:
    """The welcome text of the code the customer came through, when it has its own."""
    code = follow.contact_way
    if code is None:
        return ""
    template = (code.parent.welcome_text if code.parent_id and not code.welcome_text else code.welcome_text) or ""
    store, associate = follow.associate.store, follow.associate
    return template.replace("{store}", store.name).replace("{associate}", associate.name).strip()


# What else goes with the welcome message: functions of the new friendship answering WeCom attachments, registered
# by the apps that offer them (coupons: the store's welcome pack). WeCom takes at most 9 in one welcome message.
WelcomeAttachments = Callable[[FollowRelation], list[dict]]
_welcome_attachments: list[WelcomeAttachments] = []


def welcome_attachments(provider: WelcomeAttachments) -> WelcomeAttachments:
    """Register `provider` (from an app's `AppConfig.ready()`): its attachments join every welcome message."""
    if provider not in _welcome_attachments:
        _welcome_attachments.append(provider)
    return provider


def _welcome_attachments_for(follow: FollowRelation) -> list[dict]:
    attachments = [item for provider in _welcome_attachments for item in provider(follow)]
    return attachments[: C.MSG_TEMPLATE_MAX_ATTACHMENTS]


def welcome_message_send(*, follow_id: int, welcome_code: str, received: int) -> str:
    """Send the welcome message once, within WeCom's 20 seconds; returns the final welcome status.

    41051 (already sent) and an expired window are final, never retried; a transient error
    propagates so the task retries while the window is still open.
    """
    follow = FollowRelation.objects.select_related("associate__store", "contact_way__parent").get(pk=follow_id)
    if follow.welcome != FollowRelation.Welcome.PENDING:
        return follow.welcome
    if timezone.now().timestamp() - received > C.WELCOME_CODE_TTL_SECONDS:
        status = FollowRelation.Welcome.EXPIRED
    else:
        try:
            wecom_client().send_welcome_msg(
                welcome_code=welcome_code,
                text={"content": _code_welcome_text(follow) or welcome_text(associate=follow.associate)},
                attachments=_welcome_attachments_for(follow),
            )
            status = FollowRelation.Welcome.SENT
        except WeComError as exc:
            if exc.errcode == C.ERR_WELCOME_ALREADY_SENT:
                status = FollowRelation.Welcome.ALREADY_SENT
            elif exc.transient or exc.errcode == C.ERR_WELCOME_RETRY_ALLOWED:
                raise
            else:
                logger.warning("Welcome message for follow %s failed: %s", follow_id, exc)
                status = FollowRelation.Welcome.FAILED
    FollowRelation.objects.filter(pk=follow_id, welcome=FollowRelation.Welcome.PENDING).update(welcome=status)
    return status


def follow_up_task_create(*, associate: Associate, customer, title: str, due_on, action: str = "") -> FollowUpTask:
    title = title.strip()
    if not title:
        raise ApplicationError("empty_task", "任务内容不能为空。")
    return FollowUpTask.objects.create(
        associate=associate, customer=customer, title=title[:200], due_on=due_on, action=action
    )


def customer_tag_add(*, customer: Customer, associate: Associate, name: str, group: str = "") -> CustomerTag:
    """Tag a customer here; the same tag is written to WeCom (mark_tag) when it is a WeCom corp tag and the
    associate is the customer's friend, because WeCom sends no callback for changes made through its API."""
    name = name.strip()
    if not name or len(name) > Tag._meta.get_field("name").max_length:
        raise ApplicationError("invalid_tag", "标签名需为 1 到 50 个字。")
    tag, _ = Tag.objects.get_or_create(group=group, name=name)
    customer_tag, created = CustomerTag.objects.get_or_create(
        customer=customer, tag=tag, defaults={"added_by": associate}
    )
    if created and tag.wecom_tag_id:
        follow = FollowRelation.objects.filter(associate=associate, customer=customer, ended_at__isnull=True).first()
        if follow is not None:
            wecom_client().external_contact.mark_tag(
                userid=associate.wecom_userid, external_userid=follow.external_userid, add_tag=[tag.wecom_tag_id]
            )
    return customer_tag
