"""The coupon ledgers' invariants (`omni.integrity`): the counters the sends move by guarded UPDATEs agree with the rows
they count, and the redemption ledger agrees with each coupon's status."""

from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from associates.models import Associate, Store
from coupons.models import Coupon, CouponPack, CouponTemplate, CustomerHolding, IssueRequest, Redemption
from customers.models import Customer
from omni.integrity import Finding, integrity_check


@integrity_check("coupons.issued_count", what="each template's issued count equals its coupons")
def template_issued_counts() -> list[Finding]:
    wrong = (
        CouponTemplate.objects.annotate(coupons_n=Count("coupons"))
        .exclude(issued_count=F("coupons_n"))
        .values_list("pk", "issued_count", "coupons_n")
        .order_by("pk")
    )
    return [Finding(f"template {pk}", f"issued_count {counted}, coupons {rows}") for pk, counted, rows in wrong]


@integrity_check("coupons.pack_spent", what="each pack's spent amount equals the cost of its issue requests")
def pack_spent() -> list[Finding]:
    costs = IssueRequest.objects.filter(pack=OuterRef("pk")).values("pack").annotate(total=Sum("cost")).values("total")
    money = DecimalField(max_digits=14, decimal_places=2)
    wrong = (
        CouponPack.objects.annotate(
            cost=Coalesce(Subquery(costs, output_field=money), Value(Decimal(0)), output_field=money)
        )
        .exclude(spent=F("cost"))
        .values_list("pk", "spent", "cost")
        .order_by("pk")
    )
    return [Finding(f"pack {pk}", f"spent {spent}, issue requests' cost {cost}") for pk, spent, cost in wrong]


@integrity_check("coupons.holdings", what="each customer's holding of a template equals the coupons issued to them")
def customer_holdings() -> list[Finding]:
    issued = (
        Coupon.objects.filter(template=OuterRef("template_id"), customer=OuterRef("customer_id"))
        .values("template")
        .annotate(n=Count("pk"))
        .values("n")
    )
    wrong = (
        CustomerHolding.objects.annotate(coupons_n=Coalesce(Subquery(issued, output_field=IntegerField()), Value(0)))
        .exclude(issued=F("coupons_n"))
        .values_list("template_id", "customer_id", "issued", "coupons_n")
        .order_by("template_id", "customer_id")
    )
    findings = [
        Finding(f"template {template} × customer {customer}", f"holding {held}, coupons {rows}")
        for template, customer, held, rows in wrong
    ]
    # The holding's keys carry no database constraint (see CustomerHolding): a row pointing nowhere is a finding.
    dangling = (
        CustomerHolding.objects.exclude(Exists(Customer.objects.filter(pk=OuterRef("customer_id"))))
        | CustomerHolding.objects.exclude(Exists(CouponTemplate.objects.filter(pk=OuterRef("template_id"))))
    ).values_list("template_id", "customer_id")
    findings += [
        Finding(f"template {template} × customer {customer}", "holding of a template or customer that does not exist")
        for template, customer in dangling.order_by("template_id", "customer_id")
    ]
    holding = CustomerHolding.objects.filter(template=OuterRef("template_id"), customer=OuterRef("customer_id"))
    unheld = (
        Coupon.objects.exclude(Exists(holding))
        .values("template_id", "customer_id")
        .annotate(n=Count("pk"))
        .order_by("template_id", "customer_id")
    )
    findings += [
        Finding(f"template {row['template_id']} × customer {row['customer_id']}", f"no holding, coupons {row['n']}")
        for row in unheld
    ]
    return findings


@integrity_check(
    "coupons.keys",
    what="each coupon's template and issue request exist, and it is its request's customer's and associate's; each "
    "issue request's customer, associate, store and pack exist",
)
def coupon_keys() -> list[Finding]:
    request = IssueRequest.objects.filter(pk=OuterRef("issue_request_id"), customer_id=OuterRef("customer_id"))
    wrong = (
        Coupon.objects.exclude(Exists(request))
        | Coupon.objects.exclude(Exists(CouponTemplate.objects.filter(pk=OuterRef("template_id"))))
    ).values_list("pk", "template_id", "issue_request_id", "customer_id")
    # The coupon's associate is its request's: the request's PROTECT keeps the associate (see Coupon.associate).
    sender = IssueRequest.objects.filter(pk=OuterRef("issue_request_id"), associate_id=OuterRef("associate_id"))
    not_senders = Coupon.objects.filter(associate_id__isnull=False).exclude(Exists(sender))
    return (
        [
            Finding(
                f"coupon {pk}",
                f"template {template}, issue request {request}, customer {customer}: no such template, or no such "
                "request of that customer",
            )
            for pk, template, request, customer in wrong.order_by("pk")
        ]
        + [
            Finding(f"coupon {pk}", f"associate {associate}: not the associate of its issue request {request}")
            for pk, associate, request in not_senders.values_list("pk", "associate_id", "issue_request_id").order_by(
                "pk"
            )
        ]
        + _request_keys()
    )


def _request_keys() -> list[Finding]:
    """An issue request's keys carry no database constraint (see IssueRequest)."""
    absent = (
        IssueRequest.objects.exclude(Exists(Customer.objects.filter(pk=OuterRef("customer_id"))))
        | IssueRequest.objects.exclude(Exists(CouponPack.objects.filter(pk=OuterRef("pack_id"))))
        | IssueRequest.objects.filter(associate_id__isnull=False).exclude(
            Exists(Associate.objects.filter(pk=OuterRef("associate_id")))
        )
        | IssueRequest.objects.filter(store_id__isnull=False).exclude(
            Exists(Store.objects.filter(pk=OuterRef("store_id")))
        )
    ).values_list("pk", "customer_id", "associate_id", "store_id", "pack_id")
    return [
        Finding(
            f"issue request {pk}",
            f"customer {customer}, associate {associate}, store {store}, pack {pack}: one of them does not exist",
        )
        for pk, customer, associate, store, pack in absent.order_by("pk")
    ]


@integrity_check("coupons.redemptions", what="each coupon is used at most once net of returns, as its status says")
def redemption_ledger() -> list[Finding]:
    redeem, give_back = Redemption.Kind.REDEEM, Redemption.Kind.RETURN
    wrong = (
        Coupon.objects.annotate(
            used=Count("redemptions", filter=Q(redemptions__kind=redeem))
            - Count("redemptions", filter=Q(redemptions__kind=give_back))
        )
        .filter(
            Q(used__lt=0)
            | Q(used__gt=1)
            | Q(used=1) & ~Q(status=Coupon.Status.REDEEMED)
            | Q(used=0) & Q(status=Coupon.Status.REDEEMED)
        )
        .values_list("pk", "status", "used")
        .order_by("pk")
    )
    return [
        Finding(f"coupon {pk}", f"status {status}, redemptions net of returns {used}") for pk, status, used in wrong
    ]
