"""A customer's corp tags through the associate's friendship: the sidebar's tag picker (the groups the associate's
store may use, add and remove with mark_tag on her follow) and the tags WeCom reports on follows (another associate
tagged the customer in the WeCom client: edit_external_contact, or the nightly contacts sync) copied here.

WeCom keeps tags per follow (associate × customer); Omni keeps them per customer. A tag added here goes to WeCom on
the associate's own follow; a removal is sent on every follow of the customer that WeCom says carries it, so it is
gone in WeCom as it is here. Auto tags (CustomerTag.rule) are Omni's and never removed by what WeCom reports.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from associates.models import Associate
from clientbook.models import FollowRelation
from customers.models import AutoTagRule, Customer, CustomerTag, Identity, Tag, TagGroup
from customers.tags import corp_tags_apply
from customers.tags_rules import auto_tag_kind
from omni.errors import ApplicationError
from wecom.client import WeComClient, WeComError, wecom_client


@dataclass(frozen=True)
class PickerTag:
    id: int
    name: str
    on: bool


@dataclass(frozen=True)
class PickerGroup:
    id: int
    name: str
    store_only: bool
    tags: list[PickerTag]


def tag_groups_for_store(*, store_id: int | None):
    """The groups an associate of `store_id` may use: the brand's and her store's own."""
    return TagGroup.objects.filter(Q(store__isnull=True) | Q(store_id=store_id)).order_by("-order", "name", "pk")


def tag_picker_get(*, customer: Customer, associate: Associate) -> list[PickerGroup]:
    """The sidebar's picker: the associate's store's groups with their tags (the customer's ticked)."""
    on = set(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))
    groups = list(tag_groups_for_store(store_id=associate.store_id))
    tags: dict[int, list[PickerTag]] = {group.pk: [] for group in groups}
    for tag in Tag.objects.filter(tag_group__in=groups).order_by("-order", "name", "pk"):
        tags[tag.tag_group_id].append(PickerTag(id=tag.pk, name=tag.name, on=tag.pk in on))
    return [
        PickerGroup(id=group.pk, name=group.name, store_only=group.store_id is not None, tags=tags[group.pk])
        for group in groups
    ]


def _follow(*, customer: Customer, associate: Associate) -> FollowRelation | None:
    return FollowRelation.objects.filter(associate=associate, customer=customer, ended_at__isnull=True).first()


def _mark(client: WeComClient, *, userid: str, external_userid: str, add: list[str], remove: list[str]) -> None:
    data = {"userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove}
    try:
        client.post("externalcontact/mark_tag", data=data)
    except WeComError as exc:
        raise ApplicationError(
            "wecom_tag_refused",
            f"企业微信未能更新标签（{exc.errcode}），请稍后再试。",
            details={"errcode": exc.errcode},
        ) from exc


def customer_tags_mark(
    *, customer: Customer, associate: Associate, add: list[int] = (), remove: list[int] = ()
) -> list[int]:
    """Add and remove corp tags on a customer from the sidebar: WeCom first (mark_tag on the associate's follow for
    additions; on each of the customer's follows for removals), then here. Only tags of the groups her store may
    use. Returns the customer's tag ids after."""
    allowed = Tag.objects.filter(tag_group__in=tag_groups_for_store(store_id=associate.store_id))
    wanted = {t.pk: t for t in allowed.filter(pk__in=[*add, *remove])}
    unknown = [pk for pk in [*add, *remove] if pk not in wanted]
    if unknown:
        raise ApplicationError("tag_not_available", "这个标签不存在或不能在本门店使用。", status_code=404)
    follow = _follow(customer=customer, associate=associate)
    adding = [wanted[pk] for pk in dict.fromkeys(add)]
    removing = [wanted[pk] for pk in dict.fromkeys(remove) if pk not in add]
    client = wecom_client()
    wecom_add = [t.wecom_tag_id for t in adding if t.wecom_tag_id]
    if wecom_add:
        if follow is None:
            raise ApplicationError("not_a_friend", "你还不是这位客户的企业微信好友，无法在企业微信中打标签。")
        _mark(client, userid=associate.wecom_userid, external_userid=follow.external_userid, add=wecom_add, remove=[])
    wecom_remove = [t.wecom_tag_id for t in removing if t.wecom_tag_id]
    if wecom_remove:
        for other in FollowRelation.objects.select_related("associate").filter(
            customer=customer, ended_at__isnull=True
        ):
            _mark(
                client,
                userid=other.associate.wecom_userid,
                external_userid=other.external_userid,
                add=[],
                remove=wecom_remove,
            )
    with transaction.atomic():
        for tag in adding:
            CustomerTag.objects.get_or_create(
                customer=customer, tag=tag, defaults={"added_by": associate, "source": CustomerTag.Source.MANUAL}
            )
        CustomerTag.objects.filter(customer=customer, tag__in=removing).delete()
    return sorted(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))


def _tags_known(client: WeComClient, tag_ids: set[str]) -> dict[str, int]:
    """Omni's ids of WeCom's tags, reading from WeCom the ones Omni has not seen yet (created since the sync)."""
    known = dict(Tag.objects.filter(wecom_tag_id__in=tag_ids).values_list("wecom_tag_id", "pk"))
    missing = sorted(tag_ids - set(known))
    if missing:
        answer = client.post("externalcontact/get_corp_tag_list", data={"tag_id": missing})
        corp_tags_apply(tag_groups=answer.get("tag_group", []), complete=False)
        known = dict(Tag.objects.filter(wecom_tag_id__in=tag_ids).values_list("wecom_tag_id", "pk"))
    return known


def customer_wecom_tags_apply(*, client: WeComClient, customer: Customer, contact: dict) -> None:
    """The corp tags WeCom reports on the customer's follows (externalcontact/get's follow_user[].tags) copied
    here: those missing are added (source wecom), the WeCom tags no follow carries any more are removed — unless
    an auto-tag rule set them. When WeCom's answer is cut to pages (next_cursor), nothing is removed."""
    follow_users = contact.get("follow_user") or []
    tag_ids = {
        t["tag_id"] for fu in follow_users for t in fu.get("tags") or [] if t.get("type") == 1 and t.get("tag_id")
    }
    known = _tags_known(client, tag_ids) if tag_ids else {}
    with transaction.atomic():
        have = set(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(customer=customer, tag_id=pk, source=CustomerTag.Source.WECOM)
                for pk in set(known.values()) - have
            ],
            ignore_conflicts=True,
        )
        if not contact.get("next_cursor"):
            CustomerTag.objects.filter(customer=customer, rule__isnull=True, tag__wecom_tag_id__isnull=False).exclude(
                tag_id__in=list(known.values())
            ).delete()


def follows_tags_record(*, items: list[tuple[dict, dict]]) -> int:
    """A contacts-sync page's tags (follow_info.tag_id of batch/get_by_user) added to the customers here: a few
    statements for the page. Only additions: one associate's page cannot say a tag is gone from every follow.
    Returns how many (customer, tag) pairs were offered (those already there are left as they are)."""
    pairs = {
        (person["external_userid"], tag_id)
        for person, follow in items
        for tag_id in follow.get("tag_id") or []
        if person.get("external_userid")
    }
    if not pairs:
        return 0
    customers = dict(
        Identity.objects.filter(
            kind=Identity.Kind.WECOM_EXTERNAL_USERID, value__in={external for external, _ in pairs}
        ).values_list("value", "customer_id")
    )
    tags = dict(Tag.objects.filter(wecom_tag_id__in={tag for _, tag in pairs}).values_list("wecom_tag_id", "pk"))
    rows = [
        CustomerTag(customer_id=customers[external], tag_id=tags[tag], source=CustomerTag.Source.WECOM)
        for external, tag in pairs
        if external in customers and tag in tags
    ]
    return len(CustomerTag.objects.bulk_create(rows, ignore_conflicts=True))


@auto_tag_kind(AutoTagRule.Kind.CODE)
def code_select(rule: AutoTagRule, now) -> QuerySet:
    """Customers who added an associate through the code (ContactWay) whose `state` the rule names."""
    if not rule.code_state:
        return Customer.objects.none().values("pk")
    came = FollowRelation.objects.filter(state=rule.code_state, customer=OuterRef("pk"))
    return Customer.objects.filter(Exists(came), merged_into__isnull=True).values("pk")
