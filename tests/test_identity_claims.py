"""An associate's typed phone or member number is a claim, never proof (issue 19, finding 1).

Linking a chat contact answers the same 202 whoever owns the number, or nobody; nothing merges and nothing is
added until the customer confirms in their WeChat (tests/test_identity_claim_wechat.py), the brand's system sends
the identity with the contact's, or a manager of the owner's store approves the queued conflict in admin.
"""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from customers.ingestion import api_key_create
from customers.models import AuditLog, Channel, Customer, CustomerMerge, Identity, IdentityClaim, IdentityConflict
from customers.services import (
    customer_merge_undo,
    identity_claim_confirm,
    identity_claim_create,
    identity_conflict_dismiss,
)
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    StoreFactory,
    UserFactory,
)
from tests.threads import run_concurrently

MEMBER_PHONE = "+8613812345678"


@pytest.fixture
def stores(client, db):
    """Zhangmin (SH01) has two WeChat contacts: 1110, who gave her own phone, and a stub known only by WeChat.
    Customer 1 is BJ01's member, with a phone, a member number and an order."""
    sh01, bj01 = StoreFactory(code="SH01"), StoreFactory(code="BJ01")
    zhangmin = AssociateFactory(store=sh01, wecom_userid="zhangmin")
    contact = CustomerFactory(name="联系人", primary_store=sh01, phone="+8613700001110")
    IdentityFactory(customer=contact, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wm_1110")
    IdentityFactory(customer=contact, kind=Identity.Kind.PHONE, value="+8613700001110")
    stub = CustomerFactory(name="微信用户", primary_store=sh01)
    IdentityFactory(customer=stub, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wm_stub")
    IdentityFactory(customer=stub, kind=Identity.Kind.WECHAT_UNIONID, value="ou-stub")
    for customer, external_userid in [(contact, "wm_1110"), (stub, "wm_stub")]:
        FollowRelation.objects.create(
            associate=zhangmin, customer=customer, external_userid=external_userid, followed_at=timezone.now()
        )
    member = CustomerFactory(name="陈静", primary_store=bj01, phone=MEMBER_PHONE)
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=MEMBER_PHONE)
    IdentityFactory(customer=member, kind=Identity.Kind.POS_MEMBER_NO, value="M0042")
    OrderFactory(customer=member, store=bj01, total_amount=Decimal("299.00"))
    session = client.session
    session[SESSION_KEY] = zhangmin.pk
    session.save()
    return {"sh01": sh01, "bj01": bj01, "associate": zhangmin, "contact": contact, "stub": stub, "member": member}


def _link(client, customer, **body):
    return client.post(f"/api/v1/sidebar/customers/{customer.pk}/link/", body, content_type="application/json")


def _manager(store, username):
    user = UserFactory(username=username)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_identityconflict", "change_identityconflict"])
    )
    if store is not None:
        store.managers.add(user)
    return user


def _approve(client, user, conflict):
    client.force_login(user)
    return client.post(
        "/admin/customers/identityconflict/", {"action": "merge_into_linked", "_selected_action": [conflict.pk]}
    )


def _unmerged(customer) -> bool:
    return Customer.objects.get(pk=customer.pk).merged_into_id is None


@pytest.mark.django_db
def test_finding1_link_by_typed_phone_cannot_take_over_another_stores_customer(client, stores):
    member, contact = stores["member"], stores["contact"]
    assert client.get(f"/api/v1/sidebar/customers/{member.pk}/").status_code == 404

    response = _link(client, contact, phone="138 1234 5678")

    assert response.status_code == 202
    assert response.json() == {"status": "pending_confirmation", "message": "已提交，等待店长审核", "card": None}
    assert _unmerged(contact)
    assert CustomerMerge.objects.count() == 0
    assert Identity.objects.get(value=MEMBER_PHONE).customer_id == member.pk
    assert client.get(f"/api/v1/sidebar/customers/{member.pk}/").status_code == 404
    assert client.get(f"/api/v1/sidebar/customers/{member.pk}/orders/").status_code == 404
    claim = IdentityClaim.objects.get()
    assert (claim.customer_id, claim.status, claim.identities) == (
        contact.pk,
        IdentityClaim.Status.PENDING,
        [{"kind": "phone", "value": MEMBER_PHONE}],
    )
    conflict = IdentityConflict.objects.get()
    assert (conflict.source, conflict.status, conflict.linked_to_id) == ("sidebar_claim", "open", member.pk)
    assert set(conflict.customers.values_list("pk", flat=True)) == {contact.pk, member.pk}
    assert AuditLog.objects.filter(action=AuditLog.Action.IDENTITY_CLAIM, associate=stores["associate"]).count() == 1
    assert not AuditLog.objects.filter(action=AuditLog.Action.IDENTITY_LINK).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("oa", [False, True])
def test_the_answer_is_the_same_whoever_owns_the_number_or_nobody(client, stores, settings, oa):
    if oa:
        settings.WECHAT_OA_APPID, settings.WECHAT_OA_SECRET = "wxclaimtest", "claim-secret"
    bodies = [
        _link(client, stores["contact"], phone="13812345678"),  # BJ01's member
        _link(client, stores["contact"], phone="13900000000"),  # nobody
        _link(client, stores["contact"], phone="13700001110"),  # the contact's own
        _link(client, stores["stub"], member_no="M0042"),  # BJ01's member
        _link(client, stores["stub"], member_no="M9999"),  # nobody
    ]

    assert {response.status_code for response in bodies} == {202}
    shapes = set()
    for response in bodies:
        body = response.json()
        if oa:
            link = body["card"].pop("link")
            assert link.startswith(f"{settings.OMNI_PUBLIC_URL.rstrip('/')}/l/")
        shapes.add(repr(body))
    assert len(shapes) == 1
    assert CustomerMerge.objects.count() == 0
    assert not Identity.objects.filter(value__in=["+8613900000000", "M9999"]).exists()
    assert IdentityClaim.objects.filter(status=IdentityClaim.Status.PENDING).count() == 5


@pytest.mark.django_db
def test_bad_link_input_is_a_clear_400_and_records_nothing(client, stores):
    for body, code in [({}, "no_identity"), ({"phone": "12"}, "invalid_phone")]:
        response = _link(client, stores["stub"], **body)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
    assert IdentityClaim.objects.count() == IdentityConflict.objects.count() == 0


@pytest.mark.django_db
def test_a_phone_and_member_number_of_different_members_answer_the_same_and_need_a_manager(client, stores):
    other = CustomerFactory(primary_store=stores["bj01"])
    IdentityFactory(customer=other, kind=Identity.Kind.POS_MEMBER_NO, value="M7")

    response = _link(client, stores["stub"], phone="13812345678", member_no="M7")

    assert response.status_code == 202
    claim = IdentityClaim.objects.get()
    with pytest.raises(ApplicationError) as error:
        identity_claim_confirm(claim=claim, via=IdentityClaim.Via.MANAGER, actor=UserFactory(is_superuser=True))
    assert error.value.code == "identity_ambiguous"
    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.BRAND_SYSTEM)
    assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db
def test_a_replayed_request_id_returns_the_first_claim_and_queues_one_conflict(client, stores):
    for _ in range(3):
        assert _link(client, stores["stub"], member_no="M0042", request_id="req-1").status_code == 202

    assert IdentityClaim.objects.count() == IdentityConflict.objects.count() == 1
    response = _link(client, stores["contact"], member_no="M0042", request_id="req-1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_id_reused"
    assert IdentityClaim.objects.count() == 1


@pytest.mark.django_db
def test_the_same_claim_typed_twice_is_one_claim(client, stores):
    _link(client, stores["stub"], member_no="M0042")
    _link(client, stores["stub"], member_no=" M0042 ")

    assert IdentityClaim.objects.count() == IdentityConflict.objects.count() == 1


@pytest.mark.django_db
def test_a_claim_across_two_stores_is_left_to_hq_who_approves_it_and_the_contact_is_merged(client, stores):
    contact, member = stores["stub"], stores["member"]
    _link(client, contact, member_no="M0042")
    conflict = IdentityConflict.objects.get()
    sh01_manager, bj01_manager = _manager(stores["sh01"], "manager_sh01"), _manager(stores["bj01"], "manager_bj01")
    hq = UserFactory(username="hq", is_superuser=True, is_staff=True)

    # The conflict names customers of two stores: neither store's manager sees or settles it (admin scoping).
    for manager in (sh01_manager, bj01_manager):
        client.force_login(manager)
        assert f"冲突 #{conflict.pk}" not in client.get("/admin/customers/identityconflict/").content.decode()
        assert client.get(f"/admin/customers/identityconflict/{conflict.pk}/change/").status_code in (302, 404)
        _approve(client, manager, conflict)
        assert _unmerged(contact)
        assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING

    client.force_login(hq)
    assert f"冲突 #{conflict.pk}" in client.get("/admin/customers/identityconflict/").content.decode()
    change = client.get(f"/admin/customers/identityconflict/{conflict.pk}/change/")
    assert change.status_code == 200
    assert f"为客户 #{contact.pk} 声明 POS 会员号 M0****42" in change.content.decode()
    _approve(client, hq, conflict)

    assert Customer.objects.get(pk=contact.pk).merged_into_id == member.pk
    claim = IdentityClaim.objects.get()
    assert (claim.status, claim.confirmed_via, claim.resolved_by_id) == ("confirmed", "manager", hq.pk)
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.MERGED
    assert FollowRelation.objects.get(external_userid="wm_stub").customer_id == member.pk
    link = AuditLog.objects.get(action=AuditLog.Action.IDENTITY_LINK)
    assert link.detail == {
        "claim": claim.pk,
        "via": "manager",
        "from": contact.pk,
        "to": member.pk,
        "identities": ["pos_member_no"],
    }


@pytest.mark.django_db
def test_a_manager_may_merge_customers_whose_phones_clash_after_review(client, stores):
    _link(client, stores["contact"], phone="13812345678")

    _approve(client, UserFactory(username="hq", is_superuser=True, is_staff=True), IdentityConflict.objects.get())

    assert Customer.objects.get(pk=stores["contact"].pk).merged_into_id == stores["member"].pk


@pytest.mark.django_db
def test_a_free_number_is_added_to_the_contact_only_when_approved(client, stores):
    contact = stores["stub"]
    _link(client, contact, phone="13900000000")
    assert not Identity.objects.filter(value="+8613900000000").exists()
    conflict = IdentityConflict.objects.get()
    assert conflict.linked_to_id == contact.pk

    _approve(client, _manager(stores["sh01"], "manager_sh01"), conflict)

    assert Identity.objects.get(value="+8613900000000").customer_id == contact.pk
    assert Customer.objects.get(pk=contact.pk).phone == "+8613900000000"
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.CONFIRMED
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db
def test_customers_that_each_hold_a_phone_are_never_merged_on_a_customers_or_brands_word(stores):
    contact, member = stores["contact"], stores["member"]
    claim = identity_claim_create(customer=contact, associate=stores["associate"], phone="13812345678")

    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=contact)
    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.BRAND_SYSTEM)

    claim.refresh_from_db()
    assert claim.status == IdentityClaim.Status.PENDING
    assert claim.customer_confirmed_at is not None
    assert _unmerged(contact) and _unmerged(member)
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.OPEN


@pytest.mark.django_db
def test_two_wechat_users_are_never_merged_on_a_customers_word(stores):
    stub, member = stores["stub"], stores["member"]
    IdentityFactory(customer=member, kind=Identity.Kind.WECHAT_UNIONID, value="ou-member")
    claim = identity_claim_create(customer=stub, associate=stores["associate"], member_no="M0042")

    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=stub)

    assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING
    assert _unmerged(stub)


@pytest.mark.django_db
def test_only_the_chat_contact_can_confirm_as_the_customer(stores):
    claim = identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")

    for confirmer in (stores["member"], stores["contact"], None):
        with pytest.raises(ApplicationError) as error:
            identity_claim_confirm(claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=confirmer)
        assert error.value.code == "not_the_contact"

    assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db
def test_a_confirmed_claim_is_not_confirmed_again(stores):
    claim = identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")
    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=stores["stub"])

    with pytest.raises(ApplicationError) as error:
        identity_claim_confirm(claim=claim, via=IdentityClaim.Via.MANAGER)

    assert error.value.code == "claim_not_pending"
    assert CustomerMerge.objects.count() == 1


@pytest.mark.django_db
def test_undoing_a_claims_merge_puts_the_claim_and_its_conflict_back_in_the_queue(stores):
    claim = identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")
    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.CUSTOMER, confirmer=stores["stub"])

    customer_merge_undo(merge=CustomerMerge.objects.get())

    assert _unmerged(stores["stub"])
    claim.refresh_from_db()
    assert (claim.status, claim.merge_id, claim.confirmed_via) == ("pending", None, "")
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.OPEN
    identity_conflict_dismiss(conflict=IdentityConflict.objects.get())
    assert IdentityClaim.objects.get().status == IdentityClaim.Status.DISMISSED


@pytest.mark.django_db
def test_dismissing_the_conflict_dismisses_the_claim(stores):
    identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")

    identity_conflict_dismiss(conflict=IdentityConflict.objects.get())

    assert IdentityClaim.objects.get().status == IdentityClaim.Status.DISMISSED
    with pytest.raises(ApplicationError):
        identity_claim_confirm(claim=IdentityClaim.objects.get(), via=IdentityClaim.Via.MANAGER)
    assert _unmerged(stores["stub"])


def _members(body):
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client.post("/api/v1/members/batch", {"members": body}, format="json")


@pytest.mark.django_db
def test_the_brand_system_sending_the_member_with_the_contacts_unionid_completes_the_claim(stores):
    stub, member = stores["stub"], stores["member"]
    claim = identity_claim_create(customer=stub, associate=stores["associate"], member_no="M0042")

    response = _members([{"external_id": "M0042", "identities": [{"kind": "wechat_unionid", "value": "ou-stub"}]}])

    assert response.json()["results"][0]["id"] == member.pk
    assert Customer.objects.get(pk=stub.pk).merged_into_id == member.pk
    claim.refresh_from_db()
    assert (claim.status, claim.confirmed_via) == ("confirmed", "brand_system")


@pytest.mark.django_db
def test_the_brand_system_sending_a_free_phone_with_the_contact_completes_the_claim(stores):
    stub = stores["stub"]
    claim = identity_claim_create(customer=stub, associate=stores["associate"], phone="13900000000")

    _members(
        [
            {
                "external_id": "M5000",
                "phone": "13900000000",
                "identities": [{"kind": "wechat_unionid", "value": "ou-stub"}],
            }
        ]
    )

    assert Identity.objects.get(value="+8613900000000").customer_id == stub.pk
    claim.refresh_from_db()
    assert (claim.status, claim.confirmed_via) == ("confirmed", "brand_system")
    assert IdentityConflict.objects.get(source="sidebar_claim").status == IdentityConflict.Status.CONFIRMED


@pytest.mark.django_db
def test_the_brand_system_sending_the_number_alone_proves_nothing(stores):
    claim = identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")

    _members([{"external_id": "M0042", "name": "陈静"}])

    claim.refresh_from_db()
    assert claim.status == IdentityClaim.Status.PENDING
    assert _unmerged(stores["stub"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_submissions_of_one_request_record_one_claim(stores):
    outcomes = run_concurrently(
        lambda: (
            identity_claim_create(
                customer=stores["stub"], associate=stores["associate"], member_no="M0042", request_id="tap-1"
            ).pk
        ),
        contenders=8,
    )

    assert len(set(outcomes)) == 1 and all(isinstance(outcome, int) for outcome in outcomes)
    assert IdentityClaim.objects.count() == IdentityConflict.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_confirmations_complete_a_claim_once(stores):
    claim = identity_claim_create(customer=stores["stub"], associate=stores["associate"], member_no="M0042")

    def confirm(via):
        return identity_claim_confirm(claim=claim, via=via, confirmer=stores["stub"]).status

    outcomes = run_concurrently(confirm, each=[IdentityClaim.Via.MANAGER, IdentityClaim.Via.CUSTOMER] * 3)

    assert outcomes.count("confirmed") == 1
    assert all(isinstance(o, ApplicationError) and o.code == "claim_not_pending" for o in outcomes if o != "confirmed")
    assert CustomerMerge.objects.count() == 1
