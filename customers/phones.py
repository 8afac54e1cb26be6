"""Phone numbers: normalized to E.164 before matching (mainland China rules by default), masked for display."""

import phonenumbers
from django.conf import settings


class InvalidPhone(ValueError):
    pass


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return the E.164 form of `raw` ("+8613812345678"), or raise InvalidPhone.

    Accepts the usual ways people write a Chinese mobile: 13812345678, 138 1234 5678, 138-1234-5678,
    +86 138..., 0086138..., 86138... .
    """
    digits = "".join(ch for ch in str(raw) if ch.isdigit() or ch == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = "+" + digits
    try:
        number = phonenumbers.parse(digits, region or settings.OMNI_PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_mask(e164: str) -> str:
    """ "+8613812345678" → "138****5678"; other countries keep their code: "+44 77****0123"."""
    if not e164:
        return ""
    if e164.startswith("+86") and len(e164) == 14:
        national = e164[3:]
        return f"{national[:3]}****{national[-4:]}"
    if len(e164) < 8:
        return "*" * len(e164)
    return f"{e164[:5]}****{e164[-4:]}"
