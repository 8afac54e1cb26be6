"""Campaigns end to end against the WeCom emulator: approval, audience, skips, chunks, coupons, results, reminders,
cancelling, WeCom's transient and permanent errors, and a send that dies halfway and is resumed."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from associates.models import Associate, Store
from campaigns import services
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.selectors import campaign_audience_count, campaign_progress, campaign_recipients_export_rows
from campaigns.services import (
    campaign_approve,
    campaign_cancel,
    campaign_chunks_retry,
    campaign_content_problems,
    campaign_results_poll,
    campaign_submit,
)
from campaigns.tasks import campaign_chunk_send_task, campaigns_tick_task
from clientbook.models import FollowRelation
from communities.models import Community, GroupChat, GroupMember
from coupons.models import Coupon
from coupons.sending_many import coupon_pack_send_many
from customers.models import Customer, CustomerTag, Order, OrderLine, Tag
from omni.bulk import bulk_copy
from omni.celery import app
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator
from wecom.emulator.state import relation_key

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000001", "1000002", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def emulator(settings):
    running = start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            callback_url="http://127.0.0.1:9/wecom/callback/",
            sidebar_url="http://127.0.0.1:9/sidebar/",
        )
    )
    settings.WECOM_API_BASE = running.api_base
    settings.WECOM_CORP_ID, settings.WECOM_AGENT_ID, settings.WECOM_SECRET = CORP_ID, AGENT_ID, SECRET
    settings.WECOM_RETRY_BACKOFF = 0.01
    settings.OMNI_PUBLIC_URL = "http://omni.test"
    cache.clear()
    yield running
    running.stop()


def external_userid(n: int) -> str:
    return f"wm{n:030d}"


def seed(*, customers: int, associates: int, emulator=None, store: Store | None = None) -> tuple[Store, list]:
    """`customers` consenting customers of one store spread over `associates` associates, each customer followed
    by their primary associate in Omni and, when given, in the emulator."""
    store = store or StoreFactory()
    staff = [AssociateFactory(store=store, wecom_userid=f"{store.code}-a{n}") for n in range(associates)]
    now = timezone.now()
    start = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    bulk_copy(
        Customer,
        [
            "id",
            "name",
            "gender",
            "phone",
            "primary_store_id",
            "primary_associate_id",
            "marketing_consent",
            "opted_out",
            "created_at",
            "updated_at",
        ],
        (
            (start + n, f"顾客{n}", "unknown", "", store.pk, staff[n % associates].pk, True, False, now, now)
            for n in range(customers)
        ),
    )
    bulk_copy(
        FollowRelation,
        ["associate_id", "customer_id", "external_userid", "state", "remark", "followed_at", "ended_reason", "welcome"],
        (
            (staff[n % associates].pk, start + n, external_userid(start + n), "", "", now, "", "none")
            for n in range(customers)
        ),
    )
    if emulator is not None:
        emulator_seed(
            emulator,
            [
                (a.wecom_userid, [external_userid(start + n) for n in range(a_index, customers, associates)])
                for a_index, a in enumerate(staff)
            ],
        )
    return store, staff


def emulator_seed(emulator, follows: list[tuple[str, list[str]]]) -> None:
    with emulator.emulator.state.change() as data:
        for userid, external_userids in follows:
            data["associates"].setdefault(
                userid, {"userid": userid, "name": userid, "store": "", "resigned": False, "created_at": 0}
            )
            for eu in external_userids:
                data["customers"].setdefault(
                    eu,
                    {
                        "external_userid": eu,
                        "name": eu,
                        "type": 1,
                        "gender": 0,
                        "avatar": "",
                        "unionid": "",
                        "created_at": 0,
                    },
                )
                data["relations"][relation_key(userid, eu)] = {
                    "userid": userid,
                    "external_userid": eu,
                    "remark": "",
                    "description": "",
                    "createtime": 1,
                    "tag_ids": [],
                    "remark_mobiles": [],
                    "add_way": 1,
                    "state": "",
                    "oper_userid": eu,
                }


def campaign_for(store: Store, creator=None, **fields) -> Campaign:
    if creator is None:
        creator = UserFactory()
        store.managers.add(creator)
    fields.setdefault("text", "双十二会员日，到店享好礼")
    fields.setdefault("send_at", timezone.now())
    campaign = Campaign.objects.create(name="会员日", created_by=creator, **fields)
    campaign.stores.add(store)
    return campaign


def approved(campaign: Campaign) -> Campaign:
    campaign_submit(campaign_id=campaign.pk, user=campaign.created_by)
    return campaign_approve(campaign_id=campaign.pk, user=UserFactory(is_superuser=True))


def wecom_tasks(emulator) -> list[dict]:
    return emulator.control("GET", "mass_messages")["mass_messages"]


def confirm_all(emulator) -> None:
    for message in wecom_tasks(emulator):
        for userid in message["tasks"]:
            emulator.control("POST", "mass_messages/confirm", {"msgid": message["msgid"], "userid": userid})


# Approval ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_creator_cannot_approve_their_own_campaign():
    store, _ = seed(customers=3, associates=1)
    campaign = campaign_for(store)
    campaign_submit(campaign_id=campaign.pk, user=campaign.created_by)

    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign_id=campaign.pk, user=campaign.created_by)

    assert refused.value.code == "own_campaign"
    assert Campaign.objects.get(pk=campaign.pk).status == "submitted"


@pytest.mark.django_db
def test_submit_records_the_audience_size_and_only_a_manager_of_the_stores_approves():
    store, _ = seed(customers=4, associates=2)
    other_store = StoreFactory()
    outsider = UserFactory()
    other_store.managers.add(outsider)
    manager = UserFactory()
    store.managers.add(manager)
    campaign = campaign_for(store)

    submitted = campaign_submit(campaign_id=campaign.pk, user=campaign.created_by)
    with pytest.raises(ApplicationError) as refused:
        campaign_approve(campaign_id=campaign.pk, user=outsider)
    approved_campaign = campaign_approve(campaign_id=campaign.pk, user=manager)

    assert (submitted.status, submitted.audience_size) == ("submitted", 4)
    assert refused.value.code == "not_your_stores"
    assert (approved_campaign.status, approved_campaign.approved_by_id) == ("approved", manager.pk)
    with pytest.raises(ApplicationError) as twice:
        campaign_approve(campaign_id=campaign.pk, user=manager)
    assert twice.value.code == "not_submitted"


@pytest.mark.django_db
def test_content_over_wecom_limits_cannot_be_submitted():
    store, _ = seed(customers=1, associates=1)
    campaign = campaign_for(store, text="好" * 1334)  # 4002 bytes in UTF-8

    with pytest.raises(ApplicationError) as refused:
        campaign_submit(campaign_id=campaign.pk, user=campaign.created_by)

    assert refused.value.code == "campaign_invalid"
    assert "4000 字节" in refused.value.message
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


# Audience ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audience_filters_select_exactly_the_matching_customers():
    store = StoreFactory()
    other = StoreFactory()
    vip, dress, lapsed, coupon_holder, june, _elsewhere = (
        CustomerFactory(primary_store=s) for s in [store, store, store, store, store, other]
    )
    june.birthday = dt.date(1990, 6, 12)
    june.save()
    tag = Tag.objects.create(name="高意向")
    CustomerTag.objects.create(customer=vip, tag=tag)
    now = timezone.now()

    def order(customer, amount, days_ago, category="shoes"):
        placed = Order.objects.create(
            channel="store_pos",
            external_id=f"O{customer.pk}-{days_ago}",
            store=store,
            customer=customer,
            placed_at=now - dt.timedelta(days=days_ago),
            total_amount=Decimal(amount),
        )
        OrderLine.objects.create(
            order=placed, line_no=1, product=ProductFactory(category=category), quantity=1, unit_price=Decimal(amount)
        )

    order(vip, "9000", 10)
    order(dress, "300", 20, category="dress")
    order(lapsed, "500", 400)
    pack = CouponPackFactory(budget=Decimal("1000"))
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory())
    coupon_pack_send_many(pack_id=pack.pk, recipients=[(coupon_holder.pk, None)], request_prefix="t")

    def audience(**filters):
        campaign = campaign_for(store, **filters)
        tags = filters.pop("tags", None)
        if tags:
            campaign.tags.set(tags)
        from campaigns.selectors import campaign_audience_ids

        return set(campaign_audience_ids(campaign=campaign))

    assert audience() == {vip.pk, dress.pk, lapsed.pk, coupon_holder.pk, june.pk}
    assert audience(tiers=["金卡"]) == {vip.pk}
    assert audience(tiers=["普通"]) == {dress.pk, lapsed.pk, coupon_holder.pk, june.pk}
    assert audience(bought_category="dress") == {dress.pk}
    assert audience(last_purchase_before=(now - dt.timedelta(days=100)).date()) == {lapsed.pk}
    assert audience(last_purchase_after=(now - dt.timedelta(days=15)).date()) == {vip.pk}
    assert audience(holds_unused_coupon=True) == {coupon_holder.pk}
    assert audience(birthday_month=6) == {june.pk}
    assert audience(segments=["新客"]) == {vip.pk, dress.pk}
    assert audience(segments=["流失风险", "潜在客户"]) == {lapsed.pk, coupon_holder.pk, june.pk}
    campaign = campaign_for(store)
    campaign.tags.set([tag])
    assert campaign_audience_count(campaign=campaign) == 1

    chat = GroupChat.objects.create(chat_id="wr-club", name="静安老友群")
    community = Community.objects.create(store=store, name="会员俱乐部")
    community.chats.add(chat)
    GroupMember.objects.create(chat=chat, userid="wm-vip", member_type=GroupMember.Type.EXTERNAL, customer=vip)
    GroupMember.objects.create(
        chat=chat, userid="wm-dress", member_type=GroupMember.Type.EXTERNAL, customer=dress, is_member=False
    )
    assert audience(community=community, community_membership="in") == {vip.pk}
    assert audience(community=community, community_membership="not_in") == {
        dress.pk,
        lapsed.pk,
        coupon_holder.pk,
        june.pk,
    }
    assert campaign_content_problems(campaign=campaign_for(store, community=community)) == [
        "按社群筛选时，请同时选择社群和“在 / 不在社群中”"
    ]


# Sending -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_skipped_customers_carry_their_reason_and_others_go_to_their_primary_associate(emulator, settings):
    settings.CAMPAIGN_MONTHLY_CAP = 1
    store, (first, second) = seed(customers=10, associates=2, emulator=emulator)
    customers = list(Customer.objects.order_by("pk"))
    Customer.objects.filter(pk=customers[0].pk).update(opted_out=True)
    Customer.objects.filter(pk=customers[1].pk).update(marketing_consent=False)
    FollowRelation.objects.filter(customer=customers[2]).update(ended_at=timezone.now())
    # customers[3] got another campaign this month: over the monthly cap of 1.
    earlier = campaign_for(store)
    chunk = CampaignChunk.objects.create(campaign=earlier, associate=first, index=0, size=1)
    CampaignRecipient.objects.create(
        campaign=earlier, customer=customers[3], associate=first, chunk=chunk, status="sent", created_at=timezone.now()
    )
    campaign = approved(campaign_for(store))

    campaigns_tick_task.delay()

    reasons = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "skip_reason"))
    assert reasons[customers[0].pk] == "opted_out"
    assert reasons[customers[1].pk] == "no_consent"
    assert reasons[customers[2].pk] == "no_follower"
    assert reasons[customers[3].pk] == "monthly_cap"
    sent = CampaignRecipient.objects.filter(campaign=campaign).exclude(status="skipped")
    assert sent.count() == 6
    assert all(r.associate_id == r.customer.primary_associate_id for r in sent.select_related("customer"))
    assert Campaign.objects.get(pk=campaign.pk).status == "done"
    tasks = wecom_tasks(emulator)
    assert sorted(m["creator"] for m in tasks) == sorted([first.wecom_userid, second.wecom_userid])
    progress = campaign_progress(campaign_id=campaign.pk)
    assert (progress.recipients, progress.skipped, progress.percent) == (10, 4, 100)


@pytest.mark.django_db
def test_the_frequency_cap_counts_other_campaigns_of_the_week(emulator, settings):
    settings.CAMPAIGN_FREQUENCY_CAP = 2
    store, _ = seed(customers=2, associates=1, emulator=emulator)
    for _ in range(2):
        approved(campaign_for(store))
        campaigns_tick_task.delay()

    third = approved(campaign_for(store))
    campaigns_tick_task.delay()

    assert set(CampaignRecipient.objects.filter(campaign=third).values_list("skip_reason", flat=True)) == {
        "frequency_cap"
    }
    assert len(wecom_tasks(emulator)) == 2


@pytest.mark.django_db
def test_recipients_of_an_associate_are_split_into_chunks_of_the_configured_size(emulator, settings):
    settings.CAMPAIGN_CHUNK_SIZE = 3
    store, (associate,) = seed(customers=8, associates=1, emulator=emulator)
    campaign = approved(campaign_for(store))

    campaigns_tick_task.delay()

    chunks = list(CampaignChunk.objects.filter(campaign=campaign).order_by("index"))
    assert [(c.index, c.size, c.status) for c in chunks] == [(0, 3, "created"), (1, 3, "created"), (2, 2, "created")]
    tasks = wecom_tasks(emulator)
    assert sorted(len(m["tasks"][associate.wecom_userid]["results"]) for m in tasks) == [2, 3, 3]
    links = sorted(m["attachments"][0]["link"]["url"] for m in tasks)
    assert links == sorted(
        f"http://omni.test/m/{campaign.landing_token}/?k=c{campaign.pk}-a{associate.pk}-{i}" for i in range(3)
    )


@pytest.mark.django_db
def test_end_to_end_every_recipient_holds_one_coupon_and_gets_one_message(emulator, settings):
    settings.CAMPAIGN_CHUNK_SIZE = 4
    store, _staff = seed(customers=12, associates=3, emulator=emulator)
    pack = CouponPackFactory(budget=Decimal("100000"))
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(total_stock=1000))
    campaign = approved(campaign_for(store, coupon_pack=pack))

    campaigns_tick_task.delay()
    confirm_all(emulator)
    polled = campaign_results_poll()

    assert polled.confirmed == 3
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert Counter(recipients.values_list("status", flat=True)) == {"sent": 12}
    assert all(r.sent_at is not None for r in recipients)
    assert Counter(Coupon.objects.values_list("customer_id", flat=True)) == {c.pk: 1 for c in Customer.objects.all()}
    received = Counter()
    for key, messages in emulator.emulator.state.data["transcripts"].items():
        for message in messages:
            if message["kind"] == "mass" and message["msgtype"] == "text":
                received[key.split("|")[2]] += 1
    assert received == {external_userid(c.pk): 1 for c in Customer.objects.all()}
    assert set(CampaignChunk.objects.filter(campaign=campaign).values_list("results_final", flat=True)) == {True}
    assert CampaignChunk.objects.filter(campaign=campaign, confirmed_at__isnull=True).count() == 0
    rows = list(campaign_recipients_export_rows(campaign_id=campaign.pk))
    assert len(rows) == 13 and rows[1][4] == "已送达"


@pytest.mark.django_db
def test_reminders_go_out_at_most_as_allowed_and_unconfirmed_tasks_expire(emulator):
    store, _ = seed(customers=2, associates=1, emulator=emulator)
    approved(campaign_for(store))
    campaigns_tick_task.delay()
    created = CampaignChunk.objects.get().created_at

    campaign_results_poll(now=created + dt.timedelta(hours=1))
    campaign_results_poll(now=created + dt.timedelta(hours=5))
    campaign_results_poll(now=created + dt.timedelta(hours=6))
    campaign_results_poll(now=created + dt.timedelta(hours=30))
    expired = campaign_results_poll(now=created + dt.timedelta(days=4))

    (message,) = wecom_tasks(emulator)
    assert message["reminds"] == 2
    assert expired.expired == 1
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) == {"unconfirmed"}


@pytest.mark.django_db
def test_cancelling_stops_tasks_not_yet_confirmed(emulator):
    store, _ = seed(customers=3, associates=1, emulator=emulator)
    campaign = approved(campaign_for(store))
    campaigns_tick_task.delay()

    campaign_cancel(campaign_id=campaign.pk, user=UserFactory(is_superuser=True))

    (message,) = wecom_tasks(emulator)
    assert message["cancelled"] is True
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) == {"cancelled"}
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"


@pytest.mark.django_db
def test_a_busy_wecom_is_retried_without_loss_or_duplicates(emulator, settings):
    settings.CAMPAIGN_CHUNK_SIZE = 2
    store, _ = seed(customers=10, associates=1, emulator=emulator)
    emulator.control("POST", "faults", {"busy_rate": 0.5, "only_apis": ["externalcontact/add_msg_template"]})
    campaign = approved(campaign_for(store))
    # Inline, a task's retry runs at once and then raises Retry for the worker; as on a worker, the caller goes on.
    app.conf.task_eager_propagates = False
    try:
        campaigns_tick_task.delay()
    finally:
        app.conf.task_eager_propagates = True

    tasks = wecom_tasks(emulator)
    assert len(tasks) == 5
    targets = Counter(t for m in tasks for task in m["tasks"].values() for t in task["results"])
    assert targets == {external_userid(c.pk): 1 for c in Customer.objects.all()}
    assert set(CampaignChunk.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"created"}


@pytest.mark.django_db
def test_a_permanent_error_fails_the_chunk_with_its_reason_and_an_admin_retry_sends_it(emulator):
    store, (associate,) = seed(customers=3, associates=1)  # the associate is unknown to WeCom: 40003
    campaign = approved(campaign_for(store))

    campaigns_tick_task.delay()

    chunk = CampaignChunk.objects.get(campaign=campaign)
    assert chunk.status == "failed" and chunk.error.startswith("40003")
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) == {"failed"}
    assert Campaign.objects.get(pk=campaign.pk).status == "done"

    emulator_seed(emulator, [(associate.wecom_userid, [external_userid(c.pk) for c in Customer.objects.all()])])
    assert campaign_chunks_retry(chunk_ids=[chunk.pk]) == [chunk.pk]
    campaign_chunk_send_task.delay(chunk.pk)

    assert CampaignChunk.objects.get(pk=chunk.pk).status == "created"
    assert set(CampaignRecipient.objects.values_list("status", flat=True)) == {"awaiting"}
    assert len(wecom_tasks(emulator)) == 1


# Faults ------------------------------------------------------------------------------------------------------


class WorkerDied(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way up handles it."""


@pytest.mark.django_db
def test_a_send_that_dies_halfway_through_20000_recipients_resumes_with_no_duplicates_and_none_missing(
    emulator, settings, monkeypatch
):
    settings.CAMPAIGN_CHUNK_SIZE = 2500
    settings.CAMPAIGN_CHUNK_LEASE_SECONDS = 0
    store, _ = seed(customers=20_000, associates=4, emulator=emulator)
    pack = CouponPackFactory(budget=Decimal("10000000"))
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(total_stock=100_000))
    campaign = approved(campaign_for(store, coupon_pack=pack))
    recorded = services._chunk_created
    calls = {"n": 0}

    def dies_on_the_fifth(chunk, msgid, fail_list):
        calls["n"] += 1
        if calls["n"] == 5:  # WeCom made the task; the worker dies before writing its msgid down
            raise WorkerDied
        recorded(chunk, msgid, fail_list)

    monkeypatch.setattr(services, "_chunk_created", dies_on_the_fifth)
    with pytest.raises(WorkerDied):
        campaigns_tick_task.delay()
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    assert Counter(CampaignChunk.objects.values_list("status", flat=True)) == {
        "created": 4,
        "creating": 1,
        "pending": 3,
    }

    campaigns_tick_task.delay()  # the resume: the beat tick finds the campaign with unsettled chunks

    tasks = wecom_tasks(emulator)
    assert len(tasks) == 8
    # The chunk whose answer was lost was found in WeCom's list, not created again.
    assert emulator.control("GET", "calls", api="externalcontact/add_msg_template")["count"] == 8
    assert emulator.control("GET", "calls", api="externalcontact/get_groupmsg_list_v2")["count"] >= 1
    targets = Counter(t for m in tasks for task in m["tasks"].values() for t in task["results"])
    assert len(targets) == 20_000 and set(targets.values()) == {1}
    assert set(targets) == {external_userid(c) for c in Customer.objects.values_list("pk", flat=True)}
    assert CampaignRecipient.objects.filter(campaign=campaign, status="awaiting").count() == 20_000
    assert Coupon.objects.count() == 20_000
    assert Coupon.objects.values("customer").distinct().count() == 20_000
    assert Campaign.objects.get(pk=campaign.pk).status == "done"
    assert Associate.objects.count() == 4
