"""Campaign writes: the approval state machine, resolving the audience into recipients and chunks, creating one
WeCom mass-message task per chunk, collecting results, reminding and cancelling.

Concurrency and retries (policy):
- Every status change is a compare-and-set UPDATE … WHERE status = <expected>; the loser does nothing.
- The audience is resolved once, set-based in SQL, in keyset ranges of customer ids: each range is one short
  transaction that writes its recipients (INSERT … SELECT, ON CONFLICT DO NOTHING on (campaign, customer)), grows
  the chunks and moves `resolved_through`; a worker killed in the middle leaves whole ranges behind and a rerun
  continues after them. `resolved_at` is stamped after the last range, and no chunk is sent before it. Ranges are
  resolved one at a time across campaigns (an advisory lock on PostgreSQL, the writer lock on SQLite), so two
  campaigns cannot both pass a customer's frequency cap.
- A chunk moves pending → creating → created(msgid) | failed(reason). A worker that dies inside the
  add_msg_template call leaves the chunk `creating`; after the lease, the next attempt first looks for the task
  in WeCom (get_groupmsg_list_v2 by creator and time, matching the chunk key written into the message's link)
  and only creates it if WeCom has none. So neither a retry nor a redelivered message creates a second task.
- Coupons are issued per chunk, just before its WeCom task, with `coupon_pack_send_many` and the request prefix
  "campaign:<id>": idempotent per customer.
"""

import calendar
import datetime as dt
import functools
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, Exists, F, Max, OuterRef, Q, Value, When
from django.utils import timezone

from associates.models import Associate, Store
from associates.selectors import user_store_ids
from campaigns import constants as K
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient, JourneyConfig
from campaigns.selectors import (
    campaign_audience,
    campaign_audience_count,
    campaign_audience_key,
    campaign_store_ids,
)
from clientbook.models import FollowRelation, FollowUpTask
from coupons.links import coupon_card_image_url
from coupons.sending_many import coupon_pack_send_many
from customers.budget import contact_budget_spent_ids, contact_budget_take_many
from customers.models import Customer, Order
from omni.errors import ApplicationError
from wecom.client import WeComError, wecom_client

logger = logging.getLogger(__name__)
S = Campaign.Status
CS = CampaignChunk.Status
RS = CampaignRecipient.Status
CORP_TZ = ZoneInfo("Asia/Shanghai")
# The statuses that mean "this customer got (or is getting) this campaign's message" for the caps.
_COUNTS_FOR_CAPS = [RS.QUEUED, RS.AWAITING, RS.SENT]


def _conflict(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status_code=409)


def _move(campaign_id: int, *, from_: list[str], to: str, **fields: Any) -> bool:
    return bool(Campaign.objects.filter(pk=campaign_id, status__in=from_).update(status=to, **fields))


# ---------------------------------------------------------------------------------------------------------------
# Content


def campaign_landing_url(*, campaign: Campaign, chunk_key: str = "") -> str:
    from django.urls import reverse

    url = settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("campaign-landing", kwargs={"token": campaign.landing_token})
    return f"{url}?k={chunk_key}" if chunk_key else url


def campaign_attachments(*, campaign: Campaign, chunk_key: str) -> list[dict]:
    """The add_msg_template attachments. The first is always the campaign's link card, carrying the chunk key:
    it is what reconciliation matches in WeCom's list of tasks."""
    title = campaign.coupon_pack.name if campaign.coupon_pack_id else campaign.name
    desc = (campaign.coupon_pack.description if campaign.coupon_pack_id else "") or "点击查看活动详情"
    attachments: list[dict] = [
        {
            "msgtype": "link",
            "link": {
                "title": title[:64],
                "picurl": coupon_card_image_url(),
                "desc": desc[:100],
                "url": campaign_landing_url(campaign=campaign, chunk_key=chunk_key),
            },
        }
    ]
    if campaign.product_id:
        product = campaign.product
        attachments.append(
            {
                "msgtype": "link",
                "link": {
                    "title": product.name[:64],
                    "picurl": product.image_url or coupon_card_image_url(),
                    "desc": f"¥{product.price}",
                    "url": settings.OMNI_PRODUCT_URL.format(sku=product.sku),
                },
            }
        )
    if campaign.image_url:
        attachments.append({"msgtype": "image", "image": {"pic_url": campaign.image_url}})
    if campaign.miniprogram_appid:
        attachments.append(
            {
                "msgtype": "miniprogram",
                "miniprogram": {
                    "title": campaign.miniprogram_title,
                    "pic_media_id": campaign.miniprogram_pic_media_id,
                    "appid": campaign.miniprogram_appid,
                    "page": campaign.miniprogram_page,
                },
            }
        )
    return attachments


def campaign_content_problems(*, campaign: Campaign) -> list[str]:
    """What stops a campaign from being submitted, in words a manager understands (empty = fine)."""
    problems = []
    if len(campaign.text.encode("utf-8")) > K.TEXT_MAX_BYTES:
        problems.append(f"群发文字超过 {K.TEXT_MAX_BYTES} 字节（企业微信限制）")
    if not campaign.text.strip() and not campaign.coupon_pack_id and not campaign.product_id:
        problems.append("请填写群发文字，或选择券包、商品")
    if len(campaign_attachments(campaign=campaign, chunk_key="x")) > K.ATTACHMENTS_MAX:
        problems.append(f"附件最多 {K.ATTACHMENTS_MAX} 个")
    if campaign.miniprogram_appid and not all(
        (campaign.miniprogram_title, campaign.miniprogram_page, campaign.miniprogram_pic_media_id)
    ):
        problems.append("小程序卡片需要标题、页面和封面 media_id")
    if bool(campaign.community_id) != bool(campaign.community_membership):
        problems.append("按社群筛选时，请同时选择社群和“在 / 不在社群中”")
    if campaign.send_at is None:
        problems.append("请设置发送时间")
    if campaign.pk and not campaign.stores.exists():
        problems.append("请选择门店")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# The state machine: draft → submitted → approved → scheduled → sending → done / cancelled


def _manages_all_stores(*, user, campaign: Campaign, store_ids: frozenset[int] | EllipsisType | None) -> bool:
    """Whether `user` manages every store of the campaign. `store_ids`: the user's stores as the caller read them
    (admin: once per request, for a whole action), `...` to read them here."""
    if store_ids is ...:
        store_ids = user_store_ids(user=user)
    if store_ids is None:
        return True
    return not campaign.stores.exclude(pk__in=store_ids).exists()


def campaign_save(*, campaign: Campaign, user) -> Campaign:
    """Save a campaign as a manager writes it; a new one records `user` as its creator, who may then submit it but
    never approve it (`campaign_approve`)."""
    if campaign.pk is None:
        campaign.created_by = user
    campaign.save()
    return campaign


def campaign_audience_count_store(*, campaign_id: int) -> int:
    """Count the campaign's audience exactly (on the replica when there is one) and store the figure with the
    fingerprint of the filters it counted; the admin preview shows it while the filters stay the same."""
    campaign = Campaign.objects.get(pk=campaign_id)
    key = campaign_audience_key(campaign=campaign)
    count = campaign_audience_count(campaign=campaign)
    Campaign.objects.filter(pk=campaign_id).update(
        audience_count=count, audience_count_key=key, audience_counted_at=timezone.now()
    )
    return count


COUNT_QUEUED_SECONDS = 600


def campaign_audience_count_queue(*, campaign: Campaign, send_later: Callable[[int], None]) -> bool:
    """Queue the exact count of the campaign's current filters once (`send_later(campaign_id)`, after the
    transaction commits): a page shown again while it runs queues nothing new. Returns whether it queued."""
    key = campaign_audience_key(campaign=campaign)
    if campaign.audience_count is not None and campaign.audience_count_key == key:
        return False
    if not cache.add(f"campaign-audience-count:{campaign.pk}:{key}", 1, COUNT_QUEUED_SECONDS):
        return False
    transaction.on_commit(functools.partial(send_later, campaign.pk))
    return True


def campaign_submit(*, campaign_id: int, user, store_ids: frozenset[int] | EllipsisType | None = ...) -> Campaign:
    """Draft → submitted, with the audience size as the manager saw it."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if not _manages_all_stores(user=user, campaign=campaign, store_ids=store_ids):
        raise ApplicationError("not_your_stores", "只能提交自己门店的活动。", status_code=403)
    problems = campaign_content_problems(campaign=campaign)
    if problems:
        raise ApplicationError("campaign_invalid", "；".join(problems))
    fresh = campaign.audience_count is not None and campaign.audience_count_key == campaign_audience_key(
        campaign=campaign
    )
    size = campaign.audience_count if fresh else campaign_audience_count(campaign=campaign)
    if not _move(campaign_id, from_=[S.DRAFT], to=S.SUBMITTED, submitted_at=timezone.now(), audience_size=size):
        raise _conflict("not_draft", "只有草稿可以提交审批。")
    return Campaign.objects.get(pk=campaign_id)


def campaign_approve(*, campaign_id: int, user, store_ids: frozenset[int] | EllipsisType | None = ...) -> Campaign:
    """Submitted → approved by a manager of every store of the audience who did not create it."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.created_by_id == user.pk:
        raise ApplicationError("own_campaign", "不能审批自己创建的活动。", status_code=403)
    if not _manages_all_stores(user=user, campaign=campaign, store_ids=store_ids):
        raise ApplicationError("not_your_stores", "只能审批自己门店的活动。", status_code=403)
    if not _move(campaign_id, from_=[S.SUBMITTED], to=S.APPROVED, approved_by=user, approved_at=timezone.now()):
        raise _conflict("not_submitted", "只有待审批的活动可以审批。")
    return Campaign.objects.get(pk=campaign_id)


def campaign_reject(*, campaign_id: int, user, store_ids: frozenset[int] | EllipsisType | None = ...) -> Campaign:
    """Submitted → back to draft, to be edited and submitted again."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if not _manages_all_stores(user=user, campaign=campaign, store_ids=store_ids):
        raise ApplicationError("not_your_stores", "只能处理自己门店的活动。", status_code=403)
    if not _move(campaign_id, from_=[S.SUBMITTED], to=S.DRAFT, submitted_at=None):
        raise _conflict("not_submitted", "只有待审批的活动可以退回。")
    return Campaign.objects.get(pk=campaign_id)


def campaigns_due(*, now: dt.datetime | None = None) -> list[int]:
    """Approved campaigns whose time has come, moved to scheduled (each id returned once, to one caller)."""
    now = now or timezone.now()
    due = list(Campaign.objects.filter(status=S.APPROVED, send_at__lte=now).values_list("pk", flat=True))
    return [pk for pk in due if _move(pk, from_=[S.APPROVED], to=S.SCHEDULED)]


def campaigns_to_resume(*, now: dt.datetime | None = None) -> list[int]:
    """Campaigns that may have lost their worker: scheduled or sending with a chunk not settled for a lease."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=K.chunk_lease_seconds())
    return list(
        Campaign.objects.filter(
            Q(status=S.SCHEDULED)
            | Q(status=S.SENDING, resolved_at__isnull=True)
            | Q(
                status=S.SENDING,
                resolved_at__lte=stale,
                chunks__status__in=[CS.PENDING, CS.CREATING],
            )
        )
        .exclude(status=S.SCHEDULED, send_at__gt=now)
        .distinct()
        .values_list("pk", flat=True)
    )


# ---------------------------------------------------------------------------------------------------------------
# Resolving the audience


def _month_start(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(CORP_TZ)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _serialize_resolution() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(b"campaigns.resolve")])


def _at_least(receipts, n: int):
    """At least `n` rows in `receipts`: an EXISTS that stops at the n-th (OFFSET n-1 LIMIT 1)."""
    return Value(True) if n <= 0 else Exists(receipts.order_by()[n - 1 : n])


def _stage_query(*, campaign: Campaign, now: dt.datetime, low: int, high: int) -> tuple[str, list]:
    """The SELECT of one id range of the audience: (customer id, why refused or '', which cap it is over or '').

    The follower is chosen beside it (`_FOLLOW_CHOSEN`). A skipped customer's reason is the first of:
    opted out, no consent (`refused`), no follower (`_resolve_range`), Omni's frequency cap (other campaigns in the
    last D days), WeCom's monthly cap (`capped`), then the customer's weekly contact budget, taken after staging
    (`customers.budget.contact_budget_take_many`)."""
    per, days = K.frequency_cap()
    local = now.astimezone(CORP_TZ)
    month_cap = K.monthly_cap() or calendar.monthrange(local.year, local.month)[1]
    receipts = CampaignRecipient.objects.filter(customer=OuterRef("pk"), status__in=_COUNTS_FOR_CAPS).exclude(
        campaign_id=campaign.pk
    )
    Skip = CampaignRecipient.Skip
    stage = (
        campaign_audience(campaign=campaign, now=now)
        .filter(pk__gte=low, pk__lte=high)
        .annotate(
            refused=Case(
                When(opted_out=True, then=Value(Skip.OPTED_OUT.value)),
                When(marketing_consent=False, then=Value(Skip.NO_CONSENT.value)),
                default=Value(""),
                output_field=CharField(),
            ),
            capped=Case(
                When(
                    _at_least(receipts.filter(created_at__gte=now - dt.timedelta(days=days)), per),
                    then=Value(Skip.FREQUENCY_CAP.value),
                ),
                When(
                    _at_least(receipts.filter(created_at__gte=_month_start(now)), month_cap),
                    then=Value(Skip.MONTHLY_CAP.value),
                ),
                default=Value(""),
                output_field=CharField(),
            ),
        )
        .values("refused", "capped", customer_id=F("pk"))
    )
    return stage.query.sql_with_params()


_STAGE = "campaign_resolve_stage"

# The follower who sends to each customer of a range: the primary associate when they follow the customer, else a
# follower in the customer's store, else any active follower, the earliest friendship first. One pass over the range's
# friendships ranked by a window function, rather than three probes per customer.
_FOLLOW_CHOSEN = (
    "SELECT f.id, f.customer_id, f.associate_id, f.external_userid, ROW_NUMBER() OVER (PARTITION BY f.customer_id "
    "ORDER BY CASE WHEN f.associate_id = c.primary_associate_id THEN 0 WHEN a.store_id = c.primary_store_id THEN 1 "
    "ELSE 2 END, f.followed_at, f.id) AS choice "
    "FROM {follows} f JOIN {associates} a ON a.id = f.associate_id JOIN {customers} c ON c.id = f.customer_id "
    "WHERE f.customer_id BETWEEN %s AND %s AND f.ended_at IS NULL AND a.is_active"
)


def _resolve_range(*, campaign: Campaign, now: dt.datetime, low: int, high: int) -> None:
    """Resolve the audience's customers with ids in [low, high] into recipients and chunks, set-based, inside the
    caller's transaction. No row per customer passes through Python: the range is staged in a temporary table,
    only per-associate counts come back to extend the associate's chunks, and INSERT … SELECT writes the rows.

    A recipient's chunk is its position among its associate's queued recipients in customer id order, divided by
    the chunk size. Ranges are resolved in id order, so that position is the associate's chunks' total size before
    this range plus its rank inside the range; the chunks are extended first, so their total now counts this range
    too and the rank is subtracted back from it."""
    sql, params = _stage_query(campaign=campaign, now=now, low=low, high=high)
    recipients = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    chunks = connection.ops.quote_name(CampaignChunk._meta.db_table)
    quote = connection.ops.quote_name
    chosen = _FOLLOW_CHOSEN.format(
        follows=quote(FollowRelation._meta.db_table),
        associates=quote(Associate._meta.db_table),
        customers=quote(Customer._meta.db_table),
    )
    temporary = "CREATE TEMPORARY TABLE" + (" {} ON COMMIT DROP AS" if connection.vendor == "postgresql" else " {} AS")
    size = K.chunk_size()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner prices a range's per-customer subqueries high enough to JIT-compile them, which costs more
            # (over a second per range) than the statements take to run.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        cursor.execute(
            temporary.format(_STAGE) + " SELECT s.customer_id, f.associate_id, f.external_userid, "
            "CASE WHEN s.refused <> '' THEN s.refused WHEN f.id IS NULL THEN %s ELSE s.capped END AS reason "
            f"FROM ({sql}) s LEFT JOIN ({chosen}) f ON f.customer_id = s.customer_id AND f.choice = 1",
            [CampaignRecipient.Skip.NO_FOLLOWER.value, *params, low, high],
        )
        # The customer's contact budget last, after every other reason: only a customer who really gets the message
        # takes a unit of their week (shared with the sidebar's 1:1 sends).
        contact_budget_take_many(
            stage=_STAGE, reason_column="reason", skip_reason=CampaignRecipient.Skip.CONTACT_BUDGET.value, now=now
        )
        cursor.execute(f"SELECT associate_id, COUNT(*) FROM {_STAGE} WHERE reason = '' GROUP BY associate_id")
        queued = dict(cursor.fetchall())
        _chunks_extend(campaign_id=campaign.pk, queued=queued, size=size)
        # SQLite reads "INSERT … SELECT … ON CONFLICT" as a join's ON without a WHERE in the SELECT.
        cursor.execute(
            f"INSERT INTO {recipients} (campaign_id, customer_id, associate_id, chunk_id, external_userid, status, "
            f"skip_reason, created_at) "
            f"SELECT %s, q.customer_id, q.associate_id, ch.id, q.external_userid, %s, '', %s FROM ("
            f"SELECT customer_id, associate_id, external_userid, "
            f"ROW_NUMBER() OVER (PARTITION BY associate_id ORDER BY customer_id) AS position, "
            f"COUNT(*) OVER (PARTITION BY associate_id) AS here FROM {_STAGE} WHERE reason = '') q "
            f"JOIN (SELECT associate_id, SUM(size) AS filled FROM {chunks} WHERE campaign_id = %s "
            f"GROUP BY associate_id) f ON f.associate_id = q.associate_id "
            f"JOIN {chunks} ch ON ch.campaign_id = %s AND ch.associate_id = q.associate_id "
            f"AND ch.{connection.ops.quote_name('index')} = (f.filled - q.here + q.position - 1) / %s "
            f"WHERE 1 = 1 ON CONFLICT (campaign_id, customer_id) DO NOTHING",
            [campaign.pk, RS.QUEUED, now, campaign.pk, campaign.pk, size],
        )
        cursor.execute(
            f"INSERT INTO {recipients} (campaign_id, customer_id, associate_id, chunk_id, external_userid, status, "
            f"skip_reason, created_at) "
            f"SELECT %s, customer_id, associate_id, NULL, '', %s, reason, %s FROM {_STAGE} WHERE reason <> '' "
            f"ON CONFLICT (campaign_id, customer_id) DO NOTHING",
            [campaign.pk, RS.SKIPPED, now],
        )
        cursor.execute(f"DROP TABLE {_STAGE}")


def _chunks_extend(*, campaign_id: int, queued: dict[int, int], size: int) -> None:
    """Grow each associate's chunks by `queued[associate]` recipients: fill their last chunk, then add new ones.
    One row per associate passes through here, never one per recipient."""
    last: dict[int, CampaignChunk] = {}
    for chunk in CampaignChunk.objects.filter(campaign_id=campaign_id, associate_id__in=list(queued)).order_by(
        "associate_id", "index"
    ):
        last[chunk.associate_id] = chunk
    grown, new = [], []
    for associate_id, count in sorted(queued.items()):
        chunk = last.get(associate_id)
        index = -1 if chunk is None else chunk.index
        if chunk is not None and chunk.size < size:
            take = min(size - chunk.size, count)
            chunk.size += take
            grown.append(chunk)
            count -= take
        while count > 0:
            index += 1
            take = min(size, count)
            new.append(CampaignChunk(campaign_id=campaign_id, associate_id=associate_id, index=index, size=take))
            count -= take
    CampaignChunk.objects.bulk_update(grown, ["size"], batch_size=1000)
    CampaignChunk.objects.bulk_create(new, batch_size=1000)


def _next_range(*, campaign: Campaign, after: int, customers: int) -> tuple[int, int] | None:
    """The next keyset range of the campaign's stores' customers: ids (after, high] holding `customers` of them."""
    base = Customer.objects.filter(
        merged_into__isnull=True, primary_store_id__in=campaign_store_ids(campaign=campaign), pk__gt=after
    )
    ids = base.order_by("pk").values_list("pk", flat=True)
    high = ids[customers - 1 : customers].first()
    if high is None:
        high = base.aggregate(high=Max("pk"))["high"]
    return None if high is None else (after + 1, high)


@dataclass
class Resolved:
    recipients: int
    skipped: int
    chunks: int


def campaign_resolve(*, campaign_id: int, now: dt.datetime | None = None) -> Resolved | None:
    """Write the campaign's recipients and chunks once (None when another run already did).

    Set-based and resumable: the stores' customers are taken in keyset ranges of customer ids, each resolved in its
    own short transaction (`_resolve_range`) that also moves `resolved_through` to the range's last id; a run that
    dies or is retried continues after it, and the unique (campaign, customer) with ON CONFLICT DO NOTHING
    keeps any overlap out. `resolved_at` is stamped after the last range, and only then are chunks sent."""
    now = now or timezone.now()
    while True:
        with transaction.atomic():
            _serialize_resolution()
            campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign_id)
            if campaign.resolved_at is not None or campaign.status != S.SENDING:
                return None
            span = _next_range(campaign=campaign, after=campaign.resolved_through or 0, customers=K.resolve_range())
            if span is None:
                Campaign.objects.filter(pk=campaign_id).update(resolved_at=now)
                break
            _resolve_range(campaign=campaign, now=now, low=span[0], high=span[1])
            Campaign.objects.filter(pk=campaign_id).update(resolved_through=span[1])
    counts = CampaignRecipient.objects.filter(campaign_id=campaign_id).aggregate(
        skipped=Count("pk", filter=Q(status=RS.SKIPPED)), total=Count("pk")
    )
    return Resolved(
        recipients=counts["total"] - counts["skipped"],
        skipped=counts["skipped"],
        chunks=CampaignChunk.objects.filter(campaign_id=campaign_id).count(),
    )


def campaign_send_start(*, campaign_id: int, now: dt.datetime | None = None) -> list[int]:
    """Scheduled → sending, resolve the audience if not yet done, and return the chunks still to create.

    Safe to call again at any time (a redelivered task, the resume tick): it only returns work not yet done.
    """
    now = now or timezone.now()
    _move(campaign_id, from_=[S.SCHEDULED], to=S.SENDING)
    campaign_resolve(campaign_id=campaign_id, now=now)
    stale = now - dt.timedelta(seconds=K.chunk_lease_seconds())
    chunks = list(
        CampaignChunk.objects.filter(campaign_id=campaign_id, campaign__status=S.SENDING)
        .filter(Q(status=CS.PENDING) | Q(status=CS.CREATING, claimed_at__lte=stale))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not chunks:
        campaign_finish_if_complete(campaign_id=campaign_id)
    return chunks


def campaign_finish_if_complete(*, campaign_id: int) -> bool:
    """Sending → done once every chunk has its WeCom task or has failed."""
    open_chunks = CampaignChunk.objects.filter(campaign_id=campaign_id, status__in=[CS.PENDING, CS.CREATING])
    if Campaign.objects.filter(pk=campaign_id, resolved_at__isnull=True).exists() or open_chunks.exists():
        return False
    return _move(campaign_id, from_=[S.SENDING], to=S.DONE, finished_at=timezone.now())


# ---------------------------------------------------------------------------------------------------------------
# One chunk: one add_msg_template call


class ChunkRetry(Exception):
    """WeCom was busy or rate-limited after the client's own retries: try the chunk again later."""


def _find_existing_task(*, chunk: CampaignChunk, sender: str, url: str) -> str | None:
    """The msgid of a task WeCom already has for this chunk (created by a worker that died before recording it)."""
    since = chunk.claimed_at or chunk.campaign.resolved_at or timezone.now()
    start = int(since.timestamp()) - 600
    end = int(timezone.now().timestamp()) + 600
    client = wecom_client()
    cursor = ""
    while True:
        page = client.groupmsg_list_v2(
            chat_type="single", start_time=start, end_time=end, creator=sender, filter_type=0, limit=100, cursor=cursor
        )
        for item in page.get("group_msg_list") or []:
            for attachment in item.get("attachments") or []:
                if attachment.get("msgtype") == "link" and (attachment.get("link") or {}).get("url") == url:
                    return item["msgid"]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return None


def _chunk_created(chunk: CampaignChunk, msgid: str, fail_list: list[str]) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = CampaignChunk.objects.filter(pk=chunk.pk, status=CS.CREATING).update(
            status=CS.CREATED, msgid=msgid, created_at=now, error=""
        )
        if not updated:
            return
        recipients = CampaignRecipient.objects.filter(chunk_id=chunk.pk, status=RS.QUEUED)
        if fail_list:
            recipients.filter(external_userid__in=fail_list).update(status=RS.NOT_FRIEND)
        recipients.update(status=RS.AWAITING)


def _chunk_failed(chunk: CampaignChunk, reason: str) -> None:
    with transaction.atomic():
        if CampaignChunk.objects.filter(pk=chunk.pk, status=CS.CREATING).update(status=CS.FAILED, error=reason[:300]):
            CampaignRecipient.objects.filter(chunk_id=chunk.pk, status=RS.QUEUED).update(status=RS.FAILED)


def campaign_chunk_send(*, chunk_id: int, now: dt.datetime | None = None) -> str:
    """Create the chunk's WeCom task once; returns what happened (created / exists / skipped / failed / busy)."""
    now = now or timezone.now()
    chunk = CampaignChunk.objects.select_related("campaign", "associate").get(pk=chunk_id)
    campaign = chunk.campaign
    if campaign.status != S.SENDING:
        CampaignChunk.objects.filter(pk=chunk_id, status=CS.PENDING).update(status=CS.CANCELLED)
        return "skipped"
    if campaign.resolved_at is None:
        # The audience is still being resolved range by range and may still grow this chunk: campaign_send_start
        # queues it again once the resolution is stamped.
        return "skipped"
    stale = now - dt.timedelta(seconds=K.chunk_lease_seconds())
    sender = chunk.associate.wecom_userid
    url = campaign_landing_url(campaign=campaign, chunk_key=chunk.key)
    if chunk.status == CS.CREATING and chunk.claimed_at and chunk.claimed_at <= stale:
        # A worker died inside the call: WeCom may already have the task.
        existing = _find_existing_task(chunk=chunk, sender=sender, url=url)
        if existing:
            _chunk_created(chunk, existing, [])
            campaign_finish_if_complete(campaign_id=campaign.pk)
            return "exists"
        claimed = CampaignChunk.objects.filter(pk=chunk_id, status=CS.CREATING, claimed_at=chunk.claimed_at).update(
            claimed_at=now, attempts=chunk.attempts + 1
        )
    elif chunk.status == CS.PENDING:
        claimed = CampaignChunk.objects.filter(pk=chunk_id, status=CS.PENDING).update(
            status=CS.CREATING, claimed_at=now, attempts=chunk.attempts + 1
        )
    else:
        return "skipped"
    if not claimed:
        return "skipped"
    chunk.status, chunk.claimed_at = CS.CREATING, now

    recipients = list(
        CampaignRecipient.objects.filter(chunk_id=chunk_id, status=RS.QUEUED)
        .order_by("pk")
        .values_list("customer_id", "external_userid")
    )
    if campaign.coupon_pack_id:
        coupon_pack_send_many(
            pack_id=campaign.coupon_pack_id,
            recipients=[(customer_id, chunk.associate_id) for customer_id, _ in recipients],
            request_prefix=f"campaign:{campaign.pk}",
            now=now,
        )
    body: dict[str, Any] = {
        "chat_type": "single",
        "sender": sender,
        "external_userid": [external_userid for _, external_userid in recipients],
        "attachments": campaign_attachments(campaign=campaign, chunk_key=chunk.key),
    }
    if campaign.text.strip():
        body["text"] = {"content": campaign.text}
    try:
        answer = wecom_client().post("externalcontact/add_msg_template", data=body)
    except WeComError as error:
        if not error.transient:
            _chunk_failed(chunk, f"{error.errcode}: {error.errmsg}")
            campaign_finish_if_complete(campaign_id=campaign.pk)
            return "failed"
        # Busy or rate-limited: WeCom may or may not have made the task. Look, then release the chunk for a retry.
        existing = _find_existing_task(chunk=chunk, sender=sender, url=url)
        if existing:
            _chunk_created(chunk, existing, [])
            campaign_finish_if_complete(campaign_id=campaign.pk)
            return "exists"
        CampaignChunk.objects.filter(pk=chunk_id, status=CS.CREATING, claimed_at=now).update(
            status=CS.PENDING, error=f"{error.errcode}: {error.errmsg}"[:300]
        )
        raise ChunkRetry(str(error)) from error
    _chunk_created(chunk, answer["msgid"], answer.get("fail_list") or [])
    campaign_finish_if_complete(campaign_id=campaign.pk)
    return "created"


def campaign_chunks_retry(*, chunk_ids: list[int]) -> list[int]:
    """An admin retries failed chunks: failed → pending (their recipients queued again); returns the ids moved."""
    moved = []
    for chunk_id in chunk_ids:
        with transaction.atomic():
            if CampaignChunk.objects.filter(pk=chunk_id, status=CS.FAILED).update(status=CS.PENDING):
                CampaignRecipient.objects.filter(chunk_id=chunk_id, status=RS.FAILED).update(status=RS.QUEUED)
                campaign_id = CampaignChunk.objects.get(pk=chunk_id).campaign_id
                _move(campaign_id, from_=[S.DONE], to=S.SENDING, finished_at=None)
                moved.append(chunk_id)
    return moved


def campaign_failed_chunks_retry(*, campaign_ids: Sequence[int], send_later: Callable[[int], None]) -> int:
    """An admin retries the failed chunks of these campaigns: each one moved back to pending
    (`campaign_chunks_retry`) is queued to be sent again once the transaction commits, by `send_later(chunk_id)`
    (`campaigns.tasks.campaign_chunk_send_task.delay`). Returns how many failed chunks there were."""
    chunk_ids = list(
        CampaignChunk.objects.filter(campaign_id__in=campaign_ids, status=CS.FAILED).values_list("pk", flat=True)
    )
    for chunk_id in campaign_chunks_retry(chunk_ids=chunk_ids):
        transaction.on_commit(functools.partial(send_later, chunk_id))
    return len(chunk_ids)


# ---------------------------------------------------------------------------------------------------------------
# Results, reminders, cancelling


_RESULT_STATUS = {1: RS.SENT, 2: RS.NOT_FRIEND, 3: RS.RECEIVED_OTHER}


def _collect_results(chunk: CampaignChunk, sender: str) -> None:
    client = wecom_client()
    by_status: dict[str, list[str]] = defaultdict(list)
    sent_at: dict[str, int] = {}
    cursor = ""
    while True:
        page = client.groupmsg_send_result(msgid=chunk.msgid, userid=sender, limit=1000, cursor=cursor)
        for item in page.get("send_list") or []:
            status = _RESULT_STATUS.get(int(item.get("status", 0)), RS.UNCONFIRMED)
            by_status[status].append(item["external_userid"])
            if item.get("send_time"):
                sent_at[item["external_userid"]] = int(item["send_time"])
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    with transaction.atomic():
        recipients = CampaignRecipient.objects.filter(chunk_id=chunk.pk, status=RS.AWAITING)
        for status, external_userids in by_status.items():
            for start in range(0, len(external_userids), 2000):
                part = external_userids[start : start + 2000]
                if status == RS.SENT:
                    moment = dt.datetime.fromtimestamp(sent_at.get(part[0], 0), tz=dt.UTC)
                    recipients.filter(external_userid__in=part).update(status=status, sent_at=moment)
                else:
                    recipients.filter(external_userid__in=part).update(status=status)
        CampaignChunk.objects.filter(pk=chunk.pk).update(results_final=True, polled_at=timezone.now())


@dataclass
class Polled:
    confirmed: int = 0
    reminded: int = 0
    expired: int = 0
    cancelled: int = 0


def campaign_results_poll(*, now: dt.datetime | None = None, limit: int = 500) -> Polled:
    """One pass over WeCom tasks not yet final: record confirmations and per-recipient results, remind associates
    who have not confirmed (at most REMIND_MAX times, REMIND_INTERVAL_HOURS apart), give up after the window,
    and cancel tasks of cancelled campaigns that WeCom made anyway."""
    now = now or timezone.now()
    result = Polled()
    client = wecom_client()
    chunks = (
        CampaignChunk.objects.filter(status=CS.CREATED, results_final=False)
        .select_related("campaign", "associate")
        .order_by("polled_at", "pk")[:limit]
    )
    for chunk in chunks:
        sender = chunk.associate.wecom_userid
        if chunk.campaign.status == S.CANCELLED:
            _cancel_chunk_task(chunk, client)
            result.cancelled += 1
            continue
        tasks = client.groupmsg_task(msgid=chunk.msgid, limit=1000).get("task_list") or []
        mine = next((t for t in tasks if t.get("userid") == sender), None)
        if mine and int(mine.get("status", 0)) == 2:
            confirmed = dt.datetime.fromtimestamp(int(mine.get("send_time") or now.timestamp()), tz=dt.UTC)
            CampaignChunk.objects.filter(pk=chunk.pk).update(confirmed_at=confirmed)
            _collect_results(chunk, sender)
            result.confirmed += 1
            continue
        age = now - (chunk.created_at or now)
        if age >= dt.timedelta(days=K.CONFIRM_WINDOW_DAYS):
            with transaction.atomic():
                CampaignRecipient.objects.filter(chunk_id=chunk.pk, status=RS.AWAITING).update(status=RS.UNCONFIRMED)
                CampaignChunk.objects.filter(pk=chunk.pk).update(results_final=True, polled_at=now)
            result.expired += 1
            continue
        due = age >= dt.timedelta(hours=K.REMIND_AFTER_HOURS) and (
            chunk.reminded_at is None or now - chunk.reminded_at >= dt.timedelta(hours=K.REMIND_INTERVAL_HOURS)
        )
        # Compare-and-set on the count: two overlapping polls remind once.
        if (
            due
            and chunk.reminds < K.REMIND_MAX
            and CampaignChunk.objects.filter(pk=chunk.pk, reminds=chunk.reminds).update(
                reminds=chunk.reminds + 1, reminded_at=now
            )
        ):
            client.groupmsg_remind(msgid=chunk.msgid)
            result.reminded += 1
        CampaignChunk.objects.filter(pk=chunk.pk).update(polled_at=now)
    return result


def _cancel_chunk_task(chunk: CampaignChunk, client) -> None:
    client.groupmsg_cancel(msgid=chunk.msgid)
    with transaction.atomic():
        CampaignRecipient.objects.filter(chunk_id=chunk.pk, status=RS.AWAITING).update(status=RS.CANCELLED)
        CampaignChunk.objects.filter(pk=chunk.pk).update(results_final=True, polled_at=timezone.now())


def campaign_cancel(*, campaign_id: int, user, store_ids: frozenset[int] | EllipsisType | None = ...) -> Campaign:
    """Stop a campaign: chunks not yet created never will be, and WeCom tasks not yet confirmed are cancelled."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if not _manages_all_stores(user=user, campaign=campaign, store_ids=store_ids):
        raise ApplicationError("not_your_stores", "只能取消自己门店的活动。", status_code=403)
    live = [S.DRAFT, S.SUBMITTED, S.APPROVED, S.SCHEDULED, S.SENDING, S.DONE]
    if not _move(campaign_id, from_=live, to=S.CANCELLED, cancelled_at=timezone.now()):
        raise _conflict("not_cancellable", "这个活动已经取消。")
    with transaction.atomic():
        pending = CampaignChunk.objects.filter(campaign_id=campaign_id, status__in=[CS.PENDING, CS.FAILED])
        CampaignRecipient.objects.filter(chunk__in=pending, status__in=[RS.QUEUED, RS.FAILED]).update(
            status=RS.CANCELLED
        )
        pending.update(status=CS.CANCELLED)
    client = None
    for chunk in CampaignChunk.objects.filter(
        campaign_id=campaign_id, status=CS.CREATED, results_final=False, confirmed_at__isnull=True
    ):
        client = client or wecom_client()
        _cancel_chunk_task(chunk, client)
    return Campaign.objects.get(pk=campaign_id)


# ---------------------------------------------------------------------------------------------------------------
# Journeys: follow-up tasks for associates, once per occasion (FollowUpTask's unique occasion decides)

JOURNEY_CATCH_UP_DAYS = 3
NOT_PURCHASES = [
    Order.Status.CANCELLED,
    Order.Status.RETURNED,
]  # a missed daily run is caught up by the next ones; older occasions are let go


@dataclass
class Journeys:
    birthday: int = 0
    post_purchase: int = 0
    lapsing: int = 0


def _tasks_add(rows: list[FollowUpTask]) -> int:
    """Insert the tasks not yet made for their occasion; returns how many are new."""
    if not rows:
        return 0
    before = FollowUpTask.objects.count()
    FollowUpTask.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return FollowUpTask.objects.count() - before


def journeys_run(*, now: dt.datetime | None = None) -> Journeys:
    """Birthday greetings, post-purchase follow-ups and lapsing customers, per store's JourneyConfig (stores
    without one use its defaults). Each task goes to the customer's primary associate (the order's associate for a
    follow-up) and is made once per occasion, however often this runs."""
    now = now or timezone.now()
    today = now.astimezone(CORP_TZ).date()
    made = Journeys()
    configs = {c.store_id: c for c in JourneyConfig.objects.all()}
    spent = contact_budget_spent_ids(now=now)
    for store in Store.objects.filter(is_active=True):
        config = configs.get(store.pk) or JourneyConfig(store=store)
        # An opted-out customer gets no journey; nor does one whose week's contacts are spent (an anti-join).
        customers = Customer.objects.filter(
            primary_store=store, merged_into__isnull=True, primary_associate__is_active=True, opted_out=False
        ).exclude(pk__in=spent)
        if config.birthday:
            rows = []
            for ahead in range(config.birthday_days_before + 1):
                day = today + dt.timedelta(days=ahead)
                for pk, name, associate_id in customers.filter(
                    birthday__month=day.month, birthday__day=day.day
                ).values_list("pk", "name", "primary_associate_id"):
                    rows.append(
                        FollowUpTask(
                            associate_id=associate_id,
                            customer_id=pk,
                            title=f"{day:%m月%d日}是{name or '客户'}的生日，送上祝福",
                            due_on=day,
                            occasion=f"birthday:{day.year}",
                        )
                    )
            made.birthday += _tasks_add(rows)
        if config.post_purchase_days:
            last_day = today - dt.timedelta(days=config.post_purchase_days)
            since = last_day - dt.timedelta(days=JOURNEY_CATCH_UP_DAYS)
            orders = (
                Order.objects.filter(
                    customer__in=customers,
                    placed_at__date__gt=since,
                    placed_at__date__lte=last_day,
                )
                .exclude(status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
                .values_list("pk", "customer_id", "customer__name", "associate_id", "customer__primary_associate_id")
            )
            made.post_purchase += _tasks_add(
                [
                    FollowUpTask(
                        associate_id=associate_id or primary_id,
                        customer_id=customer_id,
                        title=f"回访{name or '客户'}：{config.post_purchase_days} 天前的购买是否满意",
                        due_on=today,
                        occasion=f"post_purchase:{order_id}",
                    )
                    for order_id, customer_id, name, associate_id, primary_id in orders
                ]
            )
        if config.lapsing_days:
            cutoff = today - dt.timedelta(days=config.lapsing_days)
            lapsed = (
                customers.annotate(last=Max("orders__placed_at", filter=~Q(orders__status__in=NOT_PURCHASES)))
                .filter(last__date__lte=cutoff, last__date__gt=cutoff - dt.timedelta(days=JOURNEY_CATCH_UP_DAYS))
                .values_list("pk", "name", "primary_associate_id", "last")
            )
            made.lapsing += _tasks_add(
                [
                    FollowUpTask(
                        associate_id=associate_id,
                        customer_id=pk,
                        title=f"{name or '客户'}已 {config.lapsing_days} 天没有购买，联系唤醒",
                        due_on=today,
                        occasion=f"lapsing:{last.astimezone(CORP_TZ):%Y%m%d}",
                    )
                    for pk, name, associate_id, last in lapsed
                ]
            )
    return made
