"""The `community` kind of auto-tag rules (customers.tags_rules): customers who are in a group chat of the
community the rule names, now."""

from django.db.models import Exists, OuterRef, QuerySet

from communities.models import GroupMember
from customers.models import AutoTagRule, Customer
from customers.tags_rules import auto_tag_kind


@auto_tag_kind(AutoTagRule.Kind.COMMUNITY)
def community_select(rule: AutoTagRule, now) -> QuerySet:
    if rule.community_id is None:
        return Customer.objects.none().values("pk")
    inside = GroupMember.objects.filter(
        customer=OuterRef("pk"), is_member=True, chat__communities__id=rule.community_id
    )
    return Customer.objects.filter(Exists(inside), merged_into__isnull=True).values("pk")
