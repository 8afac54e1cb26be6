"""Corp tags (企业客户标签) both ways: WeCom's groups and tags copied here, and Omni's admin changes pushed there.

WeCom → Omni: the nightly full sync's tags page (`corp_tags_pull`, whole library: what WeCom no longer has is deleted
here, with the customers' tags) and the change_external_tag callback (`corp_tag_changed`: the one tag or group
named, read again with get_corp_tag_list, or deleted). Omni → WeCom: admin creates, renames and deletes with
add_corp_tag / edit_corp_tag / del_corp_tag; WeCom sends no callback for changes made through its API, so the local
copy is written at once, from WeCom's answer. Deleting a tag (or a group) deletes its CustomerTags (cascade).

A tag's `group` keeps the group's name beside the `tag_group` foreign key; every write here sets both.
"""

from django.db import transaction

from associates.models import Store
from customers.models import Tag, TagGroup
from omni.errors import ApplicationError
from wecom.client import WeComClient, WeComError, wecom_client

# WeCom's own limit on a tag's and a group's name (Doc 92117); Omni's columns are wider.
WECOM_TAG_NAME_MAX_CHARS = 30
# WeCom errcodes a manager can cause (Doc 90313).
_WECOM_REFUSALS = {40068: "企业微信中没有这个标签（可能已被删除），请稍后刷新。", 40071: "企业微信中已有同名标签。"}


def _wecom_refused(exc: WeComError) -> ApplicationError:
    message = _WECOM_REFUSALS.get(exc.errcode or 0, f"企业微信未能完成（{exc.errcode}）：{exc.errmsg[:80]}")
    return ApplicationError("wecom_tag_refused", message, details={"errcode": exc.errcode})


def _name_check(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > WECOM_TAG_NAME_MAX_CHARS:
        raise ApplicationError("invalid_tag_name", f"名称需为 1 到 {WECOM_TAG_NAME_MAX_CHARS} 个字。")
    return name


# WeCom → Omni ------------------------------------------------------------------------------------------------


def _group_upsert(item: dict) -> TagGroup:
    """The group as get_corp_tag_list gives it: by its WeCom id, else a same-named group Omni has not linked yet."""
    name = str(item.get("group_name", ""))[:50]
    group = TagGroup.objects.filter(wecom_group_id=item["group_id"]).first()
    if group is None:
        group = TagGroup.objects.filter(name=name, wecom_group_id__isnull=True).first() or TagGroup(name=name)
        group.wecom_group_id = item["group_id"]
    renamed = group.pk is not None and group.name != name
    group.name, group.order = name, int(item.get("order") or 0)
    group.save()
    if renamed:
        Tag.objects.filter(tag_group=group).update(group=name)
    return group


def _tag_upsert(group: TagGroup, item: dict) -> Tag:
    name = str(item.get("name", ""))[:50]
    tag = Tag.objects.filter(wecom_tag_id=item["id"]).first()
    if tag is None:
        tag = Tag.objects.filter(group=group.name, name=name, wecom_tag_id__isnull=True).first() or Tag()
        tag.wecom_tag_id = item["id"]
    tag.name, tag.group, tag.tag_group, tag.order = name, group.name, group, int(item.get("order") or 0)
    tag.save()
    return tag


def corp_tags_apply(*, tag_groups: list[dict], complete: bool) -> int:
    """Write get_corp_tag_list's `tag_group` answer here. `complete` (the whole library was read): the groups and
    tags WeCom no longer lists are deleted, with the customers' tags. Returns how many tags were written."""
    count = 0
    with transaction.atomic():
        seen_groups, seen_tags = [], []
        for item in tag_groups:
            if item.get("deleted"):
                continue
            group = _group_upsert(item)
            seen_groups.append(group.wecom_group_id)
            for tag_item in item.get("tag", []):
                if tag_item.get("deleted"):
                    continue
                seen_tags.append(_tag_upsert(group, tag_item).wecom_tag_id)
                count += 1
        if complete:
            Tag.objects.filter(wecom_tag_id__isnull=False).exclude(wecom_tag_id__in=seen_tags).delete()
            TagGroup.objects.filter(wecom_group_id__isnull=False).exclude(wecom_group_id__in=seen_groups).delete()
    return count


def corp_tags_pull(*, client: WeComClient) -> int:
    """The whole tag library from WeCom (the nightly sync's tags page)."""
    answer = client.post("externalcontact/get_corp_tag_list", data={})
    return corp_tags_apply(tag_groups=answer.get("tag_group", []), complete=True)


def corp_tag_changed(*, client: WeComClient, item_id: str, tag_type: str, change_type: str) -> int:
    """One change_external_tag callback: a created or renamed tag or group is read again from WeCom, a deleted one
    is deleted here (its CustomerTags too); a shuffle re-reads the group named (all groups when none is)."""
    if change_type == "delete":
        with transaction.atomic():
            if tag_type == "tag_group":
                # A group's tags go with it (WeCom deletes them too); Tag.tag_group cascades.
                return TagGroup.objects.filter(wecom_group_id=item_id).delete()[0]
            return Tag.objects.filter(wecom_tag_id=item_id).delete()[0]
    if change_type == "shuffle" and not item_id:
        return corp_tags_pull(client=client)
    if tag_type == "tag_group" or change_type == "shuffle":
        answer = client.post("externalcontact/get_corp_tag_list", data={"group_id": [item_id]})
        groups = answer.get("tag_group", [])
        if not groups:  # gone again before we read it
            TagGroup.objects.filter(wecom_group_id=item_id).delete()
            return 0
        with transaction.atomic():
            count = corp_tags_apply(tag_groups=groups, complete=False)
            # The group's answer lists all its tags: the ones it no longer names are gone.
            listed = [t["id"] for g in groups for t in g.get("tag", []) if not t.get("deleted")]
            Tag.objects.filter(tag_group__wecom_group_id=item_id, wecom_tag_id__isnull=False).exclude(
                wecom_tag_id__in=listed
            ).delete()
        return count
    answer = client.post("externalcontact/get_corp_tag_list", data={"tag_id": [item_id]})
    groups = answer.get("tag_group", [])
    if not groups:
        Tag.objects.filter(wecom_tag_id=item_id).delete()
        return 0
    return corp_tags_apply(tag_groups=groups, complete=False)


# Omni → WeCom ------------------------------------------------------------------------------------------------


def tag_group_create(*, name: str, tag_names: list[str], store: Store | None = None, order: int = 0) -> TagGroup:
    """A new group with its first tags (WeCom keeps no empty group), created in WeCom and here."""
    name = _name_check(name)
    names = [_name_check(n) for n in tag_names]
    if not names:
        raise ApplicationError("tag_group_empty", "新建标签组时至少填写一个标签。")
    if len(set(names)) != len(names):
        raise ApplicationError("tag_duplicate", "标签名不能重复。")
    if TagGroup.objects.filter(name=name).exists():
        raise ApplicationError("tag_group_exists", f"已有标签组「{name}」。")
    try:
        answer = wecom_client().post(
            "externalcontact/add_corp_tag",
            data={"group_name": name, "order": order, "tag": [{"name": n} for n in names]},
        )
    except WeComError as exc:
        raise _wecom_refused(exc) from exc
    with transaction.atomic():
        corp_tags_apply(tag_groups=[answer["tag_group"]], complete=False)
        group = TagGroup.objects.get(wecom_group_id=answer["tag_group"]["group_id"])
        if store is not None or group.order != order:
            group.store, group.order = store, order
            group.save(update_fields=["store", "order"])
    return group


def tag_create(*, group: TagGroup, name: str) -> Tag:
    """A new tag in a WeCom-linked group, created in WeCom and here."""
    name = _name_check(name)
    if not group.wecom_group_id:
        raise ApplicationError("tag_group_not_in_wecom", "这个标签组还不在企业微信中，请先同步。")
    if Tag.objects.filter(tag_group=group, name=name).exists():
        raise ApplicationError("tag_duplicate", f"标签组「{group.name}」里已有「{name}」。")
    try:
        answer = wecom_client().post(
            "externalcontact/add_corp_tag", data={"group_id": group.wecom_group_id, "tag": [{"name": name}]}
        )
    except WeComError as exc:
        raise _wecom_refused(exc) from exc
    with transaction.atomic():
        corp_tags_apply(tag_groups=[answer["tag_group"]], complete=False)
    return Tag.objects.get(wecom_tag_id=answer["tag_group"]["tag"][0]["id"])


def tag_edit(*, tag: Tag, name: str | None = None, order: int | None = None) -> Tag:
    """Rename or reorder a tag in WeCom (when it is WeCom's) and here."""
    fields: dict = {}
    if name is not None and name != tag.name:
        fields["name"] = _name_check(name)
        if Tag.objects.filter(group=tag.group, name=fields["name"]).exclude(pk=tag.pk).exists():
            raise ApplicationError("tag_duplicate", f"标签组「{tag.group}」里已有「{fields['name']}」。")
    if order is not None and order != tag.order:
        fields["order"] = order
    if not fields:
        return tag
    if tag.wecom_tag_id:
        try:
            wecom_client().post("externalcontact/edit_corp_tag", data={"id": tag.wecom_tag_id, **fields})
        except WeComError as exc:
            raise _wecom_refused(exc) from exc
    Tag.objects.filter(pk=tag.pk).update(**fields)
    tag.refresh_from_db()
    return tag


def tag_group_edit(*, group: TagGroup, name: str | None = None, order: int | None = None) -> TagGroup:
    """Rename or reorder a group in WeCom (when it is WeCom's) and here, its tags' group name with it."""
    fields: dict = {}
    if name is not None and name != group.name:
        fields["name"] = _name_check(name)
        if TagGroup.objects.filter(name=fields["name"]).exclude(pk=group.pk).exists():
            raise ApplicationError("tag_group_exists", f"已有标签组「{fields['name']}」。")
    if order is not None and order != group.order:
        fields["order"] = order
    if not fields:
        return group
    if group.wecom_group_id:
        try:
            wecom_client().post("externalcontact/edit_corp_tag", data={"id": group.wecom_group_id, **fields})
        except WeComError as exc:
            raise _wecom_refused(exc) from exc
    with transaction.atomic():
        TagGroup.objects.filter(pk=group.pk).update(**fields)
        if "name" in fields:
            Tag.objects.filter(tag_group=group).update(group=fields["name"])
    group.refresh_from_db()
    return group


def tag_delete(*, tag: Tag) -> None:
    """Delete a tag in WeCom (customers there lose it) and here (with its CustomerTags). WeCom deletes a group whose
    last tag this was: so does Omni."""
    group = tag.tag_group
    if tag.wecom_tag_id:
        try:
            wecom_client().post("externalcontact/del_corp_tag", data={"tag_id": [tag.wecom_tag_id]})
        except WeComError as exc:
            if exc.errcode != 40068:  # already gone in WeCom: delete it here too
                raise _wecom_refused(exc) from exc
    with transaction.atomic():
        tag.delete()
        if group is not None and group.wecom_group_id and not group.tags.exists():
            group.delete()


def tag_group_delete(*, group: TagGroup) -> None:
    """Delete a group and all its tags in WeCom and here (with the customers' tags)."""
    if group.wecom_group_id:
        try:
            wecom_client().post("externalcontact/del_corp_tag", data={"group_id": [group.wecom_group_id]})
        except WeComError as exc:
            if exc.errcode != 40068:
                raise _wecom_refused(exc) from exc
    group.delete()
