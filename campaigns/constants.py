"""Campaign limits in one place; each can be overridden in Django settings under the same name."""

from django.conf import settings


def setting(name: str, default):
    return getattr(settings, name, default)


# WeCom (Doc 92135): one add_msg_template call takes at most 10,000 external_userids, text ≤ 4000 bytes,
# at most 9 attachments.
CHUNK_MAX_RECIPIENTS = 10_000
TEXT_MAX_BYTES = 4000
ATTACHMENTS_MAX = 9


def chunk_size() -> int:
    """Recipients per add_msg_template call (tests lower it to exercise many chunks with few customers)."""
    return min(CHUNK_MAX_RECIPIENTS, setting("CAMPAIGN_CHUNK_SIZE", CHUNK_MAX_RECIPIENTS))


def resolve_range() -> int:
    """Customers of the campaign's stores per keyset range of the audience's resolution (one short transaction each)."""
    return setting("CAMPAIGN_RESOLVE_RANGE", 50_000)


def estimate_sample() -> int:
    """The admin preview's first figure counts the audience on about this many ids of the stores' id range, in windows
    spread over it, and scales up (exact when the range is no wider)."""
    return setting("CAMPAIGN_ESTIMATE_SAMPLE", 20_000)


def frequency_cap() -> tuple[int, int]:
    """Omni's own cross-associate cap: at most N marketing mass messages per customer in D days."""
    return setting("CAMPAIGN_FREQUENCY_CAP", 2), setting("CAMPAIGN_FREQUENCY_DAYS", 7)


def monthly_cap() -> int | None:
    """WeCom's receive cap per customer per natural month; None = the days in the month (WeCom's default)."""
    return setting("CAMPAIGN_MONTHLY_CAP", None)


def chunk_lease_seconds() -> int:
    """A chunk left in `creating` this long belongs to a worker that died mid-call: reconcile and retry it."""
    return setting("CAMPAIGN_CHUNK_LEASE_SECONDS", 120)


# Reminders (remind_groupmsg_send): WeCom allows a few per task; Omni reminds at most this many times, this far apart.
REMIND_AFTER_HOURS = 4
REMIND_INTERVAL_HOURS = 24
REMIND_MAX = 3
# A task not confirmed after this long is given up: its recipients read 导购未确认.
CONFIRM_WINDOW_DAYS = 3
