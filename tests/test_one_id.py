"""One ID resolution rules: link, add identity, conflict recorded, merge and undo."""

from datetime import date

import pytest
from django.utils import timezone

from clientbook.models import FollowRelation
from customers.models import AuditLog, Customer, CustomerNote, CustomerTag, Identity, IdentityConflict, Order, Tag
from customers.services import (
    Profile,
    customer_by_wechat_oa,
    customer_merge,
    customer_merge_undo,
    customer_resolve,
    identity_conflict_dismiss,
)
from omni.errors import ApplicationError
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, OrderFactory, StoreFactory, UserFactory
from tests.threads import failures, run_concurrently

POS = Identity.Kind.POS_MEMBER_NO
PHONE = Identity.Kind.PHONE
UNIONID = Identity.Kind.WECHAT_UNIONID
MALL = Identity.Kind.MALL_ACCOUNT
OA_OPENID = Identity.Kind.WECHAT_OA_OPENID


@pytest.mark.django_db
def test_unknown_identities_create_one_customer_owning_all_of_them():
    resolution = customer_resolve(
        identities=[(POS, " M001 "), (UNIONID, "o6_abc")],
        source="pos",
        profile=Profile(name="林小雨", phone="138 1234 5678", gender="female"),
    )

    assert resolution.created
    customer = resolution.customer
    assert (customer.name, customer.phone, customer.gender) == ("林小雨", "+8613812345678", "female")
    assert sorted(customer.identities.values_list("kind", "value")) == [
        (PHONE, "+8613812345678"),
        (POS, "M001"),
        (UNIONID, "o6_abc"),
    ]
    assert customer.phone_masked == "138****5678"


@pytest.mark.django_db
def test_known_identity_links_and_adds_new_identities_and_fills_blank_fields_only():
    customer = CustomerFactory(name="林小雨", birthday=None)
    IdentityFactory(customer=customer, kind=POS, value="M001")

    resolution = customer_resolve(
        identities=[(POS, "M001"), (MALL, "lin@mall")],
        source="mall",
        profile=Profile(name="Lin Xiaoyu", birthday=date(1990, 3, 8), phone="+86 139-0000-1111"),
    )

    assert not resolution.created
    assert resolution.customer.pk == customer.pk
    assert set(resolution.identities_added) == {(MALL, "lin@mall"), (PHONE, "+8613900001111")}
    customer.refresh_from_db()
    assert customer.name == "林小雨"  # not overwritten
    assert customer.birthday == date(1990, 3, 8)  # was blank, filled
    assert Customer.objects.count() == 1
    assert Identity.objects.filter(customer=customer).count() == 3


@pytest.mark.django_db
def test_phone_written_differently_matches_the_same_customer():
    first = customer_resolve(identities=[], source="pos", profile=Profile(phone="13812345678")).customer

    again = customer_resolve(identities=[], source="mall", profile=Profile(phone="0086 138 1234 5678"))

    assert again.customer.pk == first.pk
    assert not again.changed


@pytest.mark.django_db
def test_replaying_the_same_data_changes_nothing():
    customer_resolve(identities=[(POS, "M9")], source="pos", profile=Profile(name="周", phone="13812345678"))
    counts = (Customer.objects.count(), Identity.objects.count(), AuditLog.objects.count())

    replay = customer_resolve(identities=[(POS, "M9")], source="pos", profile=Profile(name="周", phone="13812345678"))

    assert not replay.changed
    assert (Customer.objects.count(), Identity.objects.count(), AuditLog.objects.count()) == counts


@pytest.mark.django_db
def test_identities_of_two_customers_record_a_conflict_and_merge_nothing():
    by_phone = CustomerFactory(name="手机客户")
    IdentityFactory(customer=by_phone, kind=PHONE, value="+8613812345678")
    by_unionid = CustomerFactory(name="微信客户")
    IdentityFactory(customer=by_unionid, kind=UNIONID, value="o6_u1")

    resolution = customer_resolve(
        identities=[(UNIONID, "o6_u1"), (POS, "M77")], source="pos", profile=Profile(phone="13812345678")
    )

    # Linked to the owner of the strongest identity (unionid beats phone); nothing moved.
    assert resolution.customer.pk == by_unionid.pk
    assert Identity.objects.get(kind=PHONE).customer_id == by_phone.pk
    assert Identity.objects.get(kind=POS, value="M77").customer_id == by_unionid.pk
    conflict = resolution.conflict
    assert conflict.status == IdentityConflict.Status.OPEN
    assert conflict.linked_to_id == by_unionid.pk
    assert set(conflict.customers.values_list("pk", flat=True)) == {by_phone.pk, by_unionid.pk}
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0
    assert AuditLog.objects.filter(action=AuditLog.Action.IDENTITY_CONFLICT).count() == 1


@pytest.mark.django_db
def test_the_same_conflict_delivered_twice_is_recorded_once():
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=a, kind=POS, value="M1")
    IdentityFactory(customer=b, kind=MALL, value="acc1")

    first = customer_resolve(identities=[(POS, "M1"), (MALL, "acc1")], source="pos")
    second = customer_resolve(identities=[(POS, "M1"), (MALL, "acc1")], source="pos")

    assert first.conflict.pk == second.conflict.pk
    assert IdentityConflict.objects.count() == 1


@pytest.mark.django_db
def test_invalid_phone_is_a_clear_error_and_writes_nothing():
    with pytest.raises(ApplicationError) as error:
        customer_resolve(identities=[(POS, "M1")], source="pos", profile=Profile(phone="12345"))

    assert error.value.code == "invalid_phone"
    assert Customer.objects.count() == 0
    assert Identity.objects.count() == 0


@pytest.mark.django_db
def test_opt_out_is_sticky_against_later_consent():
    resolution = customer_resolve(identities=[(POS, "M1")], source="pos", profile=Profile(opted_out=True))

    customer_resolve(identities=[(POS, "M1")], source="mall", profile=Profile(marketing_consent=True))

    customer = Customer.objects.get(pk=resolution.customer.pk)
    assert customer.opted_out is True
    assert customer.marketing_consent is False


def _two_customers_with_history():
    store = StoreFactory()
    source = CustomerFactory(name="", birthday=date(1992, 1, 2), primary_store=store)
    IdentityFactory(customer=source, kind=PHONE, value="+8613812345678")
    IdentityFactory(customer=source, kind=MALL, value="acc-7")
    OrderFactory(customer=source, store=store)
    OrderFactory(customer=source, store=store)
    CustomerNote.objects.create(customer=source, text="喜欢真丝")
    shared_tag, own_tag = Tag.objects.create(name="VIP"), Tag.objects.create(name="敏感肌")
    CustomerTag.objects.create(customer=source, tag=shared_tag)
    CustomerTag.objects.create(customer=source, tag=own_tag)

    FollowRelation.objects.create(
        associate=AssociateFactory(store=store), customer=source, external_userid="wm_src", followed_at=timezone.now()
    )
    target = CustomerFactory(name="林小雨", birthday=None)
    IdentityFactory(customer=target, kind=UNIONID, value="o6_x")
    OrderFactory(customer=target, store=store)
    CustomerTag.objects.create(customer=target, tag=shared_tag)
    return source, target


@pytest.mark.django_db
def test_merge_moves_everything_and_undo_restores_exactly():
    source, target = _two_customers_with_history()
    manager = UserFactory(username="hq")
    conflict = IdentityConflict.objects.create(source="pos", incoming={}, linked_to=target)
    before = {
        "identities": sorted(Identity.objects.values_list("pk", "customer_id")),
        "orders": sorted(Order.objects.values_list("pk", "customer_id")),
        "tags": sorted(CustomerTag.objects.values_list("pk", "customer_id")),
        "notes": sorted(CustomerNote.objects.values_list("pk", "customer_id")),
        "follows": sorted(FollowRelation.objects.values_list("pk", "customer_id")),
    }

    merge = customer_merge(source=source, target=target, actor=manager, reason="同一人", conflict=conflict)

    source.refresh_from_db()
    target.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert Identity.objects.filter(customer=target).count() == 3
    assert Order.objects.filter(customer=target).count() == 3
    assert CustomerNote.objects.filter(customer=target).count() == 1
    assert FollowRelation.objects.get().customer_id == target.pk
    assert sorted(target.customer_tags.values_list("tag__name", flat=True)) == ["VIP", "敏感肌"]
    assert target.name == "林小雨"
    assert target.birthday == date(1992, 1, 2)  # filled from the source
    conflict.refresh_from_db()
    assert (conflict.status, conflict.merge_id) == (IdentityConflict.Status.MERGED, merge.pk)
    assert AuditLog.objects.filter(action=AuditLog.Action.CUSTOMER_MERGE).count() == 2

    customer_merge_undo(merge=merge, actor=manager)

    after = {
        "identities": sorted(Identity.objects.values_list("pk", "customer_id")),
        "orders": sorted(Order.objects.values_list("pk", "customer_id")),
        "tags": sorted(CustomerTag.objects.values_list("pk", "customer_id")),
        "notes": sorted(CustomerNote.objects.values_list("pk", "customer_id")),
        "follows": sorted(FollowRelation.objects.values_list("pk", "customer_id")),
    }
    assert after == before
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.merged_into_id is None
    assert target.birthday is None
    conflict.refresh_from_db()
    assert conflict.status == IdentityConflict.Status.OPEN
    assert AuditLog.objects.filter(action=AuditLog.Action.CUSTOMER_MERGE_UNDO).count() == 2


@pytest.mark.django_db
def test_undo_twice_is_refused_and_changes_nothing():
    source, target = _two_customers_with_history()
    merge = customer_merge(source=source, target=target)
    customer_merge_undo(merge=merge)
    logs = AuditLog.objects.count()

    with pytest.raises(ApplicationError) as error:
        customer_merge_undo(merge=merge)

    assert error.value.code == "merge_already_undone"
    assert AuditLog.objects.count() == logs


@pytest.mark.django_db
def test_merging_an_already_merged_customer_is_refused():
    source, target = _two_customers_with_history()
    other = CustomerFactory()
    customer_merge(source=source, target=target)

    with pytest.raises(ApplicationError) as error:
        customer_merge(source=source, target=other)

    assert error.value.code == "already_merged"
    assert Identity.objects.filter(customer=other).count() == 0


@pytest.mark.django_db
def test_undo_is_refused_while_the_kept_customer_is_merged_elsewhere():
    source, target = _two_customers_with_history()
    final = CustomerFactory()
    first = customer_merge(source=source, target=target)
    customer_merge(source=target, target=final)

    with pytest.raises(ApplicationError) as error:
        customer_merge_undo(merge=first)

    assert error.value.code == "target_merged_since"


@pytest.mark.django_db
def test_after_a_merge_the_sources_identities_resolve_to_the_kept_customer():
    source, target = _two_customers_with_history()
    customer_merge(source=source, target=target)

    resolution = customer_resolve(identities=[(MALL, "acc-7")], source="mall")

    assert resolution.customer.pk == target.pk
    assert resolution.conflict is None


@pytest.mark.django_db
def test_dismissing_a_conflict_closes_it_once():
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=a, kind=POS, value="M1")
    IdentityFactory(customer=b, kind=MALL, value="acc1")
    conflict = customer_resolve(identities=[(POS, "M1"), (MALL, "acc1")], source="pos").conflict

    identity_conflict_dismiss(conflict=conflict)

    conflict.refresh_from_db()
    assert conflict.status == IdentityConflict.Status.DISMISSED
    with pytest.raises(ApplicationError) as error:
        identity_conflict_dismiss(conflict=conflict)
    assert error.value.code == "conflict_not_open"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sightings_of_one_identity_create_exactly_one_customer():
    outcomes = run_concurrently(
        lambda: customer_resolve(identities=[(UNIONID, "o6_race")], source="mall").customer.pk, contenders=8
    )

    assert failures(outcomes) == []
    assert len(set(outcomes)) == 1
    assert Customer.objects.count() == 1
    assert Identity.objects.count() == 1


# The Official Account's web authorization ---------------------------------------------------------------------


@pytest.mark.django_db
def test_wechat_oa_finds_the_customer_by_unionid_records_the_openid_once_and_never_creates_anyone():
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind=UNIONID, value="ou-lin")

    first = customer_by_wechat_oa(openid="oOpenidLin", unionid="ou-lin")
    by_openid_alone = customer_by_wechat_oa(openid="oOpenidLin")
    stranger = customer_by_wechat_oa(openid="oOpenidNobody", unionid="ou-nobody")
    malformed = customer_by_wechat_oa(openid="o" * 200)

    assert (first, by_openid_alone, stranger, malformed) == (customer, customer, None, None)
    assert list(Identity.objects.filter(kind=OA_OPENID).values_list("customer_id", "value", "source")) == [
        (customer.pk, "oOpenidLin", "wechat_oa")
    ]
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_wechat_oa_unionid_and_openid_of_two_customers_name_the_unionid_owner_and_move_nothing():
    by_unionid, by_openid = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=by_unionid, kind=UNIONID, value="ou-lin")
    IdentityFactory(customer=by_openid, kind=OA_OPENID, value="oOpenidLin")

    found = customer_by_wechat_oa(openid="oOpenidLin", unionid="ou-lin")

    assert found == by_unionid
    assert Identity.objects.get(kind=OA_OPENID).customer_id == by_openid.pk
    assert IdentityConflict.objects.count() == 0


@pytest.mark.django_db
def test_wechat_oa_adds_the_unionid_it_brings_to_the_customer_known_by_openid():
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind=OA_OPENID, value="oOpenidLin")

    found = customer_by_wechat_oa(openid="oOpenidLin", unionid="ou-lin")

    assert found == customer
    assert Identity.objects.get(kind=UNIONID).customer_id == customer.pk
