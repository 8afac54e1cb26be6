"""What campaigns tell associates (`notices.notify.notice_send`): a mass message waiting for their confirmation in
WeCom (群发助手) once its task is created — one notice per campaign and associate, however many chunks."""

from campaigns.models import CampaignChunk
from notices.models import Notice
from notices.notify import notice_send


def campaign_confirm_notify(*, chunk_id: int) -> Notice | None:
    chunk = (
        CampaignChunk.objects.select_related("campaign", "associate")
        .filter(pk=chunk_id, status=CampaignChunk.Status.CREATED)
        .first()
    )
    if chunk is None:
        return None
    waiting = CampaignChunk.objects.filter(
        campaign_id=chunk.campaign_id, associate_id=chunk.associate_id, status=CampaignChunk.Status.CREATED
    ).values_list("size", flat=True)
    return notice_send(
        associate=chunk.associate,
        kind=Notice.Kind.CAMPAIGN_CONFIRM,
        dedupe_key=f"campaign_confirm:{chunk.campaign_id}:{chunk.associate_id}",
        title=f"群发待确认：{chunk.campaign.name}",
        description=f"请在企业微信「客户联系 → 群发助手」中确认发送给 {sum(waiting)} 位客户。",
        url="/workbench/",
    )
