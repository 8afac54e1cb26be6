"""The appointments' beat: the day-before reminders (each claimed by an UPDATE … WHERE reminded_*_at IS NULL, so a
second run, or two at once, sends nothing more)."""

from celery import shared_task

from appointments.services import appointments_remind


@shared_task(acks_late=True)
def appointments_remind_task() -> dict[str, int]:
    return appointments_remind()
