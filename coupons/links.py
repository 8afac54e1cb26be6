"""The customer's coupon page link: signed, expiring, unguessable, and good for one customer only.

The token is the customer id signed with the project's SECRET_KEY (HMAC) and a timestamp, so it cannot be
made or altered without the key, and it stops working after `PAGE_MAX_AGE`: a forwarded chat card does not
open a customer's coupons forever.
"""

import datetime as dt

from django.conf import settings
from django.core import signing
from django.templatetags.static import static
from django.urls import reverse

PAGE_MAX_AGE = dt.timedelta(days=30)
_SALT = "coupons.page"


def coupon_page_token(*, customer_id: int) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object({"c": customer_id})


def coupon_page_customer_id(*, token: str) -> int | None:
    """The customer a token was made for, or None when it is forged, altered or older than PAGE_MAX_AGE."""
    try:
        data = signing.TimestampSigner(salt=_SALT).unsign_object(token, max_age=PAGE_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    customer_id = data.get("c") if isinstance(data, dict) else None
    return customer_id if isinstance(customer_id, int) else None


def coupon_page_url(*, customer_id: int) -> str:
    path = reverse("coupon-page", kwargs={"token": coupon_page_token(customer_id=customer_id)})
    return settings.OMNI_PUBLIC_URL.rstrip("/") + path


def coupon_card_image_url() -> str:
    """The thumbnail of the chat card that links to the coupon page (a square, as WeChat crops to one)."""
    return settings.OMNI_PUBLIC_URL.rstrip("/") + static("omni/coupon-card.png")
