"""`manage.py check_integrity` verifies the ledgers from their rows: clean data written through the services passes,
and each invariant broken by hand (as a bad restore or a manual UPDATE would) is reported by its check, naming the
row, with exit status 1."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from clientbook.models import FollowRelation
from coupons.models import Coupon, CouponPack, CouponTemplate, CustomerHolding, IssueRequest, Redemption
from coupons.redemption import OrderIn, coupon_return
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Customer
from customers.services import customer_merge
from tests.factories import AssociateFactory, CouponPackItemFactory, CustomerFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

CHECKS = (
    "campaigns.recipients",
    "clientbook.follows",
    "coupons.holdings",
    "coupons.issued_count",
    "coupons.keys",
    "coupons.pack_spent",
    "coupons.redemptions",
    "customers.merge_chains",
)


@pytest.fixture
def ledgers():
    """A pack sent to two customers, one coupon used and given back, another used, and a merge that moved a
    friendship: every ledger holds rows, all written by the services."""
    store = StoreFactory()
    associate = AssociateFactory(store=store)
    item = CouponPackItemFactory(quantity=2, template__per_customer_limit=2)
    kept, merged = CustomerFactory(), CustomerFactory()
    follow = FollowRelation.objects.create(
        associate=associate, customer=merged, external_userid="wm-merged", followed_at=dt.datetime.now(dt.UTC)
    )
    first = coupon_pack_send(pack_id=item.pack_id, customer_id=kept.pk, request_no="send-1", associate=associate)
    second = coupon_pack_send(pack_id=item.pack_id, customer_id=merged.pk, request_no="send-2", associate=None)
    order = OrderIn(channel="store", store=store, order_ref="POS-1", amount=Decimal("999.00"))
    coupon_redeem(code=first.coupons[0].code, order=order, request_no="redeem-1")
    coupon_return(code=first.coupons[0].code, channel="store", order_ref="POS-1", request_no="return-1")
    other = OrderIn(channel="store", store=store, order_ref="POS-2", amount=Decimal("999.00"))
    coupon_redeem(code=first.coupons[1].code, order=other, request_no="redeem-2")
    customer_merge(source=merged, target=kept)
    return {
        "item": item,
        "kept": kept,
        "merged": merged,
        "follow": follow,
        "coupons": [*first.coupons, *second.coupons],
    }


def check_integrity() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_integrity", stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def test_ledgers_written_by_the_services_pass_every_check(ledgers):
    status, report = check_integrity()

    assert status == 0, report
    assert [line.split()[1].rstrip(":") for line in report.splitlines() if line.startswith("ok")] == list(CHECKS)
    assert FollowRelation.objects.get(pk=ledgers["follow"].pk).customer_id == ledgers["kept"].pk


def _issued_count(ledgers):
    CouponTemplate.objects.filter(pk=ledgers["item"].template_id).update(issued_count=3)
    return "coupons.issued_count", f"template {ledgers['item'].template_id}: issued_count 3, coupons 4"


def _pack_spent(ledgers):
    pack = CouponPack.objects.get(pk=ledgers["item"].pack_id)
    CouponPack.objects.filter(pk=pack.pk).update(spent=pack.spent + 1)
    return "coupons.pack_spent", f"pack {pack.pk}: spent {pack.spent + 1}"


def _holding(ledgers):
    CustomerHolding.objects.filter(customer=ledgers["kept"]).update(issued=1)
    return "coupons.holdings", f"× customer {ledgers['kept'].pk}: holding 1, coupons 2"


def _holding_missing(ledgers):
    CustomerHolding.objects.filter(customer=ledgers["merged"]).delete()
    return "coupons.holdings", f"× customer {ledgers['merged'].pk}: no holding, coupons 2"


def _holding_dangling(ledgers):
    # The holding's keys carry no database constraint: a raw write can point one at a customer that is not there.
    CustomerHolding.objects.create(template_id=ledgers["item"].template_id, customer_id=987654321, issued=0)
    return "coupons.holdings", "× customer 987654321: holding of a template or customer that does not exist"


def _coupon_of_no_request(ledgers):
    # A coupon's keys carry no database constraint: a raw write can point it at an issue request that is not there.
    coupon = ledgers["coupons"][2]
    Coupon.objects.filter(pk=coupon.pk).update(issue_request_id=987654321)
    return "coupons.keys", f"coupon {coupon.pk}: template {coupon.template_id}, issue request 987654321"


def _coupon_of_another_associate(ledgers):
    # An associate's deletion is refused by their issue requests alone: a coupon's associate must be its request's.
    coupon = ledgers["coupons"][2]
    other = AssociateFactory(store=StoreFactory())
    Coupon.objects.filter(pk=coupon.pk).update(associate=other)
    return "coupons.keys", f"coupon {coupon.pk}: associate {other.pk}: not the associate of its issue request"


def _request_of_no_customer(ledgers):
    # An issue request's customer key carries no database constraint either.
    request = ledgers["coupons"][2].issue_request
    IssueRequest.objects.filter(pk=request.pk).update(customer_id=987654321)
    return "coupons.keys", f"issue request {request.pk}: customer 987654321, associate"


def _request_of_no_pack(ledgers):
    # Nor its pack's (whose spent amount follows, so that only the key is wrong).
    request = ledgers["coupons"][2].issue_request
    IssueRequest.objects.filter(pk=request.pk).update(pack_id=987654321)
    CouponPack.objects.filter(pk=request.pack_id).update(spent=F("spent") - request.cost)
    return "coupons.keys", f"issue request {request.pk}: customer {request.customer_id}, associate"


def _redeemed_twice(ledgers):
    used = Redemption.objects.filter(request_no="redeem-2").get()
    Redemption.objects.create(
        **{f.attname: getattr(used, f.attname) for f in Redemption._meta.concrete_fields if not f.primary_key}
        | {"request_no": "redeem-2-again"}
    )
    return "coupons.redemptions", f"coupon {used.coupon_id}: status redeemed, redemptions net of returns 2"


def _status_without_ledger(ledgers):
    unused = ledgers["coupons"][2]
    Coupon.objects.filter(pk=unused.pk).update(status=Coupon.Status.REDEEMED)
    return "coupons.redemptions", f"coupon {unused.pk}: status redeemed, redemptions net of returns 0"


def _merge_loop(ledgers):
    FollowRelation.objects.all().delete()  # else the friendship, on a record the loop merges, is reported too
    Customer.objects.filter(pk=ledgers["kept"].pk).update(merged_into=ledgers["merged"].pk)
    return "customers.merge_chains", f"customer {ledgers['kept'].pk}: merged, but its chain of merges"


def _follow_left_behind(ledgers):
    FollowRelation.objects.filter(pk=ledgers["follow"].pk).update(customer=ledgers["merged"])
    return "clientbook.follows", f"friendship {ledgers['follow'].pk}: on customer {ledgers['merged'].pk}, merged into"


@pytest.mark.parametrize(
    "corrupt",
    [
        _issued_count,
        _pack_spent,
        _holding,
        _holding_missing,
        _holding_dangling,
        _coupon_of_no_request,
        _coupon_of_another_associate,
        _request_of_no_customer,
        _request_of_no_pack,
        _redeemed_twice,
        _status_without_ledger,
        _merge_loop,
        _follow_left_behind,
    ],
)
def test_each_broken_invariant_is_reported_by_its_check_with_the_row(ledgers, corrupt):
    check, finding = corrupt(ledgers)

    status, report = check_integrity()

    assert status == 1
    broken = [line.split()[1].rstrip(":") for line in report.splitlines() if line.startswith("BROKEN")]
    assert broken == [check], report
    assert finding in report


def test_a_recipient_whose_chunk_is_another_associates_is_reported_and_a_sound_one_is_not(ledgers):
    """The recipient's chunk and associate keys carry no database constraint: the check stands in for it."""
    ours, other = AssociateFactory(), AssociateFactory()
    campaign = Campaign.objects.create(name="会员日", created_by=UserFactory(), status="sending", text="x")
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=ours, index=0, size=2)
    fields = {"campaign": campaign, "chunk": chunk, "status": "queued", "created_at": ledgers["kept"].created_at}
    CampaignRecipient.objects.create(customer=ledgers["kept"], associate=ours, **fields)
    wrong = CampaignRecipient.objects.create(customer=ledgers["merged"], associate=other, **fields)

    status, report = check_integrity()

    assert status == 1
    broken = [line.split()[1].rstrip(":") for line in report.splitlines() if line.startswith("BROKEN")]
    assert broken == ["campaigns.recipients"], report
    assert f"recipient {wrong.pk}:" in report
    assert report.count("recipient ") == 1, report
