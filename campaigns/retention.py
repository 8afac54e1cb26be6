"""The recipients of long-ended campaigns (omni.retention): their rows go, their counts stay on the campaign.

What reads recipients, and why this is safe for each:
- the campaign's progress in admin (`campaign_progress`): reads `Campaign.recipients_summary`, written from the rows
  (`campaign_recipients_summary`) in the same transaction that locks the campaign, before the first row is deleted;
- insights (touches for attribution, customers touched per day): they read a recipient's `sent_at`, which is before
  the campaign ended; the nightly rebuild reaches back one attribution window (at most 365 days), so the period may
  not be shorter than RECIPIENTS_DAYS_MIN, and `insights_recompute` refuses a period that would read pruned rows;
- the landing page and the per-person CSV export: a long-ended campaign's page no longer recognises its recipients,
  and its export is empty — both the point of deleting them.
"""

import datetime as dt

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_recipients_summary
from omni.retention import batched_delete, retention_days, retention_rule

RECIPIENTS_DAYS_MIN = 366  # longer than the longest attribution window (insights.attribution: 1..365 days)


def _recipients_days() -> int | None:
    days = retention_days("campaign_recipients")
    if days is not None and days < RECIPIENTS_DAYS_MIN:
        raise ImproperlyConfigured(
            f"OMNI_RETENTION_CAMPAIGN_RECIPIENTS_DAYS is {days}; at least {RECIPIENTS_DAYS_MIN}, so that insights "
            "never read a deleted recipient."
        )
    return days


def campaigns_ended_before(cutoff: dt.datetime):
    return Campaign.objects.filter(
        Q(status=Campaign.Status.DONE, finished_at__lt=cutoff)
        | Q(status=Campaign.Status.CANCELLED, cancelled_at__lt=cutoff)
    )


def campaign_recipients_summary_keep(*, campaign_id: int) -> None:
    """Write the recipients' counts on the campaign once, under its lock, before any of its rows is deleted."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(no_key=True).only("recipients_summary").get(pk=campaign_id)
        if campaign.recipients_summary is None:
            summary = campaign_recipients_summary(campaign_id=campaign_id)
            Campaign.objects.filter(pk=campaign_id).update(recipients_summary=summary)


@retention_rule(
    "campaign_recipients",
    what="recipients of campaigns ended more than {days} days ago (their counts kept on the campaign)",
    days=_recipients_days,
)
def campaign_recipients_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    ended = campaigns_ended_before(cutoff)
    if dry_run:
        return CampaignRecipient.objects.filter(campaign__in=ended).count()
    deleted = 0
    with_rows = ended.filter(Exists(CampaignRecipient.objects.filter(campaign=OuterRef("pk"))))
    for campaign_id in with_rows.order_by("pk").values_list("pk", flat=True):
        campaign_recipients_summary_keep(campaign_id=campaign_id)
        rows = CampaignRecipient.objects.filter(campaign_id=campaign_id)
        deleted += batched_delete(rows, dry_run=False, batch_size=batch_size)
    return deleted
