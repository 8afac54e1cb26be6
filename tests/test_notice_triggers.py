"""The features' notices: a sale credited to the associate through her chat (insights' incremental attribution), and
a mass message waiting for her confirmation in WeCom (campaigns) — each told once."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, CampaignChunk
from campaigns.notifying import campaign_confirm_notify
from customers.models import Channel
from insights.models import Attribution
from insights.tasks import insights_refresh_task
from notices.models import Notice
from suggestions.models import Outreach
from tests.factories import AssociateFactory, CustomerFactory, OrderFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_a_sale_after_the_associates_product_card_tells_her_once():
    store = StoreFactory(name="静安店")
    lin = AssociateFactory(store=store, name="林雨")
    customer = CustomerFactory(name="陈静")
    now = timezone.now()
    Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=lin,
        store=store,
        customer=customer,
        product=ProductFactory(),
        source=Outreach.Source.MANUAL,
        sent_at=now - dt.timedelta(days=5),
    )
    OrderFactory(channel=Channel.MINI_PROGRAM, store=None, customer=customer, placed_at=now - dt.timedelta(days=3))
    insights_refresh_task()  # an order of three days ago, arriving late, is credited but is not news
    assert Notice.objects.count() == 0
    assert Attribution.objects.filter(associate=lin).count() == 1

    order = OrderFactory(
        channel=Channel.MINI_PROGRAM,
        store=None,
        customer=customer,
        placed_at=now - dt.timedelta(hours=1),
        total_amount=Decimal("300.00"),
    )
    insights_refresh_task()
    insights_refresh_task()

    [notice] = Notice.objects.all()
    assert (notice.associate_id, notice.kind, notice.title) == (lin.pk, "sale", "你的客户下单了：陈静")
    assert notice.description == "陈静 消费 ¥300.00，计入你的业绩 ¥300.00（商品卡片）。"
    assert notice.dedupe_key == f"sale:{order.pk}:{lin.pk}"
    assert notice.url.endswith(f"/workbench/customers/{customer.pk}/")


def test_a_created_mass_message_task_tells_its_associate_once_per_campaign():
    store = StoreFactory(name="静安店")
    lin = AssociateFactory(store=store, name="林雨")
    manager = get_user_model().objects.create(username="manager")
    campaign = Campaign.objects.create(name="周末到店有礼", text="到店有礼", send_at=timezone.now(), created_by=manager)
    chunks = [
        CampaignChunk.objects.create(campaign=campaign, associate=lin, index=i, size=size, status="created")
        for i, size in enumerate([100, 20])
    ]
    pending = CampaignChunk.objects.create(campaign=campaign, associate=lin, index=2, size=5)

    assert campaign_confirm_notify(chunk_id=pending.pk) is None
    for chunk in chunks:
        campaign_confirm_notify(chunk_id=chunk.pk)

    [notice] = Notice.objects.all()
    assert (notice.kind, notice.title) == ("campaign_confirm", "群发待确认：周末到店有礼")
    assert notice.description == "请在企业微信「客户联系 → 群发助手」中确认发送给 120 位客户。"
