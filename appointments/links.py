"""The customer's appointment links, as the coupon page's: the booking page's token is the customer, the store and the
associate who sent it, signed with SECRET_KEY and a timestamp (good for `BOOKING_LINK_MAX_AGE`); an appointment's own
page is reached by its random token (`Appointment.token`)."""

import datetime as dt

from django.conf import settings
from django.core import signing
from django.urls import reverse

BOOKING_LINK_MAX_AGE = dt.timedelta(days=14)
_SALT = "appointments.book"


def booking_token(*, customer_id: int, store_id: int, associate_id: int | None) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object({"c": customer_id, "s": store_id, "a": associate_id})


def booking_token_read(*, token: str) -> tuple[int, int, int | None] | None:
    """(customer id, store id, associate id) a token was made for, or None when forged, altered or too old."""
    try:
        data = signing.TimestampSigner(salt=_SALT).unsign_object(token, max_age=BOOKING_LINK_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("s"), int):
        return None
    associate_id = data.get("a")
    return data["c"], data["s"], associate_id if isinstance(associate_id, int) else None


def _public(path: str) -> str:
    return settings.OMNI_PUBLIC_URL.rstrip("/") + path


def booking_url(*, customer_id: int, store_id: int, associate_id: int | None) -> str:
    token = booking_token(customer_id=customer_id, store_id=store_id, associate_id=associate_id)
    return _public(reverse("appointment-book-page", kwargs={"token": token}))


def appointment_url(*, token: str) -> str:
    return _public(reverse("appointment-page", kwargs={"token": token}))
