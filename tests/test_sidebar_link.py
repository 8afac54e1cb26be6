"""Linking a WeCom-only contact to the brand's member from the sidebar: a claim answered 202 alike for every number,
merged (audited, undoable) or extended only once proven (here: a manager approves; see test_identity_claims.py)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from customers.models import AuditLog, Customer, CustomerMerge, Identity, IdentityClaim
from customers.services import customer_merge_undo, identity_claim_confirm
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, OrderFactory, StoreFactory


@pytest.fixture
def world(client, db):
    store = StoreFactory(code="SH01")
    associate = AssociateFactory(store=store)
    stub = CustomerFactory(name="微信用户", primary_store=store)
    IdentityFactory(customer=stub, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wm_stub")
    FollowRelation.objects.create(
        associate=associate, customer=stub, external_userid="wm_stub", followed_at=timezone.now()
    )
    member = CustomerFactory(name="陈静", primary_store=StoreFactory(code="BJ01"), phone="+8613812345678")
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value="+8613812345678")
    IdentityFactory(customer=member, kind=Identity.Kind.POS_MEMBER_NO, value="M0042")
    OrderFactory(customer=member, total_amount=Decimal("299.00"))
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return {"associate": associate, "stub": stub, "member": member}


def _link(client, customer, **body):
    return client.post(f"/api/v1/sidebar/customers/{customer.pk}/link/", body, content_type="application/json")


@pytest.mark.django_db
def test_an_unlinked_contact_says_so(client, world):
    profile = client.get(f"/api/v1/sidebar/customers/{world['stub'].pk}/").json()

    assert profile["linked"] is False


def _approve_claim():
    identity_claim_confirm(claim=IdentityClaim.objects.get(), via=IdentityClaim.Via.MANAGER)


@pytest.mark.django_db
def test_linking_by_phone_merges_the_contact_into_the_member_once_approved_and_can_be_undone(client, world):
    response = _link(client, world["stub"], phone="138 1234 5678")

    assert response.status_code == 202
    assert response.json()["status"] == "pending_confirmation"
    assert Customer.objects.get(pk=world["stub"].pk).merged_into_id is None
    assert client.get(f"/api/v1/sidebar/customers/{world['stub'].pk}/").json()["linked"] is False

    _approve_claim()

    stub = Customer.objects.get(pk=world["stub"].pk)
    assert stub.merged_into_id == world["member"].pk
    assert FollowRelation.objects.get().customer_id == world["member"].pk
    profile = client.get(f"/api/v1/sidebar/customers/{world['member'].pk}/").json()
    assert profile["linked"] is True
    assert profile["figures"]["orders"] == 1
    link = AuditLog.objects.get(action=AuditLog.Action.IDENTITY_LINK)
    assert (link.associate_id, link.detail["from"], link.detail["to"]) == (
        world["associate"].pk,
        world["stub"].pk,
        world["member"].pk,
    )

    customer_merge_undo(merge=CustomerMerge.objects.get())

    assert Identity.objects.get(value="wm_stub").customer_id == world["stub"].pk


@pytest.mark.django_db
def test_linking_an_unknown_member_number_adds_it_to_the_contact_once_approved(client, world):
    response = _link(client, world["stub"], member_no="M9999")

    assert response.status_code == 202
    assert not Identity.objects.filter(value="M9999").exists()

    _approve_claim()

    assert Identity.objects.get(value="M9999").customer_id == world["stub"].pk
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "no_identity"), ({"phone": "12"}, "invalid_phone")],
)
def test_bad_link_input_is_a_clear_400_and_changes_nothing(client, world, body, code):
    other = CustomerFactory(primary_store=world["associate"].store)
    IdentityFactory(customer=other, kind=Identity.Kind.POS_MEMBER_NO, value="M7")

    response = _link(client, world["stub"], **body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert CustomerMerge.objects.count() == 0
    assert Identity.objects.filter(customer=world["stub"]).count() == 1


@pytest.mark.django_db
def test_a_phone_and_member_number_of_different_members_reveal_nothing_and_merge_nothing(client, world):
    other = CustomerFactory(primary_store=world["associate"].store)
    IdentityFactory(customer=other, kind=Identity.Kind.POS_MEMBER_NO, value="M7")

    response = _link(client, world["stub"], phone="13812345678", member_no="M7")

    assert response.status_code == 202
    assert response.json() == _link(client, world["stub"], phone="13900000000", member_no="M8").json()
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db
def test_linking_someone_elses_customer_is_404(client, world):
    response = _link(client, world["member"], phone="13900000000")

    assert response.status_code == 404
    assert not Identity.objects.filter(value="+8613900000000").exists()
