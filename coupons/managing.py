"""Managers' edits of templates (批次) and packs (券包), which admin calls: saving a new template and an edit,
compare-and-set of a pack's budget and a template's stock (never below what is already spent or issued), status
moves, and what keeps a template from being issued.
"""

from collections.abc import Callable, Sequence
from decimal import Decimal

from django.db import transaction

from coupons.models import CouponPack, CouponTemplate
from coupons.refusals import conflict
from omni.errors import ApplicationError

# Fields an edit never saves: services own them (stock, spent and status move by compare-and-set).
_TEMPLATE_GUARDED = ("total_stock", "issued_count", "status")
_PACK_GUARDED = ("budget", "spent", "status")


def coupon_template_create(*, template: CouponTemplate) -> CouponTemplate:
    """Save a new template as a draft. Issuing starts through `coupon_template_status_set` once its products and
    stores are saved too, as they decide whether it is complete."""
    template.status = CouponTemplate.Status.DRAFT
    template.save()
    return template


def coupon_template_edit(
    *, template: CouponTemplate, fields: Sequence[str], rules_changed: Callable[[CouponTemplate], Sequence[str]]
) -> CouponTemplate:
    """Save these fields of a manager's edit of `template`, never its stock or status (`coupon_template_stock_set`,
    `coupon_template_status_set`).

    The template's row is locked first: a send takes stock with an UPDATE of this row, so none slips in while the
    rules change. Once coupons of it were issued, an edit whose `rules_changed(the row as locked)` names a rule
    field is refused (409 `rules_fixed`) and nothing is saved. Inside a transaction, the lock holds until it
    commits."""
    with transaction.atomic():
        current = CouponTemplate.objects.select_for_update(no_key=True).get(pk=template.pk)
        if current.issued_count and rules_changed(current):
            raise conflict("rules_fixed", f"已发出 {current.issued_count} 张券，优惠规则不能再修改。")
        template.save(update_fields=[name for name in fields if name not in _TEMPLATE_GUARDED])
    return template


def coupon_template_complete_require(*, template_id: int) -> None:
    """A running template stays complete through an edit: `template_invalid` (the problems as details) when it is
    running and no longer complete."""
    template = CouponTemplate.objects.get(pk=template_id)
    if template.status == CouponTemplate.Status.RUNNING and (problems := coupon_template_problems(template=template)):
        raise ApplicationError("template_invalid", " ".join(problems), details=problems)


def coupon_pack_edit(*, pack: CouponPack, fields: Sequence[str]) -> CouponPack:
    """Save these fields of a manager's edit of `pack`, never its budget (`coupon_pack_budget_set`), what it spent
    (sends) or its status (`coupon_pack_status_set`)."""
    pack.save(update_fields=[name for name in fields if name not in _PACK_GUARDED])
    return pack


def coupon_pack_budget_set(*, pack_id: int, expected: Decimal, budget: Decimal) -> CouponPack:
    """Change a pack's budget if it is still `expected` (what the manager saw) and not below what is spent."""
    if budget < 0:
        raise ApplicationError("invalid_budget", "预算不能为负数。")
    if not CouponPack.objects.filter(pk=pack_id, budget=expected, spent__lte=budget).update(budget=budget):
        pack = CouponPack.objects.get(pk=pack_id)
        if pack.budget != expected:
            raise conflict("stale_budget", f"预算刚被修改为 {pack.budget} 元，请刷新后重试。")
        raise conflict("budget_below_spent", f"预算不能低于已使用的 {pack.spent} 元。")
    return CouponPack.objects.get(pk=pack_id)


def coupon_template_stock_set(*, template_id: int, expected: int, total_stock: int) -> CouponTemplate:
    """Change a template's stock if it is still `expected` and not below what is already issued."""
    if not CouponTemplate.objects.filter(pk=template_id, total_stock=expected, issued_count__lte=total_stock).update(
        total_stock=total_stock
    ):
        template = CouponTemplate.objects.get(pk=template_id)
        if template.total_stock != expected:
            raise conflict("stale_stock", f"库存刚被修改为 {template.total_stock} 张，请刷新后重试。")
        raise conflict("stock_below_issued", f"库存不能低于已发放的 {template.issued_count} 张。")
    return CouponTemplate.objects.get(pk=template_id)


_TEMPLATE_MOVES = {
    CouponTemplate.Status.RUNNING: {CouponTemplate.Status.DRAFT, CouponTemplate.Status.PAUSED},
    CouponTemplate.Status.PAUSED: {CouponTemplate.Status.RUNNING},
    CouponTemplate.Status.STOPPED: {
        CouponTemplate.Status.DRAFT,
        CouponTemplate.Status.RUNNING,
        CouponTemplate.Status.PAUSED,
    },
}
_PACK_MOVES = {
    CouponPack.Status.RUNNING: {CouponPack.Status.PAUSED},
    CouponPack.Status.PAUSED: {CouponPack.Status.RUNNING},
    CouponPack.Status.STOPPED: {CouponPack.Status.RUNNING, CouponPack.Status.PAUSED},
}


def coupon_template_problems(*, template: CouponTemplate) -> list[str]:
    """What keeps a template from being issued, in words for the manager; empty when it is complete."""
    problems = []
    kind = CouponTemplate.Kind
    if template.kind in (kind.AMOUNT_OFF, kind.THRESHOLD) and template.value <= 0:
        problems.append("请填写减免金额。")
    if template.kind == kind.THRESHOLD and template.threshold <= template.value:
        problems.append("满减券的门槛必须大于减免金额。")
    if template.kind == kind.PERCENT_OFF:
        if not 0 < template.value < 100:
            problems.append("折扣券的折扣须在 0 到 100 之间（如 15 表示 85 折）。")
        if not template.max_discount or template.max_discount <= 0:
            problems.append("折扣券必须设置封顶金额。")
    if template.kind == kind.GIFT and not template.gift_product_id:
        problems.append("赠品券必须选择赠品。")
    if template.scope == CouponTemplate.Scope.CATEGORIES and not template.categories:
        problems.append("请填写适用品类。")
    if template.scope == CouponTemplate.Scope.SKUS and template.pk and not template.products.exists():
        problems.append("请选择适用商品。")
    if template.valid_days:
        if template.valid_from or template.valid_until:
            problems.append("固定有效期和领取后有效天数只能二选一。")
    elif not template.valid_until:
        problems.append("请设置有效期：固定有效期或领取后有效天数。")
    elif template.valid_from and template.valid_from >= template.valid_until:
        problems.append("有效期结束必须晚于开始。")
    if any(day not in range(1, 8) for day in template.weekdays or []):
        problems.append("可用星期只能是 1（周一）到 7（周日）。")
    if template.day_starts and template.day_ends and template.day_starts >= template.day_ends:
        problems.append("每日可用结束必须晚于开始。")
    if template.per_customer_limit < 1:
        problems.append("每人限领至少 1 张。")
    return problems


def coupon_template_status_set(*, template_id: int, status: str) -> CouponTemplate:
    """Start, pause, resume or stop issuing a template; stopping is final. Issued coupons stay usable."""
    template = CouponTemplate.objects.get(pk=template_id)
    if status == CouponTemplate.Status.RUNNING and (problems := coupon_template_problems(template=template)):
        raise ApplicationError("template_invalid", " ".join(problems), details=problems)
    sources = _TEMPLATE_MOVES.get(status, set())
    if not CouponTemplate.objects.filter(pk=template_id, status__in=sources).update(status=status):
        raise conflict("invalid_transition", f"「{template}」当前是{template.get_status_display()}，不能改为该状态。")
    return CouponTemplate.objects.get(pk=template_id)


def coupon_pack_status_set(*, pack_id: int, status: str) -> CouponPack:
    """Pause, resume or stop a pack; stopping is final."""
    sources = _PACK_MOVES.get(status, set())
    if not CouponPack.objects.filter(pk=pack_id, status__in=sources).update(status=status):
        pack = CouponPack.objects.get(pk=pack_id)
        raise conflict("invalid_transition", f"券包「{pack}」当前是{pack.get_status_display()}，不能改为该状态。")
    return CouponPack.objects.get(pk=pack_id)
