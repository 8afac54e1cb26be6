"""The `coupon` kind of auto-tag rules (customers.tags_rules): customers who redeemed a coupon (of the template the
rule names, or any)."""

from django.db.models import Exists, OuterRef, QuerySet

from coupons.models import Coupon
from customers.models import AutoTagRule, Customer
from customers.tags_rules import auto_tag_kind


@auto_tag_kind(AutoTagRule.Kind.COUPON)
def coupon_select(rule: AutoTagRule, now) -> QuerySet:
    redeemed = Coupon.objects.filter(customer=OuterRef("pk"), status=Coupon.Status.REDEEMED)
    if rule.coupon_template_id is not None:
        redeemed = redeemed.filter(template_id=rule.coupon_template_id)
    return Customer.objects.filter(Exists(redeemed), merged_into__isnull=True).values("pk")
