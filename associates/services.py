"""Associates and their customers in WeCom: friendships, contact-me QR codes, welcome messages.

The WeCom callback handlers live here (registered with omni.wecom.events); each is idempotent, so a
re-delivered or re-processed event leaves the same state.
"""

import logging
import secrets
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from associates.models import Associate, ContactWay, FollowRelation, FollowUpTask, Store
from customers.models import Customer, Identity
from customers.services import Profile, customer_resolve
from omni.errors import ApplicationError
from omni.wecom import constants as C
from omni.wecom.client import WeComClient, WeComError, wecom_client
from omni.wecom.events import EventNotApplicable, handles

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


def _follow_user(contact: dict, userid: str) -> dict:
    return next((item for item in contact.get("follow_user", []) if item.get("userid") == userid), {})


def _contact_get(client: WeComClient, *, external_userid: str, userid: str) -> tuple[dict, dict]:
    """externalcontact/get, and `userid`'s follow_user entry ({} if none): WeCom pages follow_user by 500."""
    contact = client.external_contact.get(external_userid)
    follow_user = _follow_user(contact, userid)
    while not follow_user and contact.get("next_cursor"):
        contact = client.get(
            "externalcontact/get", params={"external_userid": external_userid, "cursor": contact["next_cursor"]}
        )
        follow_user = _follow_user(contact, userid)
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


@handles("change_external_contact", "add_external_contact")
def follow_added(payload: dict) -> None:
    """A customer added an associate: link the One ID customer, record the friendship, send the welcome."""
    associate = Associate.objects.select_related("store").filter(wecom_userid=payload.get("UserID")).first()
    if associate is None:
        raise EventNotApplicable(f"add_external_contact for unknown member {payload.get('UserID')!r}")
    contact, follow_user = _contact_get(
        wecom_client(), external_userid=payload["ExternalUserID"], userid=associate.wecom_userid
    )
    follow_user.setdefault("createtime", payload.get("CreateTime"))
    follow = follow_record(
        associate=associate,
        person=contact.get("external_contact", {"external_userid": payload["ExternalUserID"]}),
        follow_user=follow_user,
        state=payload.get("State", ""),
    )
    # Every add (a re-add too) comes with a fresh WelcomeCode; a re-delivered event never gets here twice
    # (callback events are stored and processed once).
    welcome_code = payload.get("WelcomeCode")
    if welcome_code:
        FollowRelation.objects.filter(pk=follow.pk).update(welcome=FollowRelation.Welcome.PENDING)
        received = int(payload.get("CreateTime") or timezone.now().timestamp())
        # Imported here: the task module imports this one.
        from associates.tasks import welcome_message_send_task

        transaction.on_commit(
            lambda: welcome_message_send_task.delay(follow_id=follow.pk, welcome_code=welcome_code, received=received)
        )


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
        contact, follow_user = _contact_get(
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


@handles("change_external_contact", "edit_external_contact")
def follow_edited(payload: dict) -> None:
    follow = FollowRelation.objects.filter(
        associate__wecom_userid=payload.get("UserID"), external_userid=payload.get("ExternalUserID")
    ).first()
    if follow is None:
        # Edited before we saw the add (callbacks can arrive out of order): treat it as the add.
        follow_added(payload)
        return
    contact = wecom_client().external_contact.get(follow.external_userid)
    remark = _follow_user(contact, payload["UserID"]).get("remark", "")
    FollowRelation.objects.filter(pk=follow.pk).update(remark=remark[:100])


def _follow_end(payload: dict, reason: str) -> None:
    FollowRelation.objects.filter(
        associate__wecom_userid=payload.get("UserID"),
        external_userid=payload.get("ExternalUserID"),
        ended_at__isnull=True,
    ).update(ended_at=datetime.fromtimestamp(int(payload.get("CreateTime") or 0), UTC), ended_reason=reason)


@handles("change_external_contact", "del_external_contact")
def follow_deleted_by_associate(payload: dict) -> None:
    transferred = payload.get("Source") == "DELETE_BY_TRANSFER"
    _follow_end(payload, FollowRelation.Ended.TRANSFERRED if transferred else FollowRelation.Ended.ASSOCIATE)


@handles("change_external_contact", "del_follow_user")
def follow_deleted_by_customer(payload: dict) -> None:
    _follow_end(payload, FollowRelation.Ended.CUSTOMER)


def welcome_text(*, associate: Associate) -> str:
    template = associate.store.welcome_text or DEFAULT_WELCOME
    return template.replace("{store}", associate.store.name).replace("{associate}", associate.name)


def _welcome_coupons(follow: FollowRelation) -> list[dict]:
    """The store's welcome coupon pack, issued now, as a link attachment to the customer's coupon page."""
    from coupons.links import coupon_card_image_url, coupon_page_url
    from coupons.sending import coupon_welcome_pack_send

    sent = coupon_welcome_pack_send(follow_id=follow.pk)
    if sent is None:
        return []
    customer_id = sent.request.customer_id
    return [
        {
            "msgtype": "link",
            "link": {
                "title": f"送您一份新客礼：{sent.request.pack.name}",
                "picurl": coupon_card_image_url(),
                "desc": sent.request.pack.description or f"{len(sent.coupons)} 张优惠券已放入您的券包，点开查看。",
                "url": coupon_page_url(customer_id=customer_id),
            },
        }
    ]


def welcome_message_send(*, follow_id: int, welcome_code: str, received: int) -> str:
    """Send the welcome message once, within WeCom's 20 seconds; returns the final welcome status.

    41051 (already sent) and an expired window are final, never retried; a transient error
    propagates so the task retries while the window is still open.
    """
    follow = FollowRelation.objects.select_related("associate__store").get(pk=follow_id)
    if follow.welcome != FollowRelation.Welcome.PENDING:
        return follow.welcome
    if timezone.now().timestamp() - received > C.WELCOME_CODE_TTL_SECONDS:
        status = FollowRelation.Welcome.EXPIRED
    else:
        try:
            wecom_client().send_welcome_msg(
                welcome_code=welcome_code,
                text={"content": welcome_text(associate=follow.associate)},
                attachments=_welcome_coupons(follow),
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


def follow_up_task_create(*, associate: Associate, customer, title: str, due_on) -> FollowUpTask:
    title = title.strip()
    if not title:
        raise ApplicationError("empty_task", "任务内容不能为空。")
    return FollowUpTask.objects.create(associate=associate, customer=customer, title=title[:200], due_on=due_on)


def follow_up_task_complete(*, associate: Associate, task_id: int) -> FollowUpTask:
    """Mark the associate's own task done; completing it again changes nothing."""
    task = FollowUpTask.objects.filter(pk=task_id, associate=associate).first()
    if task is None:
        raise ApplicationError("task_not_found", "没有这个任务。", status_code=404)
    FollowUpTask.objects.filter(pk=task.pk, done_at__isnull=True).update(done_at=timezone.now())
    task.refresh_from_db()
    return task
