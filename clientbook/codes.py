"""Channel and store codes (渠道活码 / 门店导购码) and acquisition links (获客链接): each is a WeCom config
(`add_contact_way`, or `customer_acquisition/create_link`) with a `state` of its own; update and delete follow the
code's life. A store or channel code is routed by its schedule (`ContactWaySlot`): the members WeCom hands new
customers to in turn are written to its config (update_contact_way / update_link) whenever the schedule's answer
changes — hour by hour (`codes_route_refresh`, beat) and after each add (a daily limit reached).

On an add through a code (`code_follow_added`, from the add_external_contact handler) the code's tags go on the
customer in WeCom (mark_tag) and in Omni (CustomerTag); the welcome text is the code's (clientbook.services), its
coupon pack, community invite and materials come from the apps above through `welcome_attachments`.
"""

import datetime as dt
import logging
import math
import secrets
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.codes_state import member_state
from clientbook.models import ContactWay, ContactWaySlot, FollowRelation
from customers.models import Customer, CustomerTag, Tag
from omni.errors import ApplicationError
from wecom.client import WeComClient, WeComError, wecom_client

logger = logging.getLogger(__name__)
LOCAL = ZoneInfo("Asia/Shanghai")
WECOM_USERS_MAX = 100  # a multi-member contact way holds at most 100 members
LINK_NAME_MAX = 30
REMARK_MAX = 30

# What a code's welcome can carry besides its text, offered by the apps above the client book: kind ("pack",
# "community", "material") -> provider(store_ids or None for HQ) -> [(id, label)]. Filled from their ready().
WelcomeChoices = Callable[[list[int] | None], list[tuple[int, str]]]
_welcome_choices: dict[str, WelcomeChoices] = {}


def code_welcome_choices(kind: str, provider: WelcomeChoices) -> WelcomeChoices:
    _welcome_choices[kind] = provider
    return provider


def code_welcome_options(kind: str, *, store_ids: list[int] | None) -> list[tuple[int, str]]:
    provider = _welcome_choices.get(kind)
    return provider(store_ids) if provider else []


# Drawn by the apps above: "chart" (insights.charts.line_chart), "poster" (communities: code=… -> PNG bytes).
_renderers: dict[str, Callable] = {}


def code_renderer(name: str, render: Callable) -> Callable:
    _renderers[name] = render
    return render


def code_renderer_get(name: str) -> Callable | None:
    return _renderers.get(name)


def code_of_follow(follow: FollowRelation) -> ContactWay | None:
    """The code whose welcome, tags and figures an add counts for: a member's own code counts for its store code."""
    code = follow.contact_way
    if code is not None and code.parent_id:
        return code.parent
    return code


# ---------------------------------------------------------------------------------------------------------------
# Routing


def _local_day_start(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(LOCAL)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _on_duty(slot: ContactWaySlot, local: dt.datetime) -> bool:
    return str(local.isoweekday()) in slot.weekdays and slot.start_hour <= local.hour < slot.end_hour


def code_route_userids(*, code: ContactWay, now: dt.datetime | None = None) -> list[str]:
    """Who should answer the code now. An associate code: its associate. A code with a schedule: the regular
    associates on duty under their daily limit; when none can, the backups on duty under theirs; when none can
    either, every scheduled associate under their limit, then all of them (WeCom needs at least one member).
    No schedule: the store's active associates."""
    now = now or timezone.now()
    if code.associate_id and code.kind != ContactWay.Kind.STORE:
        return [code.associate.wecom_userid]
    slots = list(code.slots.select_related("associate").filter(associate__is_active=True).order_by("is_backup", "pk"))
    if not slots:
        userids = code.store.associates.filter(is_active=True).order_by("pk").values_list("wecom_userid", flat=True)
        return [u for u in userids if u][:WECOM_USERS_MAX]
    adds_today = dict(
        FollowRelation.objects.filter(
            Q(contact_way=code) | Q(contact_way__parent=code), followed_at__gte=_local_day_start(now)
        )
        .values_list("associate_id")
        .annotate(n=Count("id"))
    )
    local = now.astimezone(LOCAL)

    def under_limit(slot: ContactWaySlot) -> bool:
        return not slot.daily_limit or adds_today.get(slot.associate_id, 0) < slot.daily_limit

    for chosen in (
        [s for s in slots if not s.is_backup and _on_duty(s, local) and under_limit(s)],
        [s for s in slots if s.is_backup and _on_duty(s, local) and under_limit(s)],
        [s for s in slots if under_limit(s)],
        slots,
    ):
        userids = list(dict.fromkeys(s.associate.wecom_userid for s in chosen if s.associate.wecom_userid))
        if userids:
            return userids[:WECOM_USERS_MAX]
    return []


# ---------------------------------------------------------------------------------------------------------------
# The code's life in WeCom


def _state_new() -> str:
    return f"c{secrets.token_hex(6)}"


def _tags_in_wecom(*, code: ContactWay, client: WeComClient) -> None:
    """Give every tag of the code a WeCom corp tag (add_corp_tag; WeCom sends no callback for API changes, so the
    id is stored at once): mark_tag can only put corp tags on a customer."""
    for tag in code.tags.filter(wecom_tag_id__isnull=True):
        result = client.post(
            "externalcontact/add_corp_tag",
            data={"group_name": tag.group or "渠道活码", "tag": [{"name": tag.name}]},
        )
        created = next(
            (t for t in result.get("tag_group", {}).get("tag", []) if t.get("name") == tag.name),
            None,
        )
        if created:
            Tag.objects.filter(pk=tag.pk).update(wecom_tag_id=created["id"])


def code_prepare(*, code: ContactWay) -> ContactWay:
    """Fill what a new code needs before it is first saved: its state, and its store from its associate."""
    if not code.state:
        code.state = _state_new()
    if code.associate_id and not code.store_id:
        code.store = code.associate.store
    if code.associate_id and code.associate.store_id != code.store_id:
        raise ApplicationError("associate_not_in_store", "导购不在这个门店。")
    return code


def code_sync(*, code: ContactWay, client: WeComClient | None = None, now: dt.datetime | None = None) -> ContactWay:
    """Create the code's config in WeCom, or update it to the code as it is (label, routed members); its tags get
    corp tags. Idempotent."""
    if code.deleted_at is not None:
        raise ApplicationError("code_deleted", "渠道活码已删除。")
    client = client or wecom_client()
    userids = code_route_userids(code=code, now=now)
    if not userids:
        raise ApplicationError("no_associates", "这个码没有可接待的在职导购。")
    _tags_in_wecom(code=code, client=client)
    label = (code.label or code.get_kind_display())[:REMARK_MAX]
    if code.kind == ContactWay.Kind.LINK:
        body = {"link_name": label[:LINK_NAME_MAX], "range": {"user_list": userids}, "skip_verify": True}
        if not code.link_id:
            link = client.post("externalcontact/customer_acquisition/create_link", data=body)["link"]
            code.link_id = link["link_id"]
            code.link_url = f"{link['url']}?customer_channel={code.state}"
        else:
            client.post("externalcontact/customer_acquisition/update_link", data={"link_id": code.link_id, **body})
    else:
        body = {
            "type": 1 if len(userids) == 1 and code.kind == ContactWay.Kind.ASSOCIATE else 2,
            "scene": 2,
            "state": code.state,
            "user": userids,
            "remark": label,
            "skip_verify": True,
        }
        if not code.config_id:
            result = client.post("externalcontact/add_contact_way", data=body)
            code.config_id, code.qr_code = result["config_id"], result.get("qr_code", "")
        else:
            body.pop("type")
            client.post("externalcontact/update_contact_way", data={"config_id": code.config_id, **body})
    code.routed_userids = userids
    ContactWay.objects.filter(pk=code.pk).update(
        config_id=code.config_id,
        qr_code=code.qr_code,
        link_id=code.link_id,
        link_url=code.link_url,
        routed_userids=userids,
        updated_at=timezone.now(),
    )
    return code


def code_create(
    *,
    kind: str,
    store: Store,
    associate: Associate | None = None,
    label: str = "",
    channel: str = "",
    welcome_text: str = "",
    welcome_pack_id: int | None = None,
    tags: Iterable[Tag] = (),
    slots: Iterable[dict] = (),
) -> ContactWay:
    """A code made in code (admin saves through code_prepare + code_sync): the row, its schedule, then WeCom."""
    with transaction.atomic():
        code = code_prepare(
            code=ContactWay(
                kind=kind,
                store=store,
                associate=associate,
                label=label,
                channel=channel,
                welcome_text=welcome_text,
                welcome_pack_id=welcome_pack_id,
            )
        )
        code.save()
        code.tags.set(list(tags))
        ContactWaySlot.objects.bulk_create([ContactWaySlot(contact_way=code, **slot) for slot in slots])
    return code_sync(code=code)


def code_delete(*, code: ContactWay, client: WeComClient | None = None) -> ContactWay:
    """Delete the code's config in WeCom (a customer scanning it finds nothing); the row stays for its figures
    and so that its state still names where past customers came from."""
    client = client or wecom_client()
    try:
        if code.link_id:
            client.post("externalcontact/customer_acquisition/delete_link", data={"link_id": code.link_id})
        elif code.config_id:
            client.post("externalcontact/del_contact_way", data={"config_id": code.config_id})
    except WeComError as exc:
        if exc.transient:
            raise
        logger.warning("Code %s was already gone in WeCom: %s", code.pk, exc)
    code.deleted_at = timezone.now()
    ContactWay.objects.filter(pk=code.pk).update(deleted_at=code.deleted_at, updated_at=code.deleted_at)
    return code


def codes_route_refresh(*, now: dt.datetime | None = None, code_ids: Iterable[int] | None = None) -> int:
    """Write each scheduled code's routing to WeCom where its answer changed; returns how many changed."""
    now = now or timezone.now()
    codes = ContactWay.objects.filter(deleted_at__isnull=True, slots__isnull=False).distinct()
    if code_ids is not None:
        codes = codes.filter(pk__in=list(code_ids))
    changed = 0
    for code in codes.select_related("store", "associate"):
        if code_route_userids(code=code, now=now) != code.routed_userids:
            try:
                code_sync(code=code, now=now)
                changed += 1
            except (WeComError, ApplicationError) as exc:
                logger.warning("Routing of code %s not updated: %s", code.pk, exc)
    return changed


# ---------------------------------------------------------------------------------------------------------------
# An add through a code


def code_follow_added(*, follow: FollowRelation, client: WeComClient | None = None) -> list[str]:
    """The code's tags on the new friend, in WeCom (mark_tag) and in Omni; then the code's routing re-checked (a
    daily limit may be reached). Returns the names of the tags put on. Idempotent."""
    code = code_of_follow(follow)
    if code is None:
        return []
    client = client or wecom_client()
    tags = list(code.tags.all())
    wecom_ids = [t.wecom_tag_id for t in tags if t.wecom_tag_id]
    if wecom_ids:
        client.post(
            "externalcontact/mark_tag",
            data={
                "userid": follow.associate.wecom_userid,
                "external_userid": follow.external_userid,
                "add_tag": wecom_ids,
            },
        )
    CustomerTag.objects.bulk_create(
        [CustomerTag(customer_id=follow.customer_id, tag=tag, added_by=follow.associate) for tag in tags],
        ignore_conflicts=True,
    )
    if code.slots.filter(daily_limit__gt=0).exists():
        codes_route_refresh(code_ids=[code.pk])
    return [t.name for t in tags]


# ---------------------------------------------------------------------------------------------------------------
# Members' own codes


def _distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 6371 * 2 * math.asin(math.sqrt(a))


def store_nearest(*, latitude: float | None, longitude: float | None, fallback: Store | None = None) -> Store | None:
    """The open store with a store code nearest to a point; `fallback` when the point or the stores' places are
    unknown."""
    stores = Store.objects.filter(
        is_active=True, contact_ways__kind=ContactWay.Kind.STORE, contact_ways__deleted_at__isnull=True
    ).distinct()
    if latitude is None or longitude is None:
        return fallback or stores.order_by("pk").first()
    placed = [s for s in stores if s.latitude is not None and s.longitude is not None]
    if not placed:
        return fallback or stores.order_by("pk").first()
    return min(placed, key=lambda s: _distance_km(latitude, longitude, float(s.latitude), float(s.longitude)))


def code_member_way(*, customer: Customer, latitude: float | None = None, longitude: float | None = None) -> ContactWay:
    """A member's own code (an online-only member who has no associate yet): a one-member config of the nearest
    store's code, routed to whoever answers that code now, whose state names the member — the add links the One ID
    customer at once and counts for the store code. One per member (re-used): two calls for one member at once wait
    on the customer's row, so the second finds the first's code; a code whose config WeCom did not make is made
    again."""
    with transaction.atomic():
        list(Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).values_list("pk"))
        return _code_member_way(customer=customer, latitude=latitude, longitude=longitude)


def _code_member_way(*, customer: Customer, latitude: float | None, longitude: float | None) -> ContactWay:
    state = member_state(customer_id=customer.pk)
    existing = ContactWay.objects.filter(state=state).select_related("store", "associate").first()
    if existing is not None and existing.deleted_at is not None:
        raise ApplicationError("member_code_deleted", "这位会员的专属码已删除。", status_code=409)
    if existing is not None:
        return existing if existing.config_id else code_sync(code=existing)
    store = store_nearest(latitude=latitude, longitude=longitude, fallback=customer.primary_store)
    parent = (
        ContactWay.objects.filter(store=store, kind=ContactWay.Kind.STORE, deleted_at__isnull=True)
        .order_by("pk")
        .first()
        if store
        else None
    )
    if parent is None:
        raise ApplicationError("no_store_code", "附近门店还没有门店码。", status_code=409)
    userids = code_route_userids(code=parent)
    associate = Associate.objects.filter(wecom_userid=userids[0]).first() if userids else None
    if associate is None:
        raise ApplicationError("no_associates", "附近门店暂时没有可接待的导购。", status_code=409)
    code = ContactWay.objects.create(
        kind=ContactWay.Kind.MEMBER,
        store=parent.store,
        associate=associate,
        parent=parent,
        label=f"会员 {customer.pk}",
        state=state,
    )
    return code_sync(code=code)
