"""One ID's invariants (`omni.integrity`): every merged-away record leads, through its chain of merges, to a record
that is not merged (`customer_merge` merges only unmerged records, so a loop means the rows were changed by hand)."""

from customers.models import Customer
from customers.selectors import customer_survivor_ids
from omni.integrity import Finding, integrity_check


@integrity_check("customers.merge_chains", what="every chain of merges ends at a customer that is not merged")
def merge_chains() -> list[Finding]:
    survivors = customer_survivor_ids()
    ended = set(
        Customer.objects.filter(pk__in=set(survivors.values()), merged_into__isnull=True).values_list("pk", flat=True)
    )
    return [
        Finding(f"customer {pk}", f"merged, but its chain of merges leads back to {survivor} and never ends")
        for pk, survivor in sorted(survivors.items())
        if survivor not in ended
    ]
