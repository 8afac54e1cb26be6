"""Managers' edits of templates and packs, as admin saves them: a new template is a draft, an edit saves only its
own fields and never the rules once coupons are out, a running template stays complete, a pack's edit never
touches its budget, spending or status."""

from decimal import Decimal

import pytest

from coupons.managing import (
    coupon_pack_edit,
    coupon_template_complete_require,
    coupon_template_create,
    coupon_template_edit,
)
from coupons.models import CouponPack, CouponTemplate
from coupons.sending import coupon_pack_send
from omni.errors import ApplicationError
from tests.factories import CouponPackFactory, CouponPackItemFactory, CouponTemplateFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _issued(template: CouponTemplate) -> None:
    item = CouponPackItemFactory(template=template)
    coupon_pack_send(pack_id=item.pack_id, customer_id=CustomerFactory().pk, request_no="R-1", associate=None)


def test_a_new_template_is_saved_as_a_draft_whatever_status_it_was_given():
    template = CouponTemplateFactory.build(status=CouponTemplate.Status.RUNNING)

    coupon_template_create(template=template)

    assert CouponTemplate.objects.get(pk=template.pk).status == CouponTemplate.Status.DRAFT


def test_an_edit_saves_the_fields_named_but_never_stock_or_status():
    template = CouponTemplateFactory(name="春季券", total_stock=1000)
    template.name, template.total_stock, template.status = "夏季券", 5, CouponTemplate.Status.STOPPED

    coupon_template_edit(
        template=template, fields=["name", "total_stock", "status"], rules_changed=lambda current: ["value"]
    )

    saved = CouponTemplate.objects.get(pk=template.pk)
    assert (saved.name, saved.total_stock, saved.status) == ("夏季券", 1000, CouponTemplate.Status.RUNNING)


def test_an_edit_of_the_rules_is_refused_once_coupons_were_issued_and_nothing_is_saved():
    template = CouponTemplateFactory(name="春季券", value=Decimal("50.00"))
    _issued(template)
    template.name, template.value = "夏季券", Decimal("80.00")
    judged = []

    def rules_changed(current: CouponTemplate) -> list[str]:
        judged.append((current.value, current.issued_count))
        return ["value"]

    with pytest.raises(ApplicationError) as refused:
        coupon_template_edit(template=template, fields=["name", "value"], rules_changed=rules_changed)

    assert (refused.value.code, refused.value.status_code) == ("rules_fixed", 409)
    assert refused.value.message == "已发出 1 张券，优惠规则不能再修改。"
    assert judged == [(Decimal("50.00"), 1)]  # judged against the row as stored, not the edit
    saved = CouponTemplate.objects.get(pk=template.pk)
    assert (saved.name, saved.value) == ("春季券", Decimal("50.00"))


def test_an_edit_that_leaves_the_rules_alone_is_saved_after_coupons_were_issued():
    template = CouponTemplateFactory(name="春季券")
    _issued(template)
    template.name = "夏季券"

    coupon_template_edit(template=template, fields=["name"], rules_changed=lambda current: [])

    assert CouponTemplate.objects.get(pk=template.pk).name == "夏季券"


def test_the_rules_of_a_template_not_yet_issued_may_change_without_asking():
    template = CouponTemplateFactory(value=Decimal("50.00"))
    template.value = Decimal("80.00")

    coupon_template_edit(template=template, fields=["value"], rules_changed=lambda current: pytest.fail("asked"))

    assert CouponTemplate.objects.get(pk=template.pk).value == Decimal("80.00")


def test_a_running_template_must_stay_complete_and_a_draft_need_not():
    running = CouponTemplateFactory(kind=CouponTemplate.Kind.PERCENT_OFF, value=Decimal("15"), max_discount=None)
    draft = CouponTemplateFactory(
        kind=CouponTemplate.Kind.PERCENT_OFF, value=Decimal("15"), max_discount=None, status=CouponTemplate.Status.DRAFT
    )

    with pytest.raises(ApplicationError) as refused:
        coupon_template_complete_require(template_id=running.pk)
    coupon_template_complete_require(template_id=draft.pk)
    coupon_template_complete_require(template_id=CouponTemplateFactory().pk)

    assert refused.value.code == "template_invalid"
    assert refused.value.details == ["折扣券必须设置封顶金额。"]


def test_a_packs_edit_never_saves_its_budget_spending_or_status():
    pack = CouponPackFactory(name="新客券包", budget=Decimal("1000.00"))
    pack.name, pack.budget, pack.spent, pack.status = "老客券包", Decimal("1.00"), Decimal("9.00"), "stopped"

    coupon_pack_edit(pack=pack, fields=["name", "budget", "spent", "status"])

    saved = CouponPack.objects.get(pk=pack.pk)
    assert (saved.name, saved.budget, saved.spent, saved.status) == (
        "老客券包",
        Decimal("1000.00"),
        Decimal("0.00"),
        CouponPack.Status.RUNNING,
    )
