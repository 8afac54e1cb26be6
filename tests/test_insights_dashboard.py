"""The performance dashboard: daily figures rebuilt from the ledgers, the admin page and its CSV, store scoping."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from clientbook.models import FollowRelation
from coupons.models import Coupon, IssueRequest, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Channel, Order
from insights.attribution import attribution_recompute
from insights.models import Attribution, DailyStats
from insights.stats import daily_stats_refresh
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 20)
# 10:00 in Shanghai on DAY.
AT = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)


def _follow(associate, customer, *, add_way=1, welcome=FollowRelation.Welcome.SENT):
    return FollowRelation.objects.create(
        associate=associate,
        customer=customer,
        external_userid=f"wm{uuid.uuid4().hex[:12]}",
        add_way=add_way,
        followed_at=AT,
        welcome=welcome,
    )


@pytest.fixture
def world():
    store_a, store_b = StoreFactory(name="静安店"), StoreFactory(name="徐汇店")
    lin, wang = AssociateFactory(store=store_a, name="林雨"), AssociateFactory(store=store_b, name="王芳")
    customers = [CustomerFactory() for _ in range(3)]
    product = ProductFactory()
    # Lin: two customers added (one more came by a transfer and does not count), a suggestion bought, a coupon used.
    _follow(lin, customers[0])
    _follow(lin, customers[1])
    _follow(lin, customers[2], add_way=202, welcome=FollowRelation.Welcome.NONE)
    Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=lin,
        store=store_a,
        customer=customers[0],
        product=product,
        source=Outreach.Source.SUGGESTION,
        sent_at=AT,
    )
    pack = CouponPackItemFactory(quantity=2, template__per_customer_limit=2).pack
    sent = coupon_pack_send(pack_id=pack.pk, customer_id=customers[1].pk, request_no="s1", associate=lin)
    IssueRequest.objects.filter(pk=sent.request.pk).update(created_at=AT)
    Coupon.objects.filter(issue_request=sent.request).update(issued_at=AT)
    coupon_redeem(
        code=sent.coupons[0].code,
        order=OrderIn(channel="store", store=store_a, order_ref="POS-9", amount=Decimal("400.00")),
        request_no="rd1",
    )
    Redemption.objects.update(created_at=AT + dt.timedelta(hours=3))
    bought = OrderFactory(
        channel=Channel.MINI_PROGRAM,
        store=None,
        customer=customers[0],
        placed_at=AT + dt.timedelta(hours=2),
        total_amount=Decimal("199.00"),
    )
    OrderLineFactory(order=bought, product=product)
    # Wang: one customer, and a cashier sale; a cancelled one does not count.
    _follow(wang, CustomerFactory())
    OrderFactory(channel=Channel.STORE_POS, store=store_b, associate=wang, placed_at=AT, total_amount=Decimal("500.00"))
    OrderFactory(
        channel=Channel.STORE_POS,
        store=store_b,
        associate=wang,
        placed_at=AT,
        total_amount=Decimal("900.00"),
        status=Order.Status.CANCELLED,
    )
    attribution_recompute(start=AT - dt.timedelta(days=1), end=AT + dt.timedelta(days=1))
    daily_stats_refresh(start=DAY, end=DAY)
    return {"a": store_a, "b": store_b, "lin": lin, "wang": wang}


def _manager(store, *perms):
    user = UserFactory()
    store.managers.add(user)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="insights", codename__in=perms or ["view_dailystats"])
    )
    return user


def test_the_daily_figures_count_each_ledger_once(world):
    lin = DailyStats.objects.get(day=DAY, associate=world["lin"])
    assert (lin.store_id, lin.customers_added, lin.customers_touched) == (world["a"].pk, 2, 2)
    assert (lin.outreach_sent, lin.suggestions_sent, lin.suggestions_bought) == (1, 1, 1)
    assert (lin.coupon_packs_sent, lin.coupons_sent, lin.coupons_redeemed) == (1, 2, 1)
    assert (lin.orders, lin.gmv) == (Decimal("1"), Decimal("199.00"))  # the online order after lin's card
    wang = DailyStats.objects.get(day=DAY, associate=world["wang"])
    assert (wang.store_id, wang.customers_added, wang.orders, wang.gmv) == (
        world["b"].pk,
        1,
        Decimal("1"),
        Decimal("500.00"),
    )
    assert DailyStats.objects.count() == 2


def test_a_refresh_replaces_the_days_rows(world):
    Attribution.objects.filter(associate=world["wang"]).delete()

    daily_stats_refresh(start=DAY, end=DAY)

    assert DailyStats.objects.count() == 2
    assert DailyStats.objects.get(associate=world["wang"]).gmv == Decimal("0")


def test_a_manager_sees_only_their_stores_figures(client, world):
    client.force_login(_manager(world["a"]))

    html = client.get("/admin/insights/dailystats/", {"start": "2026-05-01", "end": "2026-05-31"}).content.decode()

    assert "林雨" in html and "¥199" in html
    assert "王芳" not in html and "徐汇店" not in html and "¥500" not in html
    assert "<svg" in html and "cdn" not in html.lower()


def test_a_manager_asking_for_another_store_gets_nothing_of_it(client, world):
    client.force_login(_manager(world["a"]))

    html = client.get(
        "/admin/insights/dailystats/", {"start": "2026-05-01", "end": "2026-05-31", "store": world["b"].pk}
    ).content.decode()

    assert "王芳" not in html and "¥500" not in html


def test_hq_sees_every_store_and_the_leaderboard_ranks_by_attributed_gmv(client, world):
    client.force_login(UserFactory(is_superuser=True))

    html = client.get("/admin/insights/dailystats/", {"start": "2026-05-01", "end": "2026-05-31"}).content.decode()

    board = html[html.index("导购排行榜") :]
    assert board.index("王芳") < board.index("林雨")
    assert "徐汇店" in html and "静安店" in html


def test_the_csv_export_is_scoped_and_has_the_figures(client, world):
    client.force_login(_manager(world["a"]))

    response = client.get("/admin/insights/dailystats/", {"start": "2026-05-01", "end": "2026-05-31", "format": "csv"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    lin = dict(zip(header, rows[1], strict=True))
    assert (lin["导购"], lin["门店"], lin["归因GMV"], lin["新增客户"], lin["核销率"]) == (
        "林雨",
        "静安店",
        "199.00",
        "2",
        "50.0%",
    )
    assert [r[1] for r in rows[1:]] == ["林雨", "（门店合计）"]


def test_without_the_permission_the_dashboard_is_refused(client, world):
    user = UserFactory()
    world["a"].managers.add(user)
    client.force_login(user)

    assert client.get("/admin/insights/dailystats/").status_code == 403


def test_attributions_in_admin_are_scoped_to_the_managers_stores(client, world):
    client.force_login(_manager(world["a"], "view_attribution"))

    html = client.get("/admin/insights/attribution/").content.decode()

    assert "林雨" in html and "王芳" not in html


def test_community_invites_and_campaign_messages_are_touches_and_are_counted():
    from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
    from communities.models import Community, CommunityInviteCode, Invite

    store = StoreFactory()
    lin, wang = AssociateFactory(store=store, name="林雨"), AssociateFactory(store=store, name="王芳")
    invited, messaged = CustomerFactory(), CustomerFactory()
    community = Community.objects.create(store=store, name="静安穿搭群")
    code = CommunityInviteCode.objects.create(community=community, associate=lin, state="ci-1")
    invite = Invite.objects.create(
        request_id="inv-1",
        associate=lin,
        customer=invited,
        community=community,
        store=store,
        invite_code=code,
        sent_at=AT,
        status=Invite.Status.JOINED,
        joined_at=AT + dt.timedelta(hours=1),
    )
    Invite.objects.create(
        request_id="inv-2",
        associate=lin,
        customer=CustomerFactory(),
        community=community,
        store=store,
        invite_code=code,
        sent_at=AT,
    )
    campaign = Campaign.objects.create(name="五月上新", created_by=UserFactory())
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=wang, index=0, size=1, confirmed_at=AT)
    receipt = CampaignRecipient.objects.create(
        campaign=campaign,
        customer=messaged,
        associate=wang,
        chunk=chunk,
        status=CampaignRecipient.Status.SENT,
        sent_at=AT,
        created_at=AT,
    )
    by_invite = OrderFactory(
        channel=Channel.MINI_PROGRAM, store=None, customer=invited, placed_at=AT + dt.timedelta(days=2)
    )
    by_campaign = OrderFactory(
        channel=Channel.ONLINE_MALL, store=None, customer=messaged, placed_at=AT + dt.timedelta(days=3)
    )

    attribution_recompute(start=AT, end=AT + dt.timedelta(days=5))
    daily_stats_refresh(start=DAY, end=DAY)

    assert Attribution.objects.get(order=by_invite).touch_kind == "invite"
    assert Attribution.objects.get(order=by_invite).touch_id == invite.pk
    assert (
        Attribution.objects.get(order=by_campaign).associate_id,
        Attribution.objects.get(order=by_campaign).touch_id,
    ) == (
        wang.pk,
        receipt.pk,
    )
    lin_day = DailyStats.objects.get(day=DAY, associate=lin)
    assert (lin_day.invites_sent, lin_day.invites_joined, lin_day.customers_touched) == (2, 1, 2)
    wang_day = DailyStats.objects.get(day=DAY, associate=wang)
    assert (wang_day.campaign_confirmations, wang_day.customers_touched) == (1, 1)
