"""Corp tags (企业客户标签): listing the tag groups and their tags, adding tags (to a group, or a new one), and
marking a customer's tags on one member's follow."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, ApiError, external_userid_ok, require
from wecom.emulator.state import corp_tags_delete, new_id, relation_key
from wecom.emulator.web import Request


class CorpTagsApi(ApiBase):
    def get_corp_tag_list(self, request: Request, body: dict) -> dict:
        group_ids, tag_ids = body.get("group_id") or [], body.get("tag_id") or []
        with self.state.lock:
            data = self.state.data
            groups = [g for g in data["tag_groups"].values() if not g["deleted"]]
            if group_ids:
                groups = [g for g in groups if g["group_id"] in group_ids]
                tag_ids = []
            result = []
            for group in sorted(groups, key=lambda g: (g["order"], g["create_time"])):
                tags = [
                    t
                    for t in data["tags"].values()
                    if t["group_id"] == group["group_id"] and not t["deleted"] and (not tag_ids or t["id"] in tag_ids)
                ]
                if tag_ids and not tags:
                    continue
                result.append(self._tag_group_view(group, tags))
        return self._ok(tag_group=result)

    def add_corp_tag(self, request: Request, body: dict) -> dict:
        names = body.get("tag") or []
        require(isinstance(names, list) and bool(names), "tag is required")
        require(all(isinstance(t, dict) and t.get("name") for t in names), "every tag needs a name")
        require(
            all(len(str(t["name"])) <= L.CORP_TAG_NAME_MAX_CHARS for t in names)
            and len(str(body.get("group_name") or "")) <= L.CORP_TAG_NAME_MAX_CHARS,
            f"a name is at most {L.CORP_TAG_NAME_MAX_CHARS} characters",
        )
        with self.state.change() as data:
            live = [t for t in data["tags"].values() if not t["deleted"]]
            require(len(live) + len(names) <= L.CORP_TAG_MAX, f"a corp has at most {L.CORP_TAG_MAX} tags")
            now = int(self.state.now())
            wanted = [t["name"] for t in names]
            require(len(set(wanted)) == len(wanted), "", L.TAG_NAME_EXISTS)
            if body.get("group_id"):
                group = data["tag_groups"].get(body["group_id"])
                require(group is not None and not group["deleted"], "", L.INVALID_TAG_ID)
            else:
                require(bool(body.get("group_name")), "group_id or group_name is required")
                group = next(
                    (
                        g
                        for g in data["tag_groups"].values()
                        if g["group_name"] == body["group_name"] and not g["deleted"]
                    ),
                    None,
                )
            if group is not None:
                existing = {t["name"] for t in live if t["group_id"] == group["group_id"]}
                require(not existing & set(wanted), "", L.TAG_NAME_EXISTS)
            else:
                group = {
                    "group_id": new_id("et"),
                    "group_name": body["group_name"],
                    "create_time": now,
                    "order": int(body.get("order") or 0),
                    "deleted": False,
                }
                data["tag_groups"][group["group_id"]] = group
            created = []
            for item in names:
                tag = {
                    "id": new_id("et"),
                    "name": item["name"],
                    "create_time": now,
                    "order": int(item.get("order") or 0),
                    "group_id": group["group_id"],
                    "deleted": False,
                }
                data["tags"][tag["id"]] = tag
                created.append(tag)
            return self._ok(tag_group=self._tag_group_view(group, created))

    def edit_corp_tag(self, request: Request, body: dict) -> dict:
        """Rename or reorder one tag or one group (`id` is either); WeCom sends no callback for it."""
        item_id, name, order = body.get("id"), body.get("name"), body.get("order")
        require(isinstance(item_id, str) and bool(item_id), "id is required")
        require(name is None or (isinstance(name, str) and 0 < len(name) <= L.CORP_TAG_NAME_MAX_CHARS), "invalid name")
        require(order is None or isinstance(order, int), "order must be an integer")
        with self.state.change() as data:
            tag, group = data["tags"].get(item_id), data["tag_groups"].get(item_id)
            if tag is not None and not tag["deleted"]:
                if name is not None:
                    taken = {
                        t["name"]
                        for t in data["tags"].values()
                        if t["group_id"] == tag["group_id"] and not t["deleted"] and t["id"] != item_id
                    }
                    require(name not in taken, "", L.TAG_NAME_EXISTS)
                    tag["name"] = name
                if order is not None:
                    tag["order"] = order
            elif group is not None and not group["deleted"]:
                if name is not None:
                    taken = {
                        g["group_name"]
                        for g in data["tag_groups"].values()
                        if not g["deleted"] and g["group_id"] != item_id
                    }
                    require(name not in taken, "", L.TAG_NAME_EXISTS)
                    group["group_name"] = name
                if order is not None:
                    group["order"] = order
            else:
                raise ApiError(L.INVALID_TAG_ID, f"unknown tag or group {item_id!r}")
        return self._ok()

    def del_corp_tag(self, request: Request, body: dict) -> dict:
        """Delete tags and whole groups; a group left without tags goes too, and customers lose the tags.
        WeCom sends no callback for it."""
        tag_ids, group_ids = body.get("tag_id") or [], body.get("group_id") or []
        require(isinstance(tag_ids, list) and isinstance(group_ids, list), "tag_id and group_id must be lists")
        require(bool(tag_ids) or bool(group_ids), "tag_id or group_id is required")
        with self.state.change() as data:
            for tag_id in tag_ids:
                tag = data["tags"].get(tag_id)
                require(tag is not None and not tag["deleted"], f"unknown tag {tag_id!r}", L.INVALID_TAG_ID)
            for group_id in group_ids:
                group = data["tag_groups"].get(group_id)
                require(group is not None and not group["deleted"], f"unknown group {group_id!r}", L.INVALID_TAG_ID)
            corp_tags_delete(data, tag_ids=tag_ids, group_ids=group_ids)
        return self._ok()

    @staticmethod
    def _tag_group_view(group: dict, tags: list[dict]) -> dict:
        return {
            "group_id": group["group_id"],
            "group_name": group["group_name"],
            "create_time": group["create_time"],
            "order": group["order"],
            "tag": [
                {"id": t["id"], "name": t["name"], "create_time": t["create_time"], "order": t["order"]}
                for t in sorted(tags, key=lambda t: (t["order"], t["create_time"]))
            ],
        }

    def mark_tag(self, request: Request, body: dict) -> dict:
        userid, external_userid = body.get("userid"), body.get("external_userid")
        add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
        require(isinstance(add, list) and isinstance(remove, list), "add_tag and remove_tag must be lists")
        require(bool(add) or bool(remove), "add_tag or remove_tag is required")
        require(len(add) <= L.MARK_TAG_MAX and len(remove) <= L.MARK_TAG_MAX, "too many tags")
        with self.state.change() as data:
            require(userid in data["associates"], "", L.INVALID_USERID)
            require(external_userid_ok(external_userid), "", L.INVALID_EXTERNAL_USERID)
            relation = data["relations"].get(relation_key(userid, external_userid))
            require(relation is not None, "", L.NO_RELATIONSHIP)
            for tag_id in add + remove:
                tag = data["tags"].get(tag_id)
                require(tag is not None and not tag["deleted"], f"unknown tag {tag_id!r}", L.INVALID_TAG_ID)
            relation["tag_ids"] = [t for t in relation["tag_ids"] if t not in remove]
            relation["tag_ids"] += [t for t in dict.fromkeys(add) if t not in relation["tag_ids"]]
        return self._ok()
