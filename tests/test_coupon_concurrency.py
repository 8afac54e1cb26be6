"""Coupons under real concurrency on PostgreSQL: many threads, each its own connection and transaction."""

from collections import Counter
from decimal import Decimal

import pytest

from coupons.models import Coupon, CouponPack, CouponTemplate, CustomerHolding, IssueRequest, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    StoreFactory,
)
from tests.threads import results_and_codes, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_32_threads_redeeming_one_coupon_give_exactly_one_redemption():
    store = StoreFactory()
    item = CouponPackItemFactory()
    sent = coupon_pack_send(
        pack_id=item.pack_id,
        customer_id=CustomerFactory().pk,
        request_no="send-1",
        associate=AssociateFactory(store=store),
    )
    code = sent.coupons[0].code

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: coupon_redeem(
                code=code,
                order=OrderIn(channel="store", store=store, order_ref=f"POS-{i}", amount=Decimal("399.00")),
                request_no=f"redeem-{i}",
            ),
            each=range(32),
        )
    )

    assert len(results) == 1 and results[0].created is True
    assert codes == Counter({"already_redeemed": 31})
    assert Redemption.objects.count() == 1
    assert Coupon.objects.get(code=code).status == Coupon.Status.REDEEMED


def test_32_replays_of_one_redemption_all_return_it_and_write_it_once():
    store = StoreFactory()
    item = CouponPackItemFactory()
    sent = coupon_pack_send(pack_id=item.pack_id, customer_id=CustomerFactory().pk, request_no="s", associate=None)
    order = OrderIn(channel="store", store=store, order_ref="POS-1", amount=Decimal("300.00"))

    results, codes = results_and_codes(
        run_concurrently(
            lambda: coupon_redeem(code=sent.coupons[0].code, order=order, request_no="till-7"), contenders=32
        )
    )

    assert codes == Counter()
    assert len(results) == 32 and len({r.redemption.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Redemption.objects.count() == 1


def test_64_threads_sending_a_pack_whose_template_has_stock_10_issue_exactly_10_whole_packs():
    scarce = CouponTemplateFactory(total_stock=10)
    plenty = CouponTemplateFactory(
        total_stock=1000, kind="amount_off", value=Decimal("10"), threshold=0, per_customer_limit=2
    )
    pack = CouponPackFactory(daily_quota=1000)
    CouponPackItemFactory(pack=pack, template=plenty, quantity=2)
    CouponPackItemFactory(pack=pack, template=scarce, quantity=1)
    associate = AssociateFactory()
    customers = [CustomerFactory().pk for _ in range(64)]

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: coupon_pack_send(
                pack_id=pack.pk, customer_id=customers[i], request_no=f"send-{i}", associate=associate
            ),
            each=range(64),
        )
    )

    assert len(results) == 10, codes
    assert codes == Counter({"out_of_stock": 54})
    assert IssueRequest.objects.count() == 10
    assert Coupon.objects.filter(template=scarce).count() == 10
    assert Coupon.objects.filter(template=plenty).count() == 20  # nothing half-issued: 2 + 1 per served customer
    per_customer = Counter(Coupon.objects.values_list("customer_id", flat=True))
    assert sorted(per_customer.values()) == [3] * 10
    assert CouponTemplate.objects.get(pk=scarce.pk).issued_count == 10
    assert CouponTemplate.objects.get(pk=plenty.pk).issued_count == 20
    assert CouponPack.objects.get(pk=pack.pk).spent == Decimal("700.00")  # 10 × (50 + 2 × 10)


def test_16_concurrent_sends_to_one_customer_with_a_limit_of_one_issue_one():
    item = CouponPackItemFactory(
        template=CouponTemplateFactory(per_customer_limit=1), pack=CouponPackFactory(daily_quota=100)
    )
    associate, customer = AssociateFactory(), CustomerFactory()

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: coupon_pack_send(
                pack_id=item.pack_id, customer_id=customer.pk, request_no=f"s-{i}", associate=associate
            ),
            each=range(16),
        )
    )

    assert len(results) == 1
    assert codes == Counter({"limit_reached": 15})
    assert Coupon.objects.filter(customer=customer).count() == 1
    assert CustomerHolding.objects.get(customer=customer).issued == 1
    assert CouponTemplate.objects.get(pk=item.template_id).issued_count == 1


def test_16_replays_of_one_send_return_the_same_coupons_and_issue_them_once():
    item = CouponPackItemFactory()
    associate, customer = AssociateFactory(), CustomerFactory()

    results, codes = results_and_codes(
        run_concurrently(
            lambda: coupon_pack_send(
                pack_id=item.pack_id, customer_id=customer.pk, request_no="once", associate=associate
            ),
            contenders=16,
        )
    )

    assert codes == Counter()
    assert len({tuple(c.code for c in r.coupons) for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Coupon.objects.count() == 1 and IssueRequest.objects.count() == 1


def test_an_associates_daily_quota_holds_under_concurrent_sends():
    pack = CouponPackFactory(daily_quota=3)
    CouponPackItemFactory(pack=pack)
    associate = AssociateFactory()
    customers = [CustomerFactory().pk for _ in range(12)]

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: coupon_pack_send(
                pack_id=pack.pk, customer_id=customers[i], request_no=f"q-{i}", associate=associate
            ),
            each=range(12),
        )
    )

    assert len(results) == 3
    assert codes == Counter({"quota_reached": 9})
    assert IssueRequest.objects.count() == 3


def test_a_packs_budget_holds_under_concurrent_sends():
    pack = CouponPackFactory(budget=Decimal("250.00"), daily_quota=100)
    CouponPackItemFactory(pack=pack)  # 50 a pack
    associate = AssociateFactory()
    customers = [CustomerFactory().pk for _ in range(12)]

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: coupon_pack_send(
                pack_id=pack.pk, customer_id=customers[i], request_no=f"b-{i}", associate=associate
            ),
            each=range(12),
        )
    )

    assert len(results) == 5
    assert codes == Counter({"budget_exhausted": 7})
    assert CouponPack.objects.get(pk=pack.pk).spent == Decimal("250.00")


def test_a_campaign_racing_sidebar_sends_never_issues_past_the_stock():
    from coupons.sending_many import coupon_pack_send_many

    template = CouponTemplateFactory(total_stock=10)
    pack = CouponPackFactory(daily_quota=1000)
    CouponPackItemFactory(pack=pack, template=template)
    associate = AssociateFactory()
    campaign = [CustomerFactory().pk for _ in range(8)]
    singles = [CustomerFactory().pk for _ in range(8)]

    def attempt(i: int):
        if i == 0:
            return coupon_pack_send_many(
                pack_id=pack.pk, recipients=[(c, None) for c in campaign], request_prefix="cmp", batch_size=3
            ).issued
        return (
            1
            if coupon_pack_send(pack_id=pack.pk, customer_id=singles[i - 1], request_no=f"tap-{i}", associate=associate)
            else 0
        )

    results, codes = results_and_codes(run_concurrently(attempt, each=range(9)))

    assert set(codes) <= {"out_of_stock"}
    assert sum(results) == 10
    assert Coupon.objects.count() == 10 == CouponTemplate.objects.get(pk=template.pk).issued_count
    assert CustomerHolding.objects.count() == 10


def test_campaign_workers_sending_side_by_side_serve_each_customer_once_within_the_stock():
    """Four workers send the same pack at once (a campaign's chunks on several Celery workers), two of them to the
    same customers under another campaign's request numbers: batches write their rows unlocked and take the counters
    under the locks, so the per-customer limit of one and the stock of 50 still hold exactly."""

    template = CouponTemplateFactory(total_stock=50, per_customer_limit=1)
    pack = CouponPackFactory(daily_quota=1000)
    CouponPackItemFactory(pack=pack, template=template)
    customers = [CustomerFactory().pk for _ in range(40)]

    results, codes = _two_campaigns_in_two_shares_each(pack, customers)

    assert not codes
    assert sum(sent.issued for sent in results) == 40
    assert sum(sent.skipped.get("limit_reached", 0) for sent in results) == 40
    assert Coupon.objects.count() == 40 == CouponTemplate.objects.get(pk=template.pk).issued_count
    assert sorted(Coupon.objects.values_list("customer_id", flat=True)) == sorted(customers)
    assert set(CustomerHolding.objects.values_list("issued", flat=True)) == {1}
    assert IssueRequest.objects.count() == 40


def test_campaign_workers_racing_for_the_last_stock_issue_exactly_the_stock():
    from coupons.sending_many import coupon_pack_send_many

    template = CouponTemplateFactory(total_stock=25)
    pack = CouponPackFactory(daily_quota=1000)
    CouponPackItemFactory(pack=pack, template=template)
    shares = [[CustomerFactory().pk for _ in range(12)] for _ in range(4)]

    def attempt(i: int):
        return coupon_pack_send_many(
            pack_id=pack.pk, recipients=[(c, None) for c in shares[i]], request_prefix="cmp", batch_size=5
        )

    results, codes = results_and_codes(run_concurrently(attempt, each=range(4)))

    assert not codes
    assert sum(sent.issued for sent in results) == 25
    assert sum(sent.skipped.get("out_of_stock", 0) for sent in results) == 48 - 25
    assert Coupon.objects.count() == 25 == CouponTemplate.objects.get(pk=template.pk).issued_count
    assert IssueRequest.objects.count() == 25 == CustomerHolding.objects.count()


def test_campaign_workers_racing_over_customers_who_already_hold_the_template_stop_at_their_limit():
    """As above, but every customer already holds one coupon of a template allowing two: the batches read the
    holdings before the locks and increment them under the locks only where the limit still allows, so each
    customer ends with exactly two, whichever campaign's batch came second being refused for them."""
    from coupons.sending_many import coupon_pack_send_many

    template = CouponTemplateFactory(total_stock=500, per_customer_limit=2)
    pack = CouponPackFactory(daily_quota=1000)
    CouponPackItemFactory(pack=pack, template=template)
    customers = [CustomerFactory().pk for _ in range(40)]
    coupon_pack_send_many(pack_id=pack.pk, recipients=[(c, None) for c in customers], request_prefix="before")

    results, codes = _two_campaigns_in_two_shares_each(pack, customers)

    assert not codes
    assert sum(sent.issued for sent in results) == 40
    assert sum(sent.skipped.get("limit_reached", 0) for sent in results) == 40
    assert Coupon.objects.count() == 80 == CouponTemplate.objects.get(pk=template.pk).issued_count
    assert Counter(Coupon.objects.values_list("customer_id", flat=True)) == dict.fromkeys(customers, 2)
    assert set(CustomerHolding.objects.values_list("issued", flat=True)) == {2}


def _two_campaigns_in_two_shares_each(pack, customers: list[int]):
    """Four threads at once: two campaigns (request prefixes) of the pack, each sent in two halves of `customers`
    with batches of four; their results and refusal codes."""
    from coupons.sending_many import coupon_pack_send_many

    half = len(customers) // 2
    shares = [customers[:half], customers[half:], customers[:half], customers[half:]]

    def attempt(i: int):
        return coupon_pack_send_many(
            pack_id=pack.pk, recipients=[(c, None) for c in shares[i]], request_prefix=f"cmp{i // 2}", batch_size=4
        )

    return results_and_codes(run_concurrently(attempt, each=range(4)))
