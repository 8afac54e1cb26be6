"""The campaigns admin: a manager sees only campaigns of their stores, previews the audience, approves others'
campaigns (never their own), and exports the recipients as CSV; the services it saves and retries through."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.services import campaign_failed_chunks_retry, campaign_save, campaign_submit
from campaigns.tasks import campaign_chunk_send_task
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


def test_the_preview_shows_an_estimate_at_once_then_the_exact_count_from_the_background(
    client, shop, settings, django_capture_on_commit_callbacks
):
    store, manager, _, _, campaign = shop
    associate = AssociateFactory(store=store)
    for n in range(57):
        CustomerFactory(primary_store=store, primary_associate=associate, opted_out=n % 2 == 0)
    settings.CAMPAIGN_ESTIMATE_SAMPLE = 16  # the stores' 60 ids are more than the sample: an estimate first
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        first = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    stored = Campaign.objects.get(pk=campaign.pk)
    again = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    with django_capture_on_commit_callbacks(execute=True) as queued_after_edit:
        Campaign.objects.filter(pk=campaign.pk).update(birthday_month=6)
        edited = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    assert "约 " in first and "精确人数正在后台统计" in first
    assert len(queued) == 1
    assert stored.audience_count == 60 and stored.audience_counted_at is not None
    assert "60 人（发送时再排除" in again and "约 " not in again
    assert "精确人数正在后台统计" in edited and len(queued_after_edit) == 1
    assert Campaign.objects.get(pk=campaign.pk).audience_count == 0  # nobody of the store was born in June


def test_a_page_shown_twice_queues_one_exact_count(shop, django_capture_on_commit_callbacks):
    from campaigns.services import campaign_audience_count_queue

    _, _, _, _, campaign = shop
    sent = []

    with django_capture_on_commit_callbacks(execute=True):
        first = campaign_audience_count_queue(campaign=campaign, send_later=sent.append)
        second = campaign_audience_count_queue(campaign=campaign, send_later=sent.append)

    assert (first, second) == (True, False)
    assert sent == [campaign.pk]


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


# The services the admin calls ------------------------------------------------------------------------------------


def test_saving_a_new_campaign_records_its_creator_and_an_edit_by_another_keeps_it():
    creator, editor = UserFactory(), UserFactory()

    campaign = campaign_save(campaign=Campaign(name="会员日", text="到店有礼", send_at=timezone.now()), user=creator)
    campaign.text = "到店有礼，满额送券"
    campaign_save(campaign=campaign, user=editor)

    saved = Campaign.objects.get(pk=campaign.pk)
    assert (saved.created_by, saved.text) == (creator, "到店有礼，满额送券")


def _chunk(campaign: Campaign, associate, *, index: int, status: str) -> CampaignChunk:
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=associate, index=index, size=1, status=status)
    CampaignRecipient.objects.create(
        campaign=campaign,
        customer=CustomerFactory(),
        associate=associate,
        chunk=chunk,
        status="failed" if status == "failed" else "awaiting",
        created_at=timezone.now(),
    )
    return chunk


def test_retrying_a_campaigns_failed_chunks_queues_each_one_once_the_transaction_commits(
    shop, monkeypatch, django_capture_on_commit_callbacks
):
    store, _, _, _, campaign = shop
    associate = AssociateFactory(store=store)
    Campaign.objects.filter(pk=campaign.pk).update(status="done", finished_at=timezone.now())
    failed = [_chunk(campaign, associate, index=index, status="failed") for index in (0, 1)]
    created = _chunk(campaign, associate, index=2, status="created")
    other = Campaign.objects.create(
        name="店庆", text="到店有礼", send_at=timezone.now(), status="done", created_by=campaign.created_by
    )
    elsewhere = _chunk(other, associate, index=0, status="failed")
    queued = []
    monkeypatch.setattr(campaign_chunk_send_task, "delay", queued.append)

    with django_capture_on_commit_callbacks() as callbacks:
        retried = campaign_failed_chunks_retry(campaign_ids=[campaign.pk], send_later=campaign_chunk_send_task.delay)
        assert queued == []
    for callback in callbacks:
        callback()

    assert retried == 2
    assert queued == [chunk.pk for chunk in failed]
    assert dict(CampaignChunk.objects.values_list("pk", "status")) == {
        failed[0].pk: "pending",
        failed[1].pk: "pending",
        created.pk: "created",
        elsewhere.pk: "failed",
    }
    assert sorted(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == [
        "awaiting",
        "queued",
        "queued",
    ]
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"
    assert Campaign.objects.get(pk=other.pk).status == "done"


def test_retrying_a_campaign_without_failed_chunks_queues_nothing(
    shop, monkeypatch, django_capture_on_commit_callbacks
):
    *_, campaign = shop
    queued = []
    monkeypatch.setattr(campaign_chunk_send_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        retried = campaign_failed_chunks_retry(campaign_ids=[campaign.pk], send_later=campaign_chunk_send_task.delay)

    assert (retried, callbacks, queued) == (0, [], [])
