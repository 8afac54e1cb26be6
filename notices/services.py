"""Notices to associates: `notice_create` (dedupe, quiet hours, the daily cap), `notice_deliver` (one WeCom app
message, retried with backoff) and the associate's preferences.

Rules, each in one place here:
- A notice is told once: its `dedupe_key` is unique; a second create with the same key returns the first row.
- Quiet hours (local time; 22:00–08:00 by default): a notice created inside them waits until they end.
- The daily cap: beyond `daily_cap` notices a local day (digests not counted) a notice is folded into the next
  digest instead of sent. The count is read under the associate's preference row lock, so two concurrent creates
  cannot both take the last place.
- Delivery: the row is locked and must still be pending and due; a WeCom error leaves it pending with a later
  `send_after` (backoff doubling from 30 s to an hour); an error no retry can fix (or too many tries) marks it failed.
"""

import logging
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from associates.models import Associate
from notices.models import Notice, NoticePreference
from omni.errors import ApplicationError
from wecom.client import WeComClient, WeComError, wecom_client

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 30
RETRY_MAX_SECONDS = 3600
MAX_ATTEMPTS = 12
TITLE_MAX_CHARS = 40  # WeCom's textcard title: 128 bytes
DESCRIPTION_MAX_CHARS = 170  # WeCom's textcard description: 512 bytes
DAILY_CAP_MAX = 200


def notice_preference_get(*, associate: Associate) -> NoticePreference:
    preference, _ = NoticePreference.objects.get_or_create(associate=associate)
    return preference


def notice_preference_update(
    *, associate: Associate, quiet_start: time, quiet_end: time, daily_cap: int
) -> NoticePreference:
    if not 1 <= daily_cap <= DAILY_CAP_MAX:
        raise ApplicationError("invalid_daily_cap", f"每日上限须在 1 到 {DAILY_CAP_MAX} 之间。")
    preference = notice_preference_get(associate=associate)
    NoticePreference.objects.filter(pk=preference.pk).update(
        quiet_start=quiet_start, quiet_end=quiet_end, daily_cap=daily_cap
    )
    preference.refresh_from_db()
    return preference


def quiet_hours_end(*, preference: NoticePreference, at: datetime) -> datetime | None:
    """When the quiet hours around `at` end, or None when `at` is outside them."""
    local = timezone.localtime(at)
    start, end, now = preference.quiet_start, preference.quiet_end, local.time()
    if start == end:
        return None
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > local else ends + timedelta(days=1)


def _absolute(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else settings.OMNI_PUBLIC_URL.rstrip("/") + url


def notice_create(
    *,
    associate: Associate,
    kind: str,
    dedupe_key: str,
    title: str,
    description: str,
    url: str,
    at: datetime | None = None,
) -> tuple[Notice, bool]:
    """The notice for `dedupe_key` and whether this call made it (False: it existed, nothing changes)."""
    if kind not in Notice.Kind.values:
        raise ApplicationError("invalid_notice_kind", f"未知的通知类型：{kind}")
    if not dedupe_key or not title.strip():
        raise ApplicationError("invalid_notice", "通知须有去重键与标题。")
    existing = Notice.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing, False
    now = at or timezone.now()
    preference = notice_preference_get(associate=associate)
    with transaction.atomic():
        preference = NoticePreference.objects.select_for_update().get(pk=preference.pk)
        existing = Notice.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing, False
        status = Notice.Status.PENDING
        if kind != Notice.Kind.DIGEST:
            day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
            today = (
                Notice.objects.filter(associate=associate, created_at__gte=day_start, status__in=["pending", "sent"])
                .exclude(kind=Notice.Kind.DIGEST)
                .count()
            )
            if today >= preference.daily_cap:
                status = Notice.Status.FOLDED
        try:
            with transaction.atomic():
                notice = Notice.objects.create(
                    associate=associate,
                    kind=kind,
                    dedupe_key=dedupe_key[:200],
                    title=title.strip()[:TITLE_MAX_CHARS],
                    description=description.strip()[:DESCRIPTION_MAX_CHARS] or title.strip()[:TITLE_MAX_CHARS],
                    url=_absolute(url),
                    status=status,
                    send_after=quiet_hours_end(preference=preference, at=now) or now,
                )
        except IntegrityError:
            return Notice.objects.get(dedupe_key=dedupe_key), False
        if kind == Notice.Kind.DIGEST:
            _digest_fold(digest=notice)
    return notice, True


def _digest_fold(*, digest: Notice) -> None:
    """The notices held back by the cap, not yet in a digest, become lines of this one."""
    folded = list(
        Notice.objects.filter(
            associate=digest.associate, status=Notice.Status.FOLDED, folded_into__isnull=True
        ).order_by("created_at", "pk")
    )
    if not folded:
        return
    Notice.objects.filter(pk__in=[n.pk for n in folded]).update(folded_into=digest)
    lines = [digest.description, f"另有 {len(folded)} 条提醒："] + [f"· {n.title}" for n in folded]
    digest.description = "\n".join(lines)[:DESCRIPTION_MAX_CHARS]
    Notice.objects.filter(pk=digest.pk).update(description=digest.description)


def notices_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(
        Notice.objects.filter(status=Notice.Status.PENDING, send_after__lte=now)
        .order_by("send_after", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def notice_deliver(*, notice_id: int, client: WeComClient | None = None) -> str:
    """Send one due, pending notice as a textcard app message; returns its status afterwards. Safe to run twice:
    under the row lock a sent (or not yet due) notice is left alone."""
    now = timezone.now()
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update()
            .select_related("associate")
            .filter(pk=notice_id, status=Notice.Status.PENDING, send_after__lte=now)
            .first()
        )
        if notice is None:
            return Notice.objects.filter(pk=notice_id).values_list("status", flat=True).first() or ""
        client = client or wecom_client()
        body = {
            "touser": notice.associate.wecom_userid,
            "msgtype": "textcard",
            "agentid": settings.WECOM_AGENT_ID,
            "textcard": {
                "title": notice.title,
                "description": notice.description,
                "url": notice.url,
                "btntxt": "详情",
            },
        }
        attempts = notice.attempts + 1
        try:
            answer = client.post("message/send", data=body)
        except WeComError as exc:
            final = not exc.transient or attempts >= MAX_ATTEMPTS
            status = Notice.Status.FAILED if final else Notice.Status.PENDING
            logger.warning("Notice %s not delivered (attempt %s): %s", notice.pk, attempts, exc)
            Notice.objects.filter(pk=notice.pk).update(
                attempts=attempts, last_error=str(exc)[:300], status=status, send_after=now + _retry_delay(attempts)
            )
            return status
        if notice.associate.wecom_userid in (answer.get("invaliduser") or "").split("|"):
            Notice.objects.filter(pk=notice.pk).update(
                attempts=attempts, status=Notice.Status.FAILED, last_error="invaliduser"
            )
            return Notice.Status.FAILED
        Notice.objects.filter(pk=notice.pk).update(
            attempts=attempts, status=Notice.Status.SENT, sent_at=now, msgid=str(answer.get("msgid", ""))[:64]
        )
    return Notice.Status.SENT
