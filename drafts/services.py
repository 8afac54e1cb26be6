"""A draft for the associate's chat with her: her facts, the purposes they support, the provider's text if one is
configured and the checker lets it through, else the template's. Every draft is recorded (`drafts.models.Draft`)
and a refused or failed provider draft is logged with its reason."""

import datetime as dt
import logging
from dataclasses import dataclass

from prometheus_client import Counter

from associates.models import Associate
from customers.models import Customer
from drafts.checker import draft_check, findings_text
from drafts.drafters import ProviderFailed, provider_configured, provider_draft, template_draft
from drafts.facts import customer_facts_get
from drafts.models import Draft
from drafts.purposes import PURPOSES, Purpose, purposes_applicable
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)

DRAFTS = Counter(
    "omni_drafts_total", "Drafts shown in the sidebar, by outcome (drafts.models.Draft.Outcome)", ["outcome"]
)


@dataclass(frozen=True)
class DraftResult:
    purposes: list[Purpose]  # what her facts support
    purpose: Purpose | None  # None: nothing to draft for
    text: str
    drafter: str  # Draft.Drafter
    outcome: str  # Draft.Outcome
    reason: str
    draft_id: int | None


def draft_make(
    *, associate: Associate, customer: Customer, purpose: str = "", now: dt.datetime | None = None
) -> DraftResult:
    """The draft for `purpose` (empty: the first purpose that applies). The caller has checked the associate may see
    her. A purpose unknown answers 400, one her facts do not support 409."""
    if purpose and purpose not in PURPOSES:
        raise ApplicationError("draft_purpose_unknown", f"未知的草稿目的：{purpose}", details={"known": list(PURPOSES)})
    facts = customer_facts_get(associate=associate, customer=customer, now=now)
    applicable = purposes_applicable(facts=facts)
    if not purpose:
        if not applicable:
            return DraftResult(applicable, None, "", "", "", "", None)
        chosen = applicable[0]
    else:
        chosen = PURPOSES[purpose]
        if chosen not in applicable:
            raise ApplicationError(
                "draft_purpose_not_applicable",
                f"这位客户目前没有可写「{chosen.label}」的内容。",
                details={"purpose": purpose, "applicable": [p.key for p in applicable]},
                status_code=409,
            )
    template = template_draft(facts=facts, purpose=chosen)
    text, drafter, outcome, reason, provider_text, findings = (
        template,
        Draft.Drafter.TEMPLATE,
        Draft.Outcome.TEMPLATE,
        "",
        "",
        [],
    )
    if provider_configured():
        try:
            provider_text = provider_draft(facts=facts, purpose=chosen)
        except ProviderFailed as failure:
            outcome, reason = Draft.Outcome.FAILED, f"大模型调用失败：{failure.reason}"
        else:
            found = draft_check(text=provider_text, facts=facts, associate=associate, customer=customer)
            if found:
                outcome, reason = Draft.Outcome.REFUSED, findings_text(found)
                findings = [{"kind": f.kind, "value": f.value} for f in found]
            else:
                text, drafter, outcome = provider_text, Draft.Drafter.PROVIDER, Draft.Outcome.ACCEPTED
        if outcome in (Draft.Outcome.FAILED, Draft.Outcome.REFUSED):
            logger.warning(
                "Draft %s for customer %s (%s) by associate %s: %s",
                outcome,
                customer.pk,
                chosen.key,
                associate.pk,
                reason,
            )
    record = Draft.objects.create(
        associate=associate,
        store_id=associate.store_id,
        customer=customer,
        purpose=chosen.key,
        drafter=drafter,
        outcome=outcome,
        text=text,
        provider_text=provider_text,
        reason=reason[:200],
        findings=findings,
    )
    DRAFTS.labels(outcome=outcome).inc()
    return DraftResult(applicable, chosen, text, drafter, outcome, reason, record.pk)
