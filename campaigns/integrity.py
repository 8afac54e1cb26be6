"""The campaigns' invariants (`omni.integrity`): a recipient's chunk and associate keys carry no database constraint
(see CampaignRecipient), so a recipient whose chunk or associate is gone, or whose chunk belongs to another campaign
or associate, is a finding."""

from django.db.models import Exists, OuterRef

from associates.models import Associate
from campaigns.models import CampaignChunk, CampaignRecipient
from omni.integrity import Finding, integrity_check


@integrity_check("campaigns.recipients", what="each recipient's chunk and associate exist and agree with each other")
def recipient_keys() -> list[Finding]:
    recipients = CampaignRecipient.objects.values_list("pk", "campaign_id", "chunk_id", "associate_id")
    own_chunk = CampaignChunk.objects.filter(
        pk=OuterRef("chunk_id"), campaign_id=OuterRef("campaign_id"), associate_id=OuterRef("associate_id")
    )
    wrong_chunk = recipients.filter(chunk__isnull=False).exclude(Exists(own_chunk))
    gone_associate = recipients.filter(associate__isnull=False).exclude(
        Exists(Associate.objects.filter(pk=OuterRef("associate_id")))
    )
    wrong = (wrong_chunk | gone_associate).order_by("pk")
    return [
        Finding(
            f"recipient {pk}",
            f"campaign {campaign}, chunk {chunk}, associate {associate}: no such chunk of that "
            "campaign and associate, or no such associate",
        )
        for pk, campaign, chunk, associate in wrong
    ]
