"""The customer's timeline (轨迹): one stream of everything that happened with a customer, newest first, one page at a
time, read in ONE statement however many events there are.

Each kind of event is a `TimelineSource`: a SELECT over its own table giving the same columns (at, kind, id, title,
detail, amount, channel, associate). A page is every source's newest rows past the cursor — each branch LIMITed on
its own (customer, time) index — combined with UNION ALL, ORDER BY and LIMIT. Adding a kind (as the library's
quick replies and materials were) is one more entry in `TIMELINE_SOURCES`.

Order and cursor: (at DESC, kind DESC, id DESC), a total order — kinds compared by their rank in `KIND_RANKS` (their
names' order, as a number, so no database collation can reorder them); the cursor is the last row shown, and the next
page is the rows strictly after it (keyset, not OFFSET: no duplicates or gaps however many events share a moment).

Whose events: a person's records (`customers.selectors.customer_record_ids`: the survivor and those merged into it,
since coupons, campaign receipts, invites and group memberships stay on the record they were made for). Everything
about a customer the associate may see is shown, as the profile shows every store's orders and notes; follow-up tasks
are the viewer's own, as the tasks list is.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime

from associates.models import Associate, Store
from campaigns.models import Campaign, CampaignRecipient
from clientbook.models import FollowRelation, FollowUpTask
from communities.models import Community, GroupChat, GroupMember, GroupMemberEvent, Invite
from coupons.models import Channels, Coupon, CouponTemplate, Redemption
from customers.models import Channel, CustomerNote, CustomerTag, Order, Product, Tag
from customers.selectors import customer_record_ids
from library.models import SentMessage
from omni import rawsql
from omni.errors import ApplicationError
from suggestions.models import Outreach

PAGE = 20
MAX_PAGE = 50


def _t(model) -> str:
    return model._meta.db_table


_ASSOCIATE = _t(Associate)
_NO_AMOUNT = "CAST(NULL AS NUMERIC)"
_COLUMNS = ("title", "detail", "amount", "channel", "associate_id")


@dataclass(frozen=True)
class TimelineSource:
    """One kind of event: `columns` read FROM `tables` WHERE `where` (constants of the code only, no input) and
    `customer` (a column) is one of the person's records; `at` and `id` are the event's time and row id (the keyset);
    `mine`, when set, is the column that must be the viewer's associate id. `label` is what the sidebar calls it."""

    kind: str
    label: str
    at: str
    id: str
    customer: str
    columns: tuple[str, str, str, str, str]  # title, detail, amount, channel, associate_id
    tables: str
    where: str = ""
    mine: str = ""


_REVERSED = f"('{Order.Status.CANCELLED}', '{Order.Status.RETURNED}')"

TIMELINE_SOURCES: list[TimelineSource] = [
    TimelineSource(
        kind="purchase",
        label="购买",
        at="o.placed_at",
        id="o.id",
        customer="o.customer_id",
        columns=("s.name", "o.external_id", "o.total_amount", "o.channel", "o.associate_id"),
        tables=f"{_t(Order)} o LEFT JOIN {_t(Store)} s ON s.id = o.store_id",
        where=f"o.status NOT IN {_REVERSED} AND o.total_amount >= 0",
    ),
    TimelineSource(
        kind="return",
        label="退货",
        at="o.placed_at",
        id="o.id",
        customer="o.customer_id",
        columns=("s.name", "o.external_id", "o.total_amount", "o.channel", "o.associate_id"),
        tables=f"{_t(Order)} o LEFT JOIN {_t(Store)} s ON s.id = o.store_id",
        where=f"(o.status = '{Order.Status.RETURNED}' OR o.total_amount < 0)",
    ),
    TimelineSource(
        kind="coupon_sent",
        label="发券",
        at="c.issued_at",
        id="c.id",
        customer="c.customer_id",
        columns=("t.name", "''", _NO_AMOUNT, "''", "c.associate_id"),  # never the code: it is the coupon
        tables=f"{_t(Coupon)} c JOIN {_t(CouponTemplate)} t ON t.id = c.template_id",
    ),
    TimelineSource(
        kind="coupon_redeemed",
        label="用券",
        at="r.created_at",
        id="r.id",
        customer="c.customer_id",
        columns=("t.name", "r.order_ref", "r.discount", "r.channel", "r.credited_associate_id"),
        tables=f"{_t(Redemption)} r JOIN {_t(Coupon)} c ON c.id = r.coupon_id "
        f"JOIN {_t(CouponTemplate)} t ON t.id = c.template_id",
        where=f"r.kind = '{Redemption.Kind.REDEEM}'",
    ),
    TimelineSource(
        kind="community_invite",
        label="邀请入群",
        at="i.sent_at",
        id="i.id",
        customer="i.customer_id",
        columns=("cm.name", "''", _NO_AMOUNT, "i.channel", "i.associate_id"),
        tables=f"{_t(Invite)} i JOIN {_t(Community)} cm ON cm.id = i.community_id",
    ),
    TimelineSource(
        kind="community_join",
        label="入群",
        at="e.at",
        id="e.id",
        customer="m.customer_id",
        columns=("g.name", "''", _NO_AMOUNT, "''", "e.credited_associate_id"),
        tables=f"{_t(GroupMemberEvent)} e JOIN {_t(GroupMember)} m ON m.id = e.member_id "
        f"JOIN {_t(GroupChat)} g ON g.id = e.chat_id",
        where=f"e.kind = '{GroupMemberEvent.Kind.JOIN}'",
    ),
    TimelineSource(
        kind="community_leave",
        label="退群",
        at="e.at",
        id="e.id",
        customer="m.customer_id",
        columns=("g.name", "''", _NO_AMOUNT, "''", "CAST(NULL AS BIGINT)"),
        tables=f"{_t(GroupMemberEvent)} e JOIN {_t(GroupMember)} m ON m.id = e.member_id "
        f"JOIN {_t(GroupChat)} g ON g.id = e.chat_id",
        where=f"e.kind = '{GroupMemberEvent.Kind.LEAVE}'",
    ),
    TimelineSource(
        kind="product_sent",
        label="推荐商品",
        at="x.sent_at",
        id="x.id",
        customer="x.customer_id",
        columns=("p.name", "x.reason", "p.price", "x.source", "x.associate_id"),
        tables=f"{_t(Outreach)} x JOIN {_t(Product)} p ON p.id = x.product_id",
    ),
    TimelineSource(
        kind="message",
        label="欢迎语",
        at="f.followed_at",
        id="f.id",
        customer="f.customer_id",
        columns=("''", "''", _NO_AMOUNT, "''", "f.associate_id"),
        tables=f"{_t(FollowRelation)} f",
        where=f"f.welcome = '{FollowRelation.Welcome.SENT}'",
    ),
    TimelineSource(
        kind="campaign",
        label="群发消息",
        at="cr.sent_at",
        id="cr.id",
        customer="cr.customer_id",
        columns=("cp.name", "''", _NO_AMOUNT, "''", "cr.associate_id"),
        tables=f"{_t(CampaignRecipient)} cr JOIN {_t(Campaign)} cp ON cp.id = cr.campaign_id",
        where=f"cr.status = '{CampaignRecipient.Status.SENT}' AND cr.sent_at IS NOT NULL",
    ),
    TimelineSource(
        kind="library_sent",
        label="发送话术素材",
        at="sm.sent_at",
        id="sm.id",
        customer="sm.customer_id",
        columns=("sm.title", "sm.kind", _NO_AMOUNT, "''", "sm.associate_id"),
        tables=f"{_t(SentMessage)} sm",
    ),
    TimelineSource(
        kind="note",
        label="备注",
        at="n.created_at",
        id="n.id",
        customer="n.customer_id",
        columns=("''", "n.text", _NO_AMOUNT, "''", "n.author_id"),
        tables=f"{_t(CustomerNote)} n",
    ),
    TimelineSource(
        kind="tag_added",
        label="打标签",
        at="ct.created_at",
        id="ct.id",
        customer="ct.customer_id",
        columns=("tg.name", 'tg."group"', _NO_AMOUNT, "''", "ct.added_by_id"),
        tables=f"{_t(CustomerTag)} ct JOIN {_t(Tag)} tg ON tg.id = ct.tag_id",
    ),
    TimelineSource(
        kind="friend_added",
        label="添加好友",
        at="f.followed_at",
        id="f.id",
        customer="f.customer_id",
        columns=("''", "f.remark", _NO_AMOUNT, "''", "f.associate_id"),
        tables=f"{_t(FollowRelation)} f",
    ),
    TimelineSource(
        kind="friend_deleted",
        label="删除好友",
        at="f.ended_at",
        id="f.id",
        customer="f.customer_id",
        columns=("''", "f.ended_reason", _NO_AMOUNT, "''", "f.associate_id"),
        tables=f"{_t(FollowRelation)} f",
        where="f.ended_at IS NOT NULL",
    ),
    TimelineSource(
        kind="task_created",
        label="新建任务",
        at="k.created_at",
        id="k.id",
        customer="k.customer_id",
        columns=("k.title", "CAST(k.due_on AS TEXT)", _NO_AMOUNT, "''", "k.associate_id"),
        tables=f"{_t(FollowUpTask)} k",
        mine="k.associate_id",
    ),
    TimelineSource(
        kind="task_done",
        label="完成任务",
        at="k.done_at",
        id="k.id",
        customer="k.customer_id",
        columns=("k.title", "CAST(k.due_on AS TEXT)", _NO_AMOUNT, "''", "k.associate_id"),
        tables=f"{_t(FollowUpTask)} k",
        where="k.done_at IS NOT NULL",
        mine="k.associate_id",
    ),
]

KIND_LABELS = {source.kind: source.label for source in TIMELINE_SOURCES}
KIND_RANKS = {kind: rank for rank, kind in enumerate(sorted(KIND_LABELS))}
_KINDS_BY_RANK = {rank: kind for kind, rank in KIND_RANKS.items()}
_CHANNEL_LABELS = dict(Channel.choices)
_DETAIL_LABELS = {"friend_deleted": dict(FollowRelation.Ended.choices)}
_CHANNEL_LABELS_BY_KIND = {
    "purchase": _CHANNEL_LABELS,
    "return": _CHANNEL_LABELS,
    "coupon_redeemed": dict(Channels.choices),
    "community_invite": dict(Invite.Channel.choices),
    "product_sent": dict(Outreach.Source.choices),
}


@dataclass(frozen=True)
class Cursor:
    at: datetime
    kind: str
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.kind}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            at, kind, pk = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split("|")
            moment = parse_datetime(at)
            if moment is None or moment.tzinfo is None or kind not in KIND_LABELS:
                raise ValueError(text)
            return cls(at=moment, kind=kind, id=int(pk))
        except (ValueError, UnicodeDecodeError, binascii.Error) as error:
            raise ApplicationError("invalid_cursor", "翻页参数无效，请刷新后重试。") from error


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    id: int
    title: str
    detail: str
    amount: Decimal | None
    channel: str
    channel_label: str
    associate: str


@dataclass(frozen=True)
class TimelinePage:
    events: list[TimelineEvent]
    next: Cursor | None


def _branch(source: TimelineSource, *, ids: str, after: Cursor | None, viewer_id: int, limit: int) -> tuple[str, list]:
    """One source's newest rows past the cursor. The kind is constant in a branch, so the keyset condition on
    (at, kind, id) becomes one on (at, id) that its (customer, time) index serves."""
    where, params = [f"{source.customer} IN ({ids})", f"{source.at} IS NOT NULL"], []
    if source.where:
        where.append(source.where)
    if after is not None:
        at = connection.ops.adapt_datetimefield_value(after.at)
        rank, after_rank = KIND_RANKS[source.kind], KIND_RANKS[after.kind]
        if rank < after_rank:
            where.append(f"{source.at} <= %s")
            params.append(at)
        elif rank == after_rank:
            where.append(f"({source.at} < %s OR ({source.at} = %s AND {source.id} < %s))")
            params.extend([at, at, after.id])
        else:
            where.append(f"{source.at} < %s")
            params.append(at)
    if source.mine:
        where.append(f"{source.mine} = %s")
        params.append(viewer_id)
    columns = ", ".join(f"{expression} AS {name}" for expression, name in zip(source.columns, _COLUMNS, strict=True))
    sql = (
        f"SELECT {source.at} AS at, {KIND_RANKS[source.kind]} AS kind_rank, {source.id} AS id, {columns} "
        f"FROM {source.tables} WHERE {' AND '.join(where)} "
        f"ORDER BY {source.at} DESC, {source.id} DESC LIMIT {limit}"
    )
    return sql, params


def customer_timeline(
    *, customer_id: int, viewer: Associate, after: Cursor | None = None, limit: int = PAGE
) -> TimelinePage:
    """A page of the customer's events, newest first: three statements whatever the number of events (the person's
    records: their survivor, then the records merged into it; then the page)."""
    limit = max(1, min(limit, MAX_PAGE))
    record_ids = customer_record_ids(customer_id=customer_id)
    ids = ", ".join(["%s"] * len(record_ids))
    branches, params = [], []
    for source in TIMELINE_SOURCES:
        sql, branch_params = _branch(source, ids=ids, after=after, viewer_id=viewer.pk, limit=limit + 1)
        branches.append(f"SELECT * FROM ({sql}) {source.kind}_page")
        params.extend([*record_ids, *branch_params])
    union = " UNION ALL ".join(branches)
    statement = (
        f"SELECT p.at, p.kind_rank, p.id, p.title, p.detail, p.amount, p.channel, a.name FROM ({union}) p "
        f"LEFT JOIN {_ASSOCIATE} a ON a.id = p.associate_id "
        f"ORDER BY p.at DESC, p.kind_rank DESC, p.id DESC LIMIT {limit + 1}"
    )
    rows = rawsql.rows(statement, params)
    events = [_event(row) for row in rows[:limit]]
    last = events[-1] if len(rows) > limit else None
    return TimelinePage(events=events, next=Cursor(at=last.at, kind=last.kind, id=last.id) if last else None)


def _event(row: tuple) -> TimelineEvent:
    at, rank, pk, title, detail, amount, channel, associate = row
    kind = _KINDS_BY_RANK[rank]
    channel = channel or ""
    detail = detail or ""
    return TimelineEvent(
        at=rawsql.moment(at),
        kind=kind,
        id=pk,
        title=title or "",
        detail=_DETAIL_LABELS.get(kind, {}).get(detail, detail),
        amount=None if amount is None else rawsql.money(amount),
        channel=channel,
        channel_label=_CHANNEL_LABELS_BY_KIND.get(kind, {}).get(channel, ""),
        associate=associate or "",
    )
