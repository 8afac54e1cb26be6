"""Client-book handover (在职继承 / 离职继承): a manager moves an associate's customers to another associate.

WeCom does the move (transfer_customer, ≤100 customers a call); a customer may refuse, or the takeover may be full,
which WeCom reports by a `transfer_fail` callback and by transfer_result. Omni follows WeCom: when WeCom says a
customer was taken over, their primary associate and open follow-up tasks move. Notes stay with the customer;
attributions and coupons' senders are history and are never rewritten. A deactivated associate's open tasks move at
once, since nobody will do them in the meantime.
"""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from associates.models import Associate
from clientbook.models import FollowRelation, FollowUpTask, Handover, HandoverItem
from customers.models import Customer
from omni.errors import ApplicationError
from wecom.client import WeComError, wecom_client
from wecom.events import handles

logger = logging.getLogger(__name__)

TRANSFER_BATCH = 100
# transfer_result statuses (Doc 92125): 1 taken over, 2 waiting, 3 customer refused, 4 takeover at its limit.
RESULT_DONE, RESULT_WAITING, RESULT_REFUSED, RESULT_LIMIT = 1, 2, 3, 4
_RESULT_REASON = {RESULT_REFUSED: "customer_refused", RESULT_LIMIT: "customer_limit_exceed"}


def _check_scope(associates: Iterable[Associate], store_ids: frozenset[int] | None) -> None:
    if store_ids is not None and any(a.store_id not in store_ids for a in associates):
        raise ApplicationError("associate_out_of_scope", "只能交接本人管理门店的导购。", status_code=404)


def handover_candidates(*, associate: Associate, customer_ids: list[int] | None = None):
    """The associate's current WeCom customers (optionally only these customers)."""
    follows = FollowRelation.objects.filter(associate=associate, ended_at__isnull=True)
    if customer_ids is not None:
        follows = follows.filter(customer_id__in=customer_ids)
    return follows.order_by("pk")


def handover_start(
    *,
    from_associate: Associate,
    to_associate: Associate,
    customer_ids: list[int] | None = None,
    message: str = "",
    user=None,
    store_ids: frozenset[int] | None = None,
) -> Handover:
    """Ask WeCom to move the customers (all of the associate's, or those listed) and record each one's answer."""
    _check_scope([from_associate, to_associate], store_ids)
    if from_associate.pk == to_associate.pk:
        raise ApplicationError("same_associate", "原导购和接替导购不能是同一人。")
    if not to_associate.is_active:
        raise ApplicationError("takeover_inactive", "接替导购已离职。")
    if len(message) > 200:
        raise ApplicationError("message_too_long", "转接提示语最多 200 字。")
    follows = list(handover_candidates(associate=from_associate, customer_ids=customer_ids))
    if not follows:
        raise ApplicationError("no_customers", "没有可交接的客户。")
    kind = Handover.Kind.ONJOB if from_associate.is_active else Handover.Kind.RESIGNED
    with transaction.atomic():
        handover = Handover.objects.create(
            from_associate=from_associate, to_associate=to_associate, kind=kind, message=message, created_by=user
        )
        items = HandoverItem.objects.bulk_create(
            [
                HandoverItem(handover=handover, customer_id=f.customer_id, external_userid=f.external_userid)
                for f in follows
            ]
        )
        if kind == Handover.Kind.RESIGNED:
            _tasks_move(handover, [item.customer_id for item in items])
    _transfer(handover, items)
    return handover


def handover_retry(*, item_ids: list[int], store_ids: frozenset[int] | None = None) -> int:
    """Ask WeCom again for failed customers (e.g. after the takeover freed room); returns how many were asked."""
    items = list(
        HandoverItem.objects.filter(pk__in=item_ids, status=HandoverItem.Status.FAILED).select_related(
            "handover__from_associate", "handover__to_associate"
        )
    )
    by_handover: dict[int, list[HandoverItem]] = {}
    for item in items:
        _check_scope([item.handover.from_associate], store_ids)
        by_handover.setdefault(item.handover_id, []).append(item)
    asked = 0
    for group in by_handover.values():
        # Claim each row first: two managers pressing retry at once ask WeCom once.
        claimed = [
            item
            for item in group
            if HandoverItem.objects.filter(pk=item.pk, status=HandoverItem.Status.FAILED).update(
                status=HandoverItem.Status.WAITING,
                errcode=0,
                fail_reason="",
                attempts=F("attempts") + 1,
                updated_at=timezone.now(),
            )
        ]
        if claimed:
            _transfer(claimed[0].handover, claimed)
            asked += len(claimed)
    return asked


def _transfer(handover: Handover, items: list[HandoverItem]) -> None:
    client = wecom_client()
    resigned = handover.kind == Handover.Kind.RESIGNED
    for start in range(0, len(items), TRANSFER_BATCH):
        batch = items[start : start + TRANSFER_BATCH]
        try:
            answer = client.transfer_customer(
                resigned=resigned,
                handover_userid=handover.from_associate.wecom_userid,
                takeover_userid=handover.to_associate.wecom_userid,
                external_userid=[item.external_userid for item in batch],
                msg=handover.message,
            )
        except WeComError as exc:
            logger.warning("transfer_customer failed for handover %s: %s", handover.pk, exc)
            HandoverItem.objects.filter(pk__in=[i.pk for i in batch], status=HandoverItem.Status.WAITING).update(
                status=HandoverItem.Status.FAILED, errcode=exc.errcode or -1, updated_at=timezone.now()
            )
            continue
        errcodes = {row["external_userid"]: int(row.get("errcode") or 0) for row in answer.get("customer", [])}
        for item in batch:
            code = errcodes.get(item.external_userid, 0)
            if code:
                HandoverItem.objects.filter(pk=item.pk, status=HandoverItem.Status.WAITING).update(
                    status=HandoverItem.Status.FAILED, errcode=code, updated_at=timezone.now()
                )


def handover_sync(*, handover: Handover) -> dict[str, int]:
    """Read WeCom's transfer_result and settle waiting customers: taken over, refused or full."""
    client = wecom_client()
    results: dict[str, dict] = {}
    cursor = ""
    while True:
        page = client.transfer_result(
            resigned=handover.kind == Handover.Kind.RESIGNED,
            handover_userid=handover.from_associate.wecom_userid,
            takeover_userid=handover.to_associate.wecom_userid,
            cursor=cursor,
        )
        for row in page.get("customer", []):
            results[row["external_userid"]] = row
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    counts = {"succeeded": 0, "failed": 0, "waiting": 0}
    for item in handover.items.filter(status=HandoverItem.Status.WAITING):
        row = results.get(item.external_userid)
        status = int(row["status"]) if row else RESULT_WAITING
        if status == RESULT_DONE:
            at = datetime.fromtimestamp(int(row.get("takeover_time") or 0), UTC) if row.get("takeover_time") else None
            handover_item_succeeded(item=item, at=at or timezone.now())
            counts["succeeded"] += 1
        elif status in _RESULT_REASON:
            handover_item_failed(item=item, reason=_RESULT_REASON[status])
            counts["failed"] += 1
        else:
            counts["waiting"] += 1
    return counts


def handovers_sync_open() -> int:
    """Sync every handover that still has customers waiting (beat)."""
    handovers = (
        Handover.objects.filter(items__status=HandoverItem.Status.WAITING)
        .distinct()
        .select_related("from_associate", "to_associate")
    )
    done = 0
    for handover in handovers:
        handover_sync(handover=handover)
        done += 1
    return done


def handover_item_succeeded(*, item: HandoverItem, at: datetime) -> bool:
    """WeCom moved the customer: move the friendship, the primary associate and open tasks (once)."""
    handover = Handover.objects.select_related("from_associate", "to_associate").get(pk=item.handover_id)
    with transaction.atomic():
        if not HandoverItem.objects.filter(pk=item.pk, status=HandoverItem.Status.WAITING).update(
            status=HandoverItem.Status.SUCCEEDED, finished_at=at, updated_at=timezone.now()
        ):
            return False
        old, new = handover.from_associate, handover.to_associate
        FollowRelation.objects.filter(
            associate=old, external_userid=item.external_userid, ended_at__isnull=True
        ).update(ended_at=at, ended_reason=FollowRelation.Ended.TRANSFERRED)
        # WeCom's add_external_contact callback records the takeover's friendship too; whichever comes first wins.
        FollowRelation.objects.get_or_create(
            associate=new,
            external_userid=item.external_userid,
            defaults={"customer_id": item.customer_id, "followed_at": at, "add_way": 202},
        )
        Customer.objects.filter(pk=item.customer_id).filter(
            Q(primary_associate=old) | Q(primary_associate__isnull=True)
        ).update(primary_associate=new, primary_store=new.store_id, updated_at=timezone.now())
        if handover.kind == Handover.Kind.ONJOB:
            _tasks_move(handover, [item.customer_id])
    return True


def handover_item_failed(*, item: HandoverItem, reason: str) -> bool:
    return bool(
        HandoverItem.objects.filter(pk=item.pk, status=HandoverItem.Status.WAITING).update(
            status=HandoverItem.Status.FAILED, fail_reason=reason[:40], updated_at=timezone.now()
        )
    )


def _tasks_move(handover: Handover, customer_ids: list[int]) -> int:
    """Open tasks for these customers go to the takeover; one the takeover already has for that occasion stays."""
    open_tasks = FollowUpTask.objects.filter(
        associate_id=handover.from_associate_id, customer_id__in=customer_ids, done_at__isnull=True
    )
    taken = FollowUpTask.objects.filter(
        associate_id=handover.to_associate_id, customer_id__in=customer_ids, occasion__gt=""
    ).values_list("customer_id", "occasion")
    clashes = set(taken)
    movable = [t.pk for t in open_tasks if (t.customer_id, t.occasion) not in clashes]
    return FollowUpTask.objects.filter(pk__in=movable).update(associate_id=handover.to_associate_id)


@handles("change_external_contact", "transfer_fail")
def transfer_failed(payload: dict) -> None:
    """WeCom could not move a customer (they refused, or the takeover is full): show it, so it can be retried."""
    item = (
        HandoverItem.objects.filter(
            handover__to_associate__wecom_userid=payload.get("UserID"),
            external_userid=payload.get("ExternalUserID"),
            status=HandoverItem.Status.WAITING,
        )
        .order_by("-pk")
        .first()
    )
    if item is None:
        logger.info("transfer_fail for %s with no waiting handover", payload.get("ExternalUserID"))
        return
    handover_item_failed(item=item, reason=str(payload.get("FailReason") or "unknown"))
