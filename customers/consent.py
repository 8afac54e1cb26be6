"""A customer's marketing consent and its ledger: opting out (the coupon page's 不再接收, the associate in the
sidebar, the brand's systems by API) and back in, each change a `ConsentChange` row with its source and time, and
the one check every marketing sender calls (`consent_marketing_check`) so a refusal reads the same everywhere.

A change and its ledger row are one transaction, with the customer's row locked, so the ledger's latest row is
always the customer's state; a change to the state it is already in writes nothing."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from associates.models import Associate
from customers.models import ApiKey, ConsentChange, Customer
from omni.errors import ApplicationError

Source = ConsentChange.Source


def _change(
    *,
    customer_id: int,
    opted_out: bool,
    marketing_consent: bool,
    source: str,
    associate: Associate | None,
    api_key: ApiKey | None,
    note: str,
    at: dt.datetime | None,
) -> ConsentChange | None:
    with transaction.atomic():
        customer = Customer.objects.select_for_update(no_key=True).filter(pk=customer_id).first()
        if customer is None:
            raise ApplicationError("customer_not_found", "没有这位客户。", status_code=404)
        if (customer.opted_out, customer.marketing_consent) == (opted_out, marketing_consent):
            return None
        Customer.objects.filter(pk=customer_id).update(
            opted_out=opted_out, marketing_consent=marketing_consent, updated_at=timezone.now()
        )
        return ConsentChange.objects.create(
            customer_id=customer_id,
            opted_out=opted_out,
            marketing_consent=marketing_consent,
            source=source,
            associate=associate,
            api_key=api_key,
            note=note[:200],
            at=at or timezone.now(),
        )


def consent_opt_out(
    *,
    customer_id: int,
    source: str,
    associate: Associate | None = None,
    api_key: ApiKey | None = None,
    note: str = "",
    at: dt.datetime | None = None,
) -> ConsentChange | None:
    """The customer asked for no more marketing: opted out, consent withdrawn. None when already so."""
    return _change(
        customer_id=customer_id,
        opted_out=True,
        marketing_consent=False,
        source=source,
        associate=associate,
        api_key=api_key,
        note=note,
        at=at,
    )


def consent_opt_in(
    *,
    customer_id: int,
    source: str,
    associate: Associate | None = None,
    api_key: ApiKey | None = None,
    note: str = "",
    at: dt.datetime | None = None,
) -> ConsentChange | None:
    """The customer agreed to marketing again (only the customer can: the brand's systems or HQ record it, never
    an associate)."""
    if source == Source.SIDEBAR:
        raise ApplicationError(
            "consent_opt_in_forbidden", "导购不能替客户重新订阅，请客户通过品牌渠道授权。", status_code=403
        )
    return _change(
        customer_id=customer_id,
        opted_out=False,
        marketing_consent=True,
        source=source,
        associate=associate,
        api_key=api_key,
        note=note,
        at=at,
    )


def consent_latest(*, customer_id: int) -> ConsentChange | None:
    return ConsentChange.objects.filter(customer_id=customer_id).order_by("-at", "-pk").first()


def consent_refusal_text(*, customer_id: int) -> str:
    """Why marketing to this customer is refused, in words an associate understands."""
    latest = consent_latest(customer_id=customer_id)
    if latest is None or not latest.opted_out:
        return "客户已退订营销消息，不能发送营销内容。"
    when = f"{timezone.localtime(latest.at):%Y-%m-%d %H:%M}"
    return f"客户已于 {when} 退订营销消息（{latest.get_source_display()}），不能发送营销内容。"


def consent_marketing_check(*, customer_id: int) -> None:
    """Raise `customer_opted_out` (409) when the customer opted out of marketing; every marketing send calls it."""
    if Customer.objects.filter(pk=customer_id, opted_out=True).exists():
        raise ApplicationError("customer_opted_out", consent_refusal_text(customer_id=customer_id), status_code=409)
