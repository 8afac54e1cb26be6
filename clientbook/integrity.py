"""The client book's invariants (`omni.integrity`): a merge moves a customer's friendships to the record that is kept,
so no friendship stays on a merged-away customer."""

from clientbook.models import FollowRelation
from omni.integrity import Finding, integrity_check


@integrity_check("clientbook.follows", what="no friendship is left on a merged-away customer")
def follows_on_merged_customers() -> list[Finding]:
    left = (
        FollowRelation.objects.filter(customer__merged_into__isnull=False)
        .values_list("pk", "customer_id", "customer__merged_into_id")
        .order_by("pk")
    )
    return [Finding(f"friendship {pk}", f"on customer {customer}, merged into {into}") for pk, customer, into in left]
