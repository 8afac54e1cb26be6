"""Churn, consent and the contact budget (issue 25): lost friendships recorded and told to the associate and her
manager, the admin lists of lost and lapsed customers with their value, the consent ledger and its sources, marketing
refused to an opted-out customer everywhere, and one weekly contact budget shared by campaigns, journeys and the
sidebar's 1:1 marketing sends, with a logged override where the store allows it."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from associates.models import Associate
from campaigns.models import Campaign, CampaignRecipient, JourneyConfig
from campaigns.services import campaign_resolve, journeys_run
from clientbook.churn import customers_lapsed, follows_lost
from clientbook.handlers import follow_deleted_by_associate, follow_deleted_by_customer
from clientbook.models import FollowRelation, FollowUpTask
from coupons.models import Coupon
from customers.budget import (
    contact_budget_spend,
    contact_budget_status,
    contact_override_record,
    contact_week,
    marketing_contact_charge,
)
from customers.consent import consent_opt_in, consent_opt_out
from customers.ingestion import api_key_create
from customers.models import (
    ApiKey,
    Channel,
    ConsentChange,
    ContactBudget,
    ContactCount,
    ContactOverride,
    ContactTouch,
    Customer,
    Identity,
    Order,
)
from library.models import Material, SentMessage
from notices.models import Notice
from omni.errors import ApplicationError
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
COUPON = ContactTouch.Channel.COUPON


@pytest.fixture
def shop():
    store = StoreFactory(name="上海静安店")
    lin = AssociateFactory(store=store, name="林雨", wecom_userid="linyu")
    wang = AssociateFactory(store=store, name="王芳", wecom_userid="wangfang")
    boss = AssociateFactory(store=store, name="周店长", wecom_userid="zhou", role=Associate.Role.STORE_MANAGER)
    customer = CustomerFactory(name="陈静", primary_store=store, primary_associate=lin, marketing_consent=True)
    return store, lin, wang, boss, customer


def _follow(associate, customer, n=1) -> FollowRelation:
    return FollowRelation.objects.create(
        associate=associate,
        customer=customer,
        external_userid=f"wm-{customer.pk}-{n}",
        followed_at=timezone.now() - dt.timedelta(days=30),
    )


def _client(associate) -> APIClient:
    client = APIClient()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def _campaign(store, name="会员日") -> Campaign:
    campaign = Campaign.objects.create(
        name=name, text="到店有礼", send_at=timezone.now(), created_by=UserFactory(), status=Campaign.Status.SENDING
    )
    campaign.stores.add(store)
    return campaign


# Churn -------------------------------------------------------------------------------------------------------


def test_a_customer_deleting_the_associate_is_recorded_and_told_to_her_and_the_store_manager(shop):
    store, lin, _, boss, customer = shop
    follow = _follow(lin, customer)
    OrderFactory(customer=customer, store=store, total_amount=Decimal("1699.00"))
    OrderFactory(customer=customer, store=store, total_amount=Decimal("500.00"), status=Order.Status.RETURNED)
    payload = {"UserID": "linyu", "ExternalUserID": follow.external_userid, "CreateTime": "1796000600"}

    follow_deleted_by_customer(payload)
    follow_deleted_by_customer(payload)  # re-processed: told once

    follow.refresh_from_db()
    assert (follow.ended_reason, follow.ended_at) == (
        FollowRelation.Ended.CUSTOMER,
        dt.datetime.fromtimestamp(1796000600, dt.UTC),
    )
    told = {n.associate_id: n for n in Notice.objects.all()}
    assert set(told) == {lin.pk, boss.pk}
    assert told[lin.pk].title == "客户删除了你：陈静"
    assert told[boss.pk].title == "客户流失：陈静 删除了导购 林雨"
    assert told[boss.pk].description.startswith("陈静 累计消费 ¥1699.00。")
    [lost] = follows_lost()
    assert (lost.pk, lost.spend, lost.order_count) == (follow.pk, Decimal("1699.00"), 1)


def test_an_associate_deleting_a_customer_tells_the_manager_and_a_transfer_tells_nobody(shop):
    _, lin, wang, boss, customer = shop
    deleted, transferred = _follow(lin, customer), _follow(wang, customer, n=2)

    follow_deleted_by_associate({"UserID": "linyu", "ExternalUserID": deleted.external_userid, "CreateTime": "1"})
    follow_deleted_by_associate(
        {
            "UserID": "wangfang",
            "ExternalUserID": transferred.external_userid,
            "CreateTime": "2",
            "Source": "DELETE_BY_TRANSFER",
        }
    )

    [notice] = Notice.objects.all()
    assert (notice.associate_id, notice.title) == (boss.pk, "客户流失：导购 林雨 删除了客户 陈静")
    assert [f.pk for f in follows_lost()] == [deleted.pk]


def test_the_lost_customers_admin_lists_only_the_managers_stores_with_their_value(client, shop):
    store, lin, _, _, customer = shop
    other = AssociateFactory(store=StoreFactory(name="北京三里屯店"))
    elsewhere = CustomerFactory(name="李雷", primary_store=other.store)
    mine = _follow(lin, customer)
    theirs = _follow(other, elsewhere)
    OrderFactory(customer=customer, store=store, total_amount=Decimal("880.00"))
    FollowRelation.objects.filter(pk__in=[mine.pk, theirs.pk]).update(
        ended_at=timezone.now(), ended_reason=FollowRelation.Ended.CUSTOMER
    )
    manager = UserFactory()
    store.managers.add(manager)
    manager.user_permissions.add(Permission.objects.get(codename="view_lostcustomer"))
    client.force_login(manager)

    page = client.get(reverse("admin:clientbook_lostcustomer_changelist"))

    assert page.status_code == 200
    body = page.content.decode()
    assert "陈静" in body and "¥880.00" in body and "客户删除了导购" in body
    assert "李雷" not in body
    hidden = client.get(reverse("admin:clientbook_lostcustomer_change", args=[theirs.pk]))
    assert hidden.status_code == 404


def test_the_lapse_list_uses_each_stores_days(client, shop):
    store, _, _, _, customer = shop
    north = StoreFactory(name="北京三里屯店")
    JourneyConfig.objects.create(store=store, lapsing_days=30)
    now = timezone.now()
    lapsed_here = customer  # last bought 40 days ago; the store says 30
    OrderFactory(customer=lapsed_here, store=store, placed_at=now - dt.timedelta(days=40), total_amount=Decimal("300"))
    recent = CustomerFactory(name="近期", primary_store=store)
    OrderFactory(customer=recent, store=store, placed_at=now - dt.timedelta(days=10))
    not_yet = CustomerFactory(name="北京未满", primary_store=north)  # the default 90 days
    OrderFactory(customer=not_yet, store=north, placed_at=now - dt.timedelta(days=40))
    lapsed_there = CustomerFactory(name="北京沉睡", primary_store=north)
    OrderFactory(
        customer=lapsed_there, store=north, placed_at=now - dt.timedelta(days=100), total_amount=Decimal("100")
    )
    CustomerFactory(name="从未购买", primary_store=store)

    rows = customers_lapsed(days_by_store={store.pk: 30}, now=now)

    assert {c.pk: c.spend for c in rows} == {lapsed_here.pk: Decimal("300.00"), lapsed_there.pk: Decimal("100.00")}
    manager = UserFactory()
    store.managers.add(manager)
    manager.user_permissions.add(Permission.objects.get(codename="view_lapsedcustomer"))
    client.force_login(manager)
    body = client.get(reverse("admin:campaigns_lapsedcustomer_changelist")).content.decode()
    assert "陈静" in body and "北京沉睡" not in body and "近期" not in body


# Consent -----------------------------------------------------------------------------------------------------


def test_every_consent_change_is_in_the_ledger_with_its_source_and_a_repeat_records_nothing(shop):
    _, lin, _, _, customer = shop

    first = consent_opt_out(customer_id=customer.pk, source=ConsentChange.Source.SIDEBAR, associate=lin, note="聊天中")
    again = consent_opt_out(customer_id=customer.pk, source=ConsentChange.Source.COUPON_PAGE)
    back = consent_opt_in(customer_id=customer.pk, source=ConsentChange.Source.ADMIN)

    assert again is None
    assert [(c.opted_out, c.marketing_consent, c.source) for c in ConsentChange.objects.order_by("pk")] == [
        (True, False, "sidebar"),
        (False, True, "admin"),
    ]
    assert (first.associate_id, back.pk) == (lin.pk, ConsentChange.objects.latest("pk").pk)
    customer.refresh_from_db()
    assert (customer.opted_out, customer.marketing_consent) == (False, True)
    with pytest.raises(ApplicationError) as refused:
        consent_opt_in(customer_id=customer.pk, source=ConsentChange.Source.SIDEBAR, associate=lin)
    assert refused.value.code == "consent_opt_in_forbidden"


def test_the_brands_api_records_an_opt_out_by_identity(client, shop):
    _, _, _, _, customer = shop
    IdentityFactory(customer=customer, kind=Identity.Kind.POS_MEMBER_NO, value="M0001")
    key, secret = api_key_create(name="CRM", channel=Channel.STORE_POS, scopes=[ApiKey.Scope.MEMBERS])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {secret}"}
    body = {"identity": {"kind": "pos_member_no", "value": "M0001"}, "opted_out": True, "note": "会员中心退订"}

    first = client.post("/api/v1/consent", body, content_type="application/json", **headers)
    second = client.post("/api/v1/consent", body, content_type="application/json", **headers)
    unknown = client.post(
        "/api/v1/consent",
        {**body, "identity": {"kind": "pos_member_no", "value": "nobody"}},
        content_type="application/json",
        **headers,
    )

    assert (first.status_code, first.json()) == (200, {"opted_out": True, "marketing_consent": False, "changed": True})
    assert second.json()["changed"] is False
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")
    [change] = ConsentChange.objects.all()
    assert (change.source, change.api_key_id, change.note) == ("api", key.pk, "会员中心退订")


def test_an_opt_out_in_member_ingestion_is_in_the_ledger(shop):
    from customers.services import Profile, customer_resolve

    _, _, _, _, customer = shop
    IdentityFactory(customer=customer, kind=Identity.Kind.POS_MEMBER_NO, value="M0002")

    customer_resolve(identities=[(Identity.Kind.POS_MEMBER_NO, "M0002")], source="api", profile=Profile(opted_out=True))

    [change] = ConsentChange.objects.all()
    assert (change.customer_id, change.opted_out, change.source) == (customer.pk, True, "ingestion")


def test_an_opted_out_customer_is_refused_every_sidebar_marketing_send(shop):
    _, lin, _, _, customer = shop
    pack = CouponPackFactory(name="老客回购礼")
    CouponPackItemFactory(pack=pack)
    card = Material.objects.create(kind="product", title="羊毛大衣", product=ProductFactory(sku="SKU-1"))
    guide = Material.objects.create(kind="link", title="门店地址", link_url="https://e.example/map")
    consent_opt_out(customer_id=customer.pk, source=ConsentChange.Source.COUPON_PAGE)
    client = _client(lin)

    sends = [
        client.post(
            f"/api/v1/sidebar/customers/{customer.pk}/coupon-packs/{pack.pk}/send/", {"request_no": "r1"}, format="json"
        ),
        client.post(
            f"/api/v1/sidebar/customers/{customer.pk}/outreach/",
            {"sku": "SKU-1", "source": "manual", "request_id": str(uuid.uuid4())},
            format="json",
        ),
        client.post(
            f"/api/v1/sidebar/customers/{customer.pk}/materials/{card.pk}/send/",
            {"request_id": str(uuid.uuid4())},
            format="json",
        ),
        client.post(
            f"/api/v1/sidebar/customers/{customer.pk}/materials/{guide.pk}/send/",
            {"request_id": str(uuid.uuid4())},
            format="json",
        ),
    ]

    for answer in sends:
        assert answer.status_code == 409, answer.content
        error = answer.json()["error"]
        assert error["code"] == "customer_opted_out"
        assert "退订营销消息（券包页面「不再接收」）" in error["message"]
    assert Coupon.objects.count() == SentMessage.objects.count() == Outreach.objects.count() == 0
    assert ContactTouch.objects.count() == ContactCount.objects.count() == 0
    budget = client.get(f"/api/v1/sidebar/customers/{customer.pk}/contact-budget/").json()
    assert budget["opted_out"] is True and "退订" in budget["text"]


def test_an_opted_out_customer_is_skipped_by_campaigns_and_journeys(shop):
    store, lin, _, _, customer = shop
    _follow(lin, customer)
    customer.birthday = timezone.localdate() + dt.timedelta(days=1)
    customer.save()
    consent_opt_out(customer_id=customer.pk, source=ConsentChange.Source.API)
    campaign = _campaign(store)

    campaign_resolve(campaign_id=campaign.pk)
    journeys_run()

    recipient = CampaignRecipient.objects.get(campaign=campaign)
    assert (recipient.status, recipient.skip_reason) == ("skipped", "opted_out")
    assert FollowUpTask.objects.count() == 0


def test_the_associate_marks_an_opt_out_in_the_sidebar(shop):
    _, lin, _, _, customer = shop

    answer = _client(lin).post(f"/api/v1/sidebar/customers/{customer.pk}/opt-out/", {"note": "客户说不要再发"})

    assert answer.status_code == 200 and answer.json()["opted_out"] is True
    change = ConsentChange.objects.get()
    assert (change.source, change.associate_id, change.note) == ("sidebar", lin.pk, "客户说不要再发")


# The contact budget ------------------------------------------------------------------------------------------


def test_the_budget_takes_a_unit_per_send_charges_a_retry_once_and_then_refuses_with_a_stable_code(shop):
    _, lin, wang, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=2)

    first = contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="a")
    retry = contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="a")
    contact_budget_spend(customer_id=customer.pk, associate=wang, channel=COUPON, key="b")
    with pytest.raises(ApplicationError) as refused:
        contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="c")

    assert (first.created, retry.created, retry.touch.pk) == (True, False, first.touch.pk)
    assert (refused.value.code, refused.value.status_code) == ("contact_budget_exceeded", 409)
    assert refused.value.message == "该客户本周已被联系 2 次，已达每周上限 2 次。请下周再联系。"
    assert ContactCount.objects.get(customer=customer).used == 2
    status = contact_budget_status(customer_id=customer.pk, associate=lin)
    assert (status.used, status.limit, status.mine, status.others, status.left) == (2, 2, 1, 1, 0)
    # Next week starts afresh.
    later = timezone.now() + dt.timedelta(days=7)
    assert contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="d", now=later).created


def test_a_store_override_allows_one_logged_exception_and_a_store_without_it_refuses_one(shop):
    store, lin, _, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=5)
    ContactBudget.objects.create(store=store, per_week=1, allow_override=True)
    contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="a")
    with pytest.raises(ApplicationError) as refused:
        contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="b")
    assert "可记录例外原因后再发送一次" in refused.value.message

    contact_override_record(customer_id=customer.pk, associate=lin, reason="客户主动询问活动")
    allowed = contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="b")
    with pytest.raises(ApplicationError):
        contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="c")

    assert (allowed.touch.override, allowed.touch.override_reason) == (True, "客户主动询问活动")
    assert ContactOverride.objects.get().used_at is not None
    assert ContactCount.objects.get(customer=customer).used == 2
    elsewhere = CustomerFactory(primary_store=StoreFactory())
    with pytest.raises(ApplicationError) as forbidden:
        contact_override_record(customer_id=elsewhere.pk, associate=lin, reason="试试")
    assert forbidden.value.code == "contact_override_not_allowed"


def test_the_sidebar_shows_the_weeks_contacts_and_refuses_a_send_over_budget(shop):
    _, lin, wang, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=2)
    pack = CouponPackFactory(name="老客回购礼")
    CouponPackItemFactory(pack=pack)
    contact_budget_spend(customer_id=customer.pk, associate=wang, channel=COUPON, key="wang-1")
    client = _client(lin)
    url = f"/api/v1/sidebar/customers/{customer.pk}/coupon-packs/{pack.pk}/send/"

    before = client.get(f"/api/v1/sidebar/customers/{customer.pk}/contact-budget/").json()
    sent = client.post(url, {"request_no": "r1"}, format="json")
    retried = client.post(url, {"request_no": "r1"}, format="json")
    over = client.post(url, {"request_no": "r2"}, format="json")

    assert before["text"] == "本周已被同事联系 1 次，共 1/2 次"
    assert (sent.status_code, retried.status_code) == (201, 200)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "contact_budget_exceeded"
    assert over.json()["error"]["details"] == {"used": 2, "limit": 2, "allow_override": False}
    assert Coupon.objects.count() == 1  # the refused send issued nothing


def test_a_campaign_counts_and_checks_the_budget_set_based(shop):
    store, lin, _, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=1)
    spent = CustomerFactory(name="已联系", primary_store=store, primary_associate=lin, marketing_consent=True)
    for n, person in enumerate([customer, spent]):
        _follow(lin, person, n)
    contact_budget_spend(customer_id=spent.pk, associate=lin, channel=COUPON, key="x")

    campaign_resolve(campaign_id=_campaign(store).pk)

    reasons = dict(CampaignRecipient.objects.values_list("customer_id", "skip_reason"))
    assert reasons == {customer.pk: "", spent.pk: "contact_budget"}
    week = contact_week()
    assert dict(ContactCount.objects.filter(week=week).values_list("customer_id", "used")) == {
        customer.pk: 1,
        spent.pk: 1,
    }
    # The campaign's recipient used the week: the next sidebar send is refused, and so is the next campaign.
    with pytest.raises(ApplicationError):
        marketing_contact_charge(customer_id=customer.pk, associate=lin, channel=COUPON, key="y")
    second = _campaign(store, name="周末")
    campaign_resolve(campaign_id=second.pk)
    assert set(second.recipients.values_list("skip_reason", flat=True)) == {"contact_budget"}
    # An independent count: every customer's unit equals their queued receipts plus their 1:1 touches this week.
    queued = dict(
        CampaignRecipient.objects.exclude(status="skipped")
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values_list("customer_id", "n")
    )
    touches = dict(ContactTouch.objects.values("customer_id").annotate(n=Count("pk")).values_list("customer_id", "n"))
    for row in ContactCount.objects.all():
        assert row.used == queued.get(row.customer_id, 0) + touches.get(row.customer_id, 0)


def test_journeys_make_no_task_for_a_customer_whose_week_is_spent(shop):
    store, lin, _, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=1)
    other = CustomerFactory(primary_store=store, primary_associate=lin)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    Customer.objects.filter(pk__in=[customer.pk, other.pk]).update(birthday=tomorrow)
    contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="x")

    journeys_run()

    assert list(FollowUpTask.objects.values_list("customer_id", flat=True)) == [other.pk]


def test_a_service_reply_is_not_counted(shop):
    from library.models import QuickReply

    _, lin, _, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=1)
    contact_budget_spend(customer_id=customer.pk, associate=lin, channel=COUPON, key="x")
    reply = QuickReply.objects.create(title="到店提醒", text="您好，您的商品已到店")

    answer = _client(lin).post(
        f"/api/v1/sidebar/customers/{customer.pk}/replies/{reply.pk}/send/",
        {"request_id": str(uuid.uuid4())},
        format="json",
    )

    assert answer.status_code == 201, answer.content
    assert ContactCount.objects.get(customer=customer).used == 1


def test_a_store_whose_week_is_zero_gets_no_campaign_and_others_still_do(shop):
    """A budget of 0 (the store's marketing switched off) is the one limit a customer with no row yet is over: the
    campaign's set-based charge skips that store's customers and still charges the brand's."""
    store, lin, _, _, customer = shop
    ContactBudget.objects.create(store=None, per_week=2)
    _follow(lin, customer, 0)
    campaign_resolve(campaign_id=_campaign(store).pk)
    assert dict(CampaignRecipient.objects.values_list("customer_id", "skip_reason")) == {customer.pk: ""}

    fresh = CustomerFactory(name="新客", primary_store=store, primary_associate=lin, marketing_consent=True)
    _follow(lin, fresh, 1)  # no week row yet: only her store's limit can refuse her
    ContactBudget.objects.create(store=store, per_week=0)
    second = _campaign(store, name="周末")
    campaign_resolve(campaign_id=second.pk)

    assert dict(second.recipients.values_list("customer_id", "skip_reason")) == {
        customer.pk: "contact_budget",
        fresh.pk: "contact_budget",
    }
    charged = ContactCount.objects.filter(week=contact_week(), used__gt=0)
    assert dict(charged.values_list("customer_id", "used")) == {customer.pk: 1}
