"""The campaigns admin: a manager sees only campaigns of their stores, previews the audience, approves others'
campaigns (never their own), and exports the recipients as CSV."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_submit
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store, other = StoreFactory(), StoreFactory()
    manager, creator, stranger = UserFactory(), UserFactory(), UserFactory()
    for user in (manager, creator):
        store.managers.add(user)
    other.managers.add(stranger)
    for user in (manager, creator, stranger):
        user.user_permissions.add(*_perms())
    associate = AssociateFactory(store=store)
    for _ in range(3):
        CustomerFactory(primary_store=store, primary_associate=associate, marketing_consent=True)
    campaign = Campaign.objects.create(name="会员日", text="到店有礼", send_at=timezone.now(), created_by=creator)
    campaign.stores.add(store)
    return store, manager, creator, stranger, campaign


def _perms():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="campaigns")


def test_a_manager_sees_their_stores_campaigns_with_the_audience_preview(client, shop):
    _, manager, _, stranger, campaign = shop
    client.force_login(manager)

    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    assert page.status_code == 200
    assert "3 人" in page.content.decode()
    client.force_login(stranger)
    assert client.get("/admin/campaigns/campaign/").content.decode().count("会员日") == 0
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").status_code == 404


def test_the_approve_action_refuses_the_creator_and_accepts_another_manager(client, shop):
    _, manager, creator, _, campaign = shop
    campaign_submit(campaign_id=campaign.pk, user=creator)
    action = {"action": "approve", "_selected_action": [campaign.pk]}

    client.force_login(creator)
    client.post("/admin/campaigns/campaign/", action)
    assert Campaign.objects.get(pk=campaign.pk).status == "submitted"

    client.force_login(manager)
    client.post("/admin/campaigns/campaign/", action)
    assert Campaign.objects.get(pk=campaign.pk).status == "approved"


def test_recipients_export_as_csv(client, shop):
    _, manager, _, _, campaign = shop
    client.force_login(manager)

    response = client.get(f"/admin/campaigns/campaign/{campaign.pk}/export/")

    body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert body.startswith("\ufeff客户ID,客户,导购")
