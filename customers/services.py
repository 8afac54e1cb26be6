"""One ID: resolving incoming identities to the golden customer record, and audited, undoable merges.

Policy (the same for every channel):
- Identities are normalized first (phones to E.164), then matched exactly on (kind, value).
- No known identity → a new customer owns them all. One customer owns the known ones → the new
  identities are added to it and blank profile fields are filled.
- Known identities owned by two or more customers are never merged here: the data is linked to the
  owner of the strongest identity (`IDENTITY_STRENGTH`), identities owned by others stay where they
  are, and an `IdentityConflict` is recorded for a person to review and perhaps `customer_merge`.
- Opting out is sticky: ingestion can set `opted_out` but never clear it.
- A merge records exactly what moved, so `customer_merge_undo` moves back exactly that.
"""

import dataclasses
import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model, Q
from django.urls import reverse
from django.utils import timezone

from associates.models import Associate, Store
from customers.models import (
    AuditLog,
    ConsentChange,
    Customer,
    CustomerMerge,
    CustomerNote,
    CustomerTag,
    Identity,
    IdentityClaim,
    IdentityConflict,
    Order,
)
from customers.phones import InvalidPhone, phone_normalize
from customers.selectors import customer_survivor, customer_survivor_ids
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)

# Strongest first: used to pick which customer incoming data belongs to when identities disagree.
IDENTITY_STRENGTH = [
    Identity.Kind.WECHAT_UNIONID,
    Identity.Kind.WECOM_EXTERNAL_USERID,
    Identity.Kind.MINI_PROGRAM_OPENID,
    Identity.Kind.WECHAT_OA_OPENID,
    Identity.Kind.POS_MEMBER_NO,
    Identity.Kind.MALL_ACCOUNT,
    Identity.Kind.PHONE,
]

# Profile fields filled from incoming data only while blank on the golden record.
FILLABLE_FIELDS = ("name", "gender", "birthday", "phone", "primary_store_id", "primary_associate_id")
_BLANK = (None, "", Customer.Gender.UNKNOWN)

IdentityPair = tuple[str, str]


@dataclass(frozen=True)
class Resolution:
    customer: Customer
    created: bool
    identities_added: tuple[IdentityPair, ...] = ()
    fields_changed: tuple[str, ...] = ()
    conflict: IdentityConflict | None = None

    @property
    def changed(self) -> bool:
        return self.created or bool(self.identities_added or self.fields_changed)


@dataclass
class Profile:
    """Profile fields as they arrive from a channel; None means "not provided"."""

    name: str | None = None
    gender: str | None = None
    birthday: Any = None
    phone: str | None = None
    primary_store: Store | None = None
    primary_associate: Associate | None = None
    marketing_consent: bool | None = None
    opted_out: bool | None = None
    extra: dict = field(default_factory=dict)


def identity_normalize(*, kind: str, value: Any) -> str:
    """The canonical stored form of an identity value, or ApplicationError `invalid_identity`."""
    if kind not in Identity.Kind.values:
        raise ApplicationError("invalid_identity", f"Unknown identity kind {kind!r}.")
    text = "" if value is None else str(value).strip()
    if not text:
        raise ApplicationError("invalid_identity", f"Empty value for identity {kind}.")
    if kind == Identity.Kind.PHONE:
        try:
            return phone_normalize(text)
        except InvalidPhone as exc:
            raise ApplicationError("invalid_phone", f"{text!r} is not a valid phone number.") from exc
    if len(text) > Identity._meta.get_field("value").max_length:
        raise ApplicationError("invalid_identity", f"Identity {kind} is too long.")
    return text


def _normalized_pairs(identities: Iterable[IdentityPair], phone: str | None) -> list[IdentityPair]:
    """The identities and the profile's phone as stored; an invalid value's error names its input in
    `details["field"]` ("identities" or "phone"), for answers that point at the field at fault."""
    try:
        pairs = [(kind, identity_normalize(kind=kind, value=value)) for kind, value in identities]
    except ApplicationError as error:
        error.details = {"field": "identities"}
        raise
    if phone:
        try:
            pairs.append((Identity.Kind.PHONE, identity_normalize(kind=Identity.Kind.PHONE, value=phone)))
        except ApplicationError as error:
            error.details = {"field": "phone"}
            raise
    return list(dict.fromkeys(pairs))


def _identity_filter(pairs: Iterable[IdentityPair]) -> Q:
    query = Q(pk__in=[])
    for kind, value in pairs:
        query |= Q(kind=kind, value=value)
    return query


def _strength(kind: str) -> int:
    return IDENTITY_STRENGTH.index(kind) if kind in IDENTITY_STRENGTH else len(IDENTITY_STRENGTH)


def _apply_profile(customer: Customer, profile: Profile) -> tuple[str, ...]:
    incoming = {
        "name": profile.name,
        "gender": profile.gender,
        "birthday": profile.birthday,
        "phone": profile.phone,
        "primary_store_id": profile.primary_store.pk if profile.primary_store else None,
        "primary_associate_id": profile.primary_associate.pk if profile.primary_associate else None,
    }
    changed = [
        name
        for name in FILLABLE_FIELDS
        if incoming[name] not in _BLANK
        and getattr(customer, name) in _BLANK
        and getattr(customer, name) != incoming[name]
    ]
    for name in changed:
        setattr(customer, name, incoming[name])
    if profile.opted_out and not customer.opted_out:
        customer.opted_out = True
        changed.append("opted_out")
    consent = profile.marketing_consent
    if consent is not None and not customer.opted_out and consent != customer.marketing_consent:
        customer.marketing_consent = consent
        changed.append("marketing_consent")
    if customer.opted_out and customer.marketing_consent:
        customer.marketing_consent = False
        changed.append("marketing_consent")
    return tuple(dict.fromkeys(changed))


def customer_resolve(
    *,
    identities: Iterable[IdentityPair],
    source: str,
    profile: Profile | None = None,
) -> Resolution:
    """Return the One ID customer for `identities`, creating or extending it as the policy says.

    Safe under concurrency: a racing insert of the same new identity makes the loser retry once,
    and the retry links to the winner's customer.
    """
    profile = profile or Profile()
    pairs = _normalized_pairs(identities, profile.phone)
    if not pairs:
        raise ApplicationError("no_identity", "At least one identity is needed to resolve a customer.")
    if profile.phone:
        profile.phone = identity_normalize(kind=Identity.Kind.PHONE, value=profile.phone)
    for attempt in range(2):
        try:
            with transaction.atomic():
                resolution = _resolve(pairs, source, profile)
            break
        except IntegrityError:
            if attempt:
                raise
    kept = _claims_settle_by_brand(pairs)
    return dataclasses.replace(resolution, customer=kept) if kept is not None else resolution


def customer_by_wechat_oa(*, openid: str, unionid: str = "") -> Customer | None:
    """The customer the Official Account's web authorization names: by unionid (the person across the brand's WeChat
    apps), else by the OA openid; None for a person One ID does not know, for whom nobody is created. The first
    time a known customer comes through the OA, the identity they lacked (usually the openid) is added to them."""
    try:
        pairs = _normalized_pairs([(Identity.Kind.WECHAT_OA_OPENID, openid)], None)
        if unionid:
            pairs += _normalized_pairs([(Identity.Kind.WECHAT_UNIONID, unionid)], None)
    except ApplicationError:
        return None
    known = list(Identity.objects.filter(_identity_filter(pairs)).select_related("customer"))
    if not known:
        return None
    if len(known) < len(pairs):
        return customer_resolve(identities=pairs, source="wechat_oa").customer
    return min(known, key=lambda identity: (_strength(identity.kind), identity.pk)).customer


def _resolve(pairs: list[IdentityPair], source: str, profile: Profile) -> Resolution:
    known = list(Identity.objects.select_for_update(no_key=True).filter(_identity_filter(pairs)).order_by("pk"))
    owners = {identity.customer_id for identity in known}
    owned = {(identity.kind, identity.value) for identity in known}
    new_pairs = [pair for pair in pairs if pair not in owned]
    conflict = None
    if not owners:
        customer = Customer()
        _apply_profile(customer, profile)
        customer.save()
        created = True
    else:
        anchor = min(known, key=lambda identity: (_strength(identity.kind), identity.pk))
        customer = Customer.objects.select_for_update(no_key=True).get(pk=anchor.customer_id)
        created = False
        if len(owners) > 1:
            conflict = _conflict_record(pairs=pairs, source=source, profile=profile, anchor=customer, owners=owners)
    Identity.objects.bulk_create(
        [Identity(customer=customer, kind=kind, value=value, source=source) for kind, value in new_pairs]
    )
    fields_changed: tuple[str, ...] = ()
    if not created:
        fields_changed = _apply_profile(customer, profile)
        if fields_changed:
            customer.save(update_fields=[*fields_changed, "updated_at"])
    # The consent ledger keeps the brand systems' changes too (customers.consent for every other source).
    if {"opted_out", "marketing_consent"} & set(fields_changed) or (
        created and (customer.opted_out or customer.marketing_consent)
    ):
        ConsentChange.objects.create(
            customer=customer,
            opted_out=customer.opted_out,
            marketing_consent=customer.marketing_consent,
            source=ConsentChange.Source.INGESTION,
            note=source[:200],
            at=timezone.now(),
        )
    return Resolution(
        customer=customer,
        created=created,
        identities_added=tuple(new_pairs),
        fields_changed=fields_changed,
        conflict=conflict,
    )


def _conflict_record(
    *, pairs: list[IdentityPair], source: str, profile: Profile, anchor: Customer, owners: set[int]
) -> IdentityConflict:
    incoming = {
        "identities": [{"kind": kind, "value": value} for kind, value in pairs],
        "profile": {"name": profile.name or "", "phone": profile.phone or ""},
    }
    existing = (
        IdentityConflict.objects.filter(status=IdentityConflict.Status.OPEN, source=source, incoming=incoming)
        .order_by("pk")
        .first()
    )
    if existing is not None:
        # The same data replayed: one conflict to review, not one per delivery.
        return existing
    conflict = IdentityConflict.objects.create(source=source, incoming=incoming, linked_to=anchor)
    conflict.customers.set(sorted(owners))
    AuditLog.objects.create(
        action=AuditLog.Action.IDENTITY_CONFLICT,
        customer=anchor,
        detail={"conflict": conflict.pk, "customers": sorted(owners), "source": source},
    )
    return conflict


# Every table whose rows belong to a customer (by a `customer` foreign key) and move with a merge, by a name kept in
# CustomerMerge.moved (tags are handled apart). Apps above this one add theirs from their `AppConfig.ready()` with
# `merge_moves_register` (the client book: its friendships).
_MERGE_MOVES: dict[str, type[Model]] = {"identities": Identity, "orders": Order, "notes": CustomerNote}


def merge_moves_register(name: str, model: type[Model]) -> None:
    """Let a merge move `model`'s rows of the source customer to the target, and its undo move them back."""
    if _MERGE_MOVES.get(name, model) is not model:
        raise ValueError(f"merge move {name!r} is already {_MERGE_MOVES[name].__name__}")
    _MERGE_MOVES[name] = model


def _merge_moves() -> dict[str, type[Model]]:
    return dict(_MERGE_MOVES)


def _lock_customers(*ids: int) -> dict[int, Customer]:
    # Fixed lock order (ascending pk) so two merges of the same pair cannot deadlock.
    locked = Customer.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    return {customer.pk: customer for customer in locked}


@transaction.atomic
def customer_merge(
    *,
    source: Customer,
    target: Customer,
    actor: Any = None,
    reason: str = "",
    conflict: IdentityConflict | None = None,
) -> CustomerMerge:
    """Move everything of `source` onto `target` and retire `source`; undo with `customer_merge_undo`."""
    if source.pk == target.pk:
        raise ApplicationError("merge_same_customer", "A customer cannot be merged into itself.")
    locked = _lock_customers(source.pk, target.pk)
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise ApplicationError("already_merged", "One of these customers has already been merged into another.")

    moved: dict = {}
    for label, model in _merge_moves().items():
        moved[label] = list(model.objects.filter(customer=source).values_list("pk", flat=True))
    # A tag both already carry stays on the retired source, so undo never has to recreate rows.
    target_tags = CustomerTag.objects.filter(customer=target).values_list("tag_id", flat=True)
    moved["customer_tags"] = list(
        CustomerTag.objects.filter(customer=source).exclude(tag_id__in=target_tags).values_list("pk", flat=True)
    )
    for label, model in _merge_moves().items():
        model.objects.filter(pk__in=moved[label]).update(customer=target)
    CustomerTag.objects.filter(pk__in=moved["customer_tags"]).update(customer=target)

    filled = {}
    for name in FILLABLE_FIELDS:
        value = getattr(source, name)
        if value not in _BLANK and getattr(target, name) in _BLANK:
            filled[name] = _jsonable(value)
            setattr(target, name, value)
    if source.opted_out and not target.opted_out:
        filled["opted_out"] = True
        target.opted_out = True
        target.marketing_consent = False
    target.save()
    source.merged_into = target
    source.save(update_fields=["merged_into", "updated_at"])

    merge = CustomerMerge.objects.create(
        source=source,
        target=target,
        reason=reason,
        merged_by=actor,
        moved={**moved, "filled": filled},
    )
    if conflict is not None:
        IdentityConflict.objects.filter(pk=conflict.pk).update(
            status=IdentityConflict.Status.MERGED, resolved_at=timezone.now(), resolved_by=actor, merge=merge
        )
    detail = {"merge": merge.pk, "source": source.pk, "target": target.pk, "reason": reason}
    AuditLog.objects.bulk_create(
        [
            AuditLog(action=AuditLog.Action.CUSTOMER_MERGE, customer=customer, user=actor, detail=detail)
            for customer in (source, target)
        ]
    )
    return merge


def _blank_value(name: str) -> Any:
    if name == "gender":
        return Customer.Gender.UNKNOWN
    if name == "birthday" or name.endswith("_id"):
        return None
    return ""


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def customer_merge_undo(*, merge: CustomerMerge, actor: Any = None) -> CustomerMerge:
    """Move back exactly what `merge` moved and bring the source customer back."""
    merge = CustomerMerge.objects.select_for_update(no_key=True).get(pk=merge.pk)
    if merge.undone_at is not None:
        raise ApplicationError("merge_already_undone", "This merge has already been undone.")
    locked = _lock_customers(merge.source_id, merge.target_id)
    source, target = locked[merge.source_id], locked[merge.target_id]
    if target.merged_into_id:
        raise ApplicationError(
            "target_merged_since", "The kept customer was merged again since; undo that merge first."
        )
    moved = merge.moved
    for label, model in {**_merge_moves(), "customer_tags": CustomerTag}.items():
        model.objects.filter(pk__in=moved.get(label, []), customer=target).update(customer=source)
    for name, value in moved["filled"].items():
        # Only clear what the merge filled and nobody has changed since.
        if name == "opted_out":
            continue
        if _jsonable(getattr(target, name)) == value:
            setattr(target, name, _blank_value(name))
    target.save()
    source.merged_into = None
    source.save(update_fields=["merged_into", "updated_at"])
    merge.undone_at = timezone.now()
    merge.undone_by = actor
    merge.save(update_fields=["undone_at", "undone_by"])
    IdentityConflict.objects.filter(merge=merge).update(
        status=IdentityConflict.Status.OPEN, resolved_at=None, resolved_by=None, merge=None
    )
    # A claim that merged waits again, like its conflict: a manager dismisses it or approves it once more.
    IdentityClaim.objects.filter(merge=merge).update(
        status=IdentityClaim.Status.PENDING, confirmed_via="", resolved_at=None, resolved_by=None, merge=None
    )
    detail = {"merge": merge.pk, "source": source.pk, "target": target.pk}
    AuditLog.objects.bulk_create(
        [
            AuditLog(action=AuditLog.Action.CUSTOMER_MERGE_UNDO, customer=customer, user=actor, detail=detail)
            for customer in (source, target)
        ]
    )
    return merge


@transaction.atomic
def identity_conflict_dismiss(*, conflict: IdentityConflict, actor: Any = None) -> IdentityConflict:
    """Close a conflict as "not the same person"; the customers stay as they are."""
    conflict = IdentityConflict.objects.select_for_update(no_key=True).get(pk=conflict.pk)
    if conflict.status != IdentityConflict.Status.OPEN:
        raise ApplicationError("conflict_not_open", "This conflict has already been handled.")
    conflict.status = IdentityConflict.Status.DISMISSED
    conflict.resolved_at = timezone.now()
    conflict.resolved_by = actor
    conflict.save(update_fields=["status", "resolved_at", "resolved_by"])
    IdentityClaim.objects.filter(conflict=conflict, status=IdentityClaim.Status.PENDING).update(
        status=IdentityClaim.Status.DISMISSED, resolved_at=conflict.resolved_at, resolved_by=actor
    )
    AuditLog.objects.create(
        action=AuditLog.Action.IDENTITY_CONFLICT_DISMISS,
        customer=conflict.linked_to,
        user=actor,
        detail={"conflict": conflict.pk},
    )
    return conflict


def customer_profile_view_record(*, customer_id: int, associate: Any = None, user: Any = None, ip: str | None) -> None:
    """Every look at a customer's personal data leaves a row: who, whom, when, from where."""
    AuditLog.objects.create(
        action=AuditLog.Action.PROFILE_VIEW,
        customer_id=customer_id,
        associate=associate,
        user=user,
        ip=ip,
        detail={"via": "sidebar" if associate else "admin"},
    )


def customer_note_add(*, customer: Customer, associate: Any, text: str) -> CustomerNote:
    text = text.strip()
    if not text:
        raise ApplicationError("empty_note", "备注不能为空。")
    if len(text) > CustomerNote._meta.get_field("text").max_length:
        raise ApplicationError("note_too_long", "备注最多 2000 字。")
    return CustomerNote.objects.create(customer=customer, author=associate, text=text)


# Identities that only say "this is a WeCom / WeChat user", not which member of the brand.
WECHAT_ONLY_KINDS = frozenset({Identity.Kind.WECOM_EXTERNAL_USERID, Identity.Kind.WECHAT_UNIONID})


def customer_is_linked(*, identity_kinds: Iterable[str]) -> bool:
    """True when the customer is known to the brand beyond WeCom (a member number, a phone, an account)."""
    return any(kind not in WECHAT_ONLY_KINDS for kind in identity_kinds)


# The identities an associate may type for a chat contact; only ever a claim (`identity_claim_create`).
CLAIMABLE_KINDS = (Identity.Kind.PHONE, Identity.Kind.POS_MEMBER_NO)
CLAIM_SOURCE = "sidebar_claim"


def _claim_pairs(*, phone: str, member_no: str) -> list[IdentityPair]:
    pairs = []
    if phone:
        pairs.append((Identity.Kind.PHONE, identity_normalize(kind=Identity.Kind.PHONE, value=phone)))
    if member_no:
        pairs.append(
            (Identity.Kind.POS_MEMBER_NO, identity_normalize(kind=Identity.Kind.POS_MEMBER_NO, value=member_no))
        )
    if not pairs:
        raise ApplicationError("no_identity", "请填写手机号或会员号。")
    return pairs


def _pairs_of(claim: IdentityClaim) -> list[IdentityPair]:
    return [(item["kind"], item["value"]) for item in claim.identities]


def _owners(pairs: Iterable[IdentityPair]) -> dict[IdentityPair, int]:
    return {
        (identity.kind, identity.value): identity.customer_id
        for identity in Identity.objects.filter(_identity_filter(pairs))
    }


def identity_claim_create(
    *, customer: Customer, associate: Any, phone: str = "", member_no: str = "", request_id: str = ""
) -> IdentityClaim:
    """The associate says who this chat contact is, by phone or member number: recorded as a claim, nothing more.

    A typed number is no proof, and what happens next must not tell the associate whether anybody owns it: every
    claim is answered alike, adds nothing and merges nothing, and is queued as an `IdentityConflict` for review
    (HQ's when another store's customer owns it — admin leaves a conflict naming two stores' customers to HQ —,
    else the contact's store's). It completes only
    by proof, in `identity_claim_confirm`. A replay of `request_id` returns the first claim.
    """
    pairs = _claim_pairs(phone=phone, member_no=member_no)
    request_id = request_id or uuid.uuid4().hex
    for attempt in range(2):
        replay = IdentityClaim.objects.filter(associate=associate, request_id=request_id).first()
        if replay is not None:
            if replay.customer_id != customer.pk or _pairs_of(replay) != pairs:
                raise ApplicationError("request_id_reused", "这个请求号已用于另一次关联，请重新提交。", status_code=409)
            return replay
        try:
            with transaction.atomic():
                return _claim_record(customer=customer, associate=associate, pairs=pairs, request_id=request_id)
        except IntegrityError:
            # The same request number, racing: the loser reads the winner's claim.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _claim_record(*, customer: Customer, associate: Any, pairs: list[IdentityPair], request_id: str) -> IdentityClaim:
    # The contact's row lock queues claims for one contact, so the same claim typed twice is recorded once.
    contact = Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk, merged_into__isnull=True).first()
    if contact is None:
        raise ApplicationError("customer_not_found", "没有找到这位客户。", status_code=404)
    identities = [{"kind": kind, "value": value} for kind, value in pairs]
    pending = IdentityClaim.objects.filter(
        customer=contact, status=IdentityClaim.Status.PENDING, identities=identities
    ).first()
    if pending is not None:
        return pending
    claim = IdentityClaim.objects.create(
        customer=contact,
        associate=associate,
        identities=identities,
        request_id=request_id,
        token=secrets.token_urlsafe(32),
    )
    owners = _owners(pairs)
    others = {owner for owner in owners.values() if owner != contact.pk}
    if others:
        anchor_pair = min(
            (pair for pair, owner in owners.items() if owner != contact.pk), key=lambda pair: _strength(pair[0])
        )
        linked_to = Customer.objects.get(pk=owners[anchor_pair])
    else:
        linked_to = contact
    conflict = IdentityConflict.objects.create(
        source=CLAIM_SOURCE,
        incoming={"identities": identities, "claim": claim.pk, "associate": getattr(associate, "pk", None)},
        linked_to=linked_to,
    )
    conflict.customers.set(sorted({contact.pk, *others}))
    claim.conflict = conflict
    claim.save(update_fields=["conflict"])
    AuditLog.objects.create(
        action=AuditLog.Action.IDENTITY_CLAIM,
        customer=contact,
        associate=associate,
        detail={"claim": claim.pk, "conflict": conflict.pk, "identities": [kind for kind, _ in pairs]},
    )
    return claim


def _golden(customer_id: int, *, lock: bool = True) -> Customer:
    """The record a (possibly merged-away) customer is today (`customer_survivor`), locked unless `lock` is False."""
    customers = Customer.objects.select_for_update(no_key=True) if lock else Customer.objects.all()
    customer = customers.filter(pk=customer_id).first()
    if customer is None:
        raise Customer.DoesNotExist(f"no customer {customer_id}")
    if customer.merged_into_id is None:
        # The common case, in one statement: locked and not merged, it stays the survivor until we commit (a merge
        # locks both its customers).
        return customer
    while True:
        survivor = customer_survivor(customer_id=customer_id)
        if survivor is None:
            raise Customer.DoesNotExist(f"no customer {customer_id}")
        if not lock:
            return survivor
        survivor = customers.get(pk=survivor.pk)
        # A merge or an undo committed while we waited for the lock moves the survivor: read the chain again.
        if customer_survivor_ids(customer_ids=[customer_id]).get(customer_id) == survivor.pk:
            return survivor


def identity_claim_is_contact(*, claim: IdentityClaim, customer: Customer) -> bool:
    """Whether `customer` (as WeChat named them) is the chat contact the claim is about, merges followed."""
    return _golden(customer.pk, lock=False).pk == _golden(claim.customer_id, lock=False).pk


def identities_clash(*, customer_ids: Iterable[int]) -> bool:
    """True when two of these customers each hold an identity of the same kind: two members, two WeChat users,
    two phones. No associate and no customer's own word merges such records; only a manager can."""
    seen: dict[str, int] = {}
    for customer_id, kind in Identity.objects.filter(customer_id__in=list(customer_ids)).values_list(
        "customer_id", "kind"
    ):
        if seen.setdefault(kind, customer_id) != customer_id:
            return True
    return False


@transaction.atomic
def identity_claim_confirm(
    *, claim: IdentityClaim, via: str, actor: Any = None, confirmer: Customer | None = None
) -> IdentityClaim:
    """Complete a claim on proof: `via` the customer (`confirmer`: the customer WeChat's web authorization named,
    who must be the chat contact), the brand's system, or a manager (`actor`).

    The claimed identities are read again now. None owned by another customer → they are added to the contact.
    One other customer owns them → the contact is merged into that customer (audited, undoable), unless the two
    each hold an identity of the same kind (`identities_clash`): then only a manager may merge, and a customer's
    or brand's confirmation is noted on the claim, which stays queued. Several other owners → a manager decides.
    """
    claim = IdentityClaim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if claim.status != IdentityClaim.Status.PENDING:
        raise ApplicationError("claim_not_pending", "这条关联已经处理过了。", status_code=409)
    contact = _golden(claim.customer_id)
    if via == IdentityClaim.Via.CUSTOMER and (confirmer is None or _golden(confirmer.pk).pk != contact.pk):
        raise ApplicationError("not_the_contact", "只有这位客户本人可以确认。", status_code=403)
    pairs = _pairs_of(claim)
    owners = _owners(pairs)
    others = {owner for owner in owners.values() if owner != contact.pk}
    by_manager = via == IdentityClaim.Via.MANAGER
    if len(others) > 1 or (others and not by_manager and identities_clash(customer_ids=[contact.pk, *others])):
        if by_manager:
            raise ApplicationError("identity_ambiguous", "手机号和会员号属于不同的会员，请驳回后核对。")
        if via == IdentityClaim.Via.CUSTOMER and claim.customer_confirmed_at is None:
            claim.customer_confirmed_at = timezone.now()
            claim.save(update_fields=["customer_confirmed_at"])
        return claim
    merge = None
    kept = contact
    if others:
        kept = Customer.objects.get(pk=others.pop())
        merge = customer_merge(
            source=contact, target=kept, actor=actor, reason=f"会员身份声明 #{claim.pk}（{claim_via_label(via)}）"
        )
    free = [pair for pair in pairs if pair not in owners]
    Identity.objects.bulk_create(
        [Identity(customer=kept, kind=kind, value=value, source=f"claim:{claim.pk}") for kind, value in free]
    )
    phones = [value for kind, value in pairs if kind == Identity.Kind.PHONE]
    if phones and not kept.phone:
        Customer.objects.filter(pk=kept.pk).update(phone=phones[0], updated_at=timezone.now())
    now = timezone.now()
    claim.status = IdentityClaim.Status.CONFIRMED
    claim.confirmed_via = via
    claim.resolved_at = now
    claim.resolved_by = actor
    claim.merge = merge
    if via == IdentityClaim.Via.CUSTOMER:
        claim.customer_confirmed_at = claim.customer_confirmed_at or now
    claim.save()
    if claim.conflict_id:
        IdentityConflict.objects.filter(pk=claim.conflict_id, status=IdentityConflict.Status.OPEN).update(
            status=IdentityConflict.Status.MERGED if merge else IdentityConflict.Status.CONFIRMED,
            resolved_at=now,
            resolved_by=actor,
            merge=merge,
        )
    AuditLog.objects.create(
        action=AuditLog.Action.IDENTITY_LINK,
        customer=kept,
        user=actor,
        associate=claim.associate,
        detail={
            "claim": claim.pk,
            "via": via,
            "from": contact.pk,
            "to": kept.pk,
            "identities": [kind for kind, _ in pairs],
        },
    )
    return claim


def identity_claim_page_url(*, claim: IdentityClaim) -> str:
    """The page the chat card opens in the customer's WeChat (`customers.views.identity_claim_page`)."""
    return settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("identity-claim", kwargs={"token": claim.token})


def claim_via_label(via: str) -> str:
    return IdentityClaim.Via(via).label


@transaction.atomic
def identity_claim_dismiss(*, claim: IdentityClaim, actor: Any = None) -> IdentityClaim:
    """A manager says the claim is wrong: nothing is added or merged, and the card's page confirms nothing."""
    claim = IdentityClaim.objects.select_for_update(no_key=True).get(pk=claim.pk)
    if claim.status != IdentityClaim.Status.PENDING:
        raise ApplicationError("claim_not_pending", "这条关联已经处理过了。", status_code=409)
    claim.status = IdentityClaim.Status.DISMISSED
    claim.resolved_at = timezone.now()
    claim.resolved_by = actor
    claim.save(update_fields=["status", "resolved_at", "resolved_by"])
    IdentityConflict.objects.filter(pk=claim.conflict_id, status=IdentityConflict.Status.OPEN).update(
        status=IdentityConflict.Status.DISMISSED, resolved_at=claim.resolved_at, resolved_by=actor
    )
    return claim


def _claims_settle_by_brand(pairs: list[IdentityPair]) -> Customer | None:
    """The brand's system sent a claimed identity together with an identity of the contact who claimed it: proof.
    Returns the customer a claim's contact was merged into, if one was."""
    if len(pairs) < 2 or not any(kind in CLAIMABLE_KINDS for kind, _ in pairs):
        return None
    holders = Identity.objects.filter(_identity_filter(pairs)).values("customer_id")
    incoming = set(pairs)
    kept = None
    for claim in IdentityClaim.objects.filter(status=IdentityClaim.Status.PENDING, customer_id__in=holders):
        claimed = set(_pairs_of(claim))
        if not claimed <= incoming:
            continue
        vouched = Identity.objects.filter(_identity_filter(incoming - claimed), customer_id=claim.customer_id)
        if not vouched.exists():
            continue
        try:
            settled = identity_claim_confirm(claim=claim, via=IdentityClaim.Via.BRAND_SYSTEM)
        except (ApplicationError, IntegrityError) as error:
            # Settled by someone else meanwhile, or an identity taken in between: the claim stays for a manager.
            logger.warning("identity claim %s not settled by %s: %s", claim.pk, "brand system", error)
            continue
        if settled.merge_id:
            kept = settled.merge.target
    return kept
