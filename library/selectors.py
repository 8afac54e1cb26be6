"""Reads of the library: what an associate may see and search, the values of a reply's variables for a customer,
and a customer's messages sent from Omni."""

from decimal import Decimal

from django.db.models import F, Q, QuerySet, Value
from django.db.models.lookups import Lookup
from django.utils import timezone

from associates.models import Associate
from coupons.models import Coupon, CouponTemplate, yuan
from customers.models import Customer
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from omni.bulk import is_postgres

SEARCH_MAX_CHARS = 50


class ILike(Lookup):
    """`column ILIKE pattern`: on PostgreSQL the form a gin_trgm_ops index serves (icontains' UPPER(…) LIKE is not)."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


def _contains(fields: tuple[str, ...], keyword: str) -> Q:
    """Any of `fields` contains `keyword`, case-insensitively: ILIKE '%kw%' on PostgreSQL (the trigram indexes,
    CJK included), icontains elsewhere."""
    keyword = keyword.strip()[:SEARCH_MAX_CHARS]
    if is_postgres():
        escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = Q()
        for field in fields:
            condition |= Q(ILike(F(field), Value(f"%{escaped}%")))
        return condition
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": keyword})
    return condition


def reply_groups_visible(*, associate: Associate) -> QuerySet[ReplyGroup]:
    return ReplyGroup.objects.visible_to(associate).filter(is_active=True).order_by("position", "pk")


def quick_replies_list(*, associate: Associate, keyword: str = "") -> QuerySet[QuickReply]:
    """The replies the associate may use (HQ's, their store's, their own), searched by keyword over title and
    text; in group order, then the reply's."""
    replies = QuickReply.objects.visible_to(associate).filter(is_active=True).select_related("group")
    if keyword.strip():
        replies = replies.filter(_contains(("title", "text"), keyword))
    return replies.order_by(F("group__position").asc(nulls_last=True), "group_id", "position", "pk")


def materials_list(*, associate: Associate, keyword: str = "", kind: str = "") -> QuerySet[Material]:
    materials = Material.objects.visible_to(associate).filter(is_active=True).select_related("product")
    if kind:
        materials = materials.filter(kind=kind)
    if keyword.strip():
        materials = materials.filter(_contains(("title", "description"), keyword))
    return materials.defer("content").order_by("position", "pk")


def material_visible_get(*, associate: Associate, material_id: int) -> Material | None:
    return Material.objects.visible_to(associate).filter(is_active=True, pk=material_id).first()


def _coupons_face_value(customer: Customer) -> Decimal:
    """The face value of the customer's coupons that can be used now (a percent-off one counts its cap)."""
    total = Decimal("0")
    usable = Coupon.objects.filter(
        customer=customer, status=Coupon.Status.ISSUED, valid_until__gt=timezone.now()
    ).select_related("template")
    for coupon in usable:
        template: CouponTemplate = coupon.template
        total += template.face_value
    return total


def reply_values_get(*, associate: Associate, customer: Customer) -> dict[str, str]:
    """The values of the reply variables (library.variables.VARIABLES) for this associate's chat with this
    customer."""
    name = customer.name.strip()
    if name and customer.gender == Customer.Gender.FEMALE:
        salutation = f"{name[0]}女士"
    elif name and customer.gender == Customer.Gender.MALE:
        salutation = f"{name[0]}先生"
    else:
        salutation = name or "您"
    return {
        "客户称呼": salutation,
        "客户名": name or "您",
        "导购": associate.name,
        "门店": associate.store.name,
        "券包金额": yuan(_coupons_face_value(customer)),
    }


def customer_sent_messages_list(*, customer_id: int, limit: int = 50) -> QuerySet[SentMessage]:
    """The quick replies and materials sent to the customer from Omni, newest first (the customer timeline)."""
    return (
        SentMessage.objects.filter(customer_id=customer_id)
        .select_related("associate")
        .order_by("-sent_at", "-pk")[:limit]
    )
