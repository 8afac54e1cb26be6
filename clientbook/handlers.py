"""The client book's WeCom callbacks (change_external_contact), registered with `wecom.events` when the app is ready.

Each is idempotent, so a re-delivered or re-processed event leaves the same state; a new friendship queues its welcome
message (real-time queue) after commit.
"""

import logging
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from associates.models import Associate
from clientbook.codes import code_follow_added
from clientbook.models import FollowRelation
from clientbook.notifying import notify_follow_added, notify_follow_deleted, notify_follow_lost_to_managers
from clientbook.services import contact_get, follow_record, follow_user_of
from clientbook.tasks import welcome_message_send_task
from wecom.client import WeComError, wecom_client
from wecom.events import EventNotApplicable, handles

logger = logging.getLogger(__name__)


@handles("change_external_contact", "add_external_contact")
def follow_added(payload: dict) -> None:
    """A customer added an associate: link the One ID customer, record the friendship, send the welcome."""
    associate = Associate.objects.select_related("store").filter(wecom_userid=payload.get("UserID")).first()
    if associate is None:
        raise EventNotApplicable(f"add_external_contact for unknown member {payload.get('UserID')!r}")
    contact, follow_user = contact_get(
        wecom_client(), external_userid=payload["ExternalUserID"], userid=associate.wecom_userid
    )
    follow_user.setdefault("createtime", payload.get("CreateTime"))
    follow = follow_record(
        associate=associate,
        person=contact.get("external_contact", {"external_userid": payload["ExternalUserID"]}),
        follow_user=follow_user,
        state=payload.get("State", ""),
    )
    notify_follow_added(follow=follow)
    if follow.contact_way_id:
        # The code's tags and routing; a WeCom refusal leaves the friendship and its welcome as they are.
        try:
            code_follow_added(follow=follow)
        except WeComError as exc:
            if exc.transient:
                raise
            logger.warning("Code tags for follow %s not written to WeCom: %s", follow.pk, exc)
    # Every add (a re-add too) comes with a fresh WelcomeCode; a re-delivered event never gets here twice
    # (callback events are stored and processed once).
    welcome_code = payload.get("WelcomeCode")
    if welcome_code:
        FollowRelation.objects.filter(pk=follow.pk).update(welcome=FollowRelation.Welcome.PENDING)
        received = int(payload.get("CreateTime") or timezone.now().timestamp())
        transaction.on_commit(
            lambda: welcome_message_send_task.delay(follow_id=follow.pk, welcome_code=welcome_code, received=received)
        )


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
    remark = follow_user_of(contact, payload["UserID"]).get("remark", "")
    FollowRelation.objects.filter(pk=follow.pk).update(remark=remark[:100])


def _follow_end(payload: dict, reason: str) -> None:
    FollowRelation.objects.filter(
        associate__wecom_userid=payload.get("UserID"),
        external_userid=payload.get("ExternalUserID"),
        ended_at__isnull=True,
    ).update(ended_at=datetime.fromtimestamp(int(payload.get("CreateTime") or 0), UTC), ended_reason=reason)


def _ended(payload: dict, reason: str) -> FollowRelation | None:
    return (
        FollowRelation.objects.select_related("associate", "customer")
        .filter(
            associate__wecom_userid=payload.get("UserID"),
            external_userid=payload.get("ExternalUserID"),
            ended_reason=reason,
        )
        .order_by("-ended_at")
        .first()
    )


@handles("change_external_contact", "del_external_contact")
def follow_deleted_by_associate(payload: dict) -> None:
    transferred = payload.get("Source") == "DELETE_BY_TRANSFER"
    _follow_end(payload, FollowRelation.Ended.TRANSFERRED if transferred else FollowRelation.Ended.ASSOCIATE)
    if transferred:
        return
    follow = _ended(payload, FollowRelation.Ended.ASSOCIATE)
    if follow is not None:
        notify_follow_lost_to_managers(follow=follow)


@handles("change_external_contact", "del_follow_user")
def follow_deleted_by_customer(payload: dict) -> None:
    _follow_end(payload, FollowRelation.Ended.CUSTOMER)
    follow = _ended(payload, FollowRelation.Ended.CUSTOMER)
    if follow is not None:
        notify_follow_deleted(follow=follow)
        notify_follow_lost_to_managers(follow=follow)
