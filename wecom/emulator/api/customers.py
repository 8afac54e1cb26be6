"""Customers (客户联系): the members who have customers (`get_follow_user_list`), a member's customers
(`externalcontact/list`), one customer with the members who follow them (`externalcontact/get`, cursor-paged), and
`batch/get_by_user`, each in WeCom's fields; for the members and customers made one by one and for the generated
corp's (generated.py), computed page by page."""

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, ApiError, external_userid_ok, page, page_limit, page_window, require
from wecom.emulator.web import Request

FOLLOW_USER_PAGE = 500


class CustomersApi(ApiBase):
    def get_follow_user_list(self, request: Request, body: dict) -> dict:
        """Only the members given the customer-contact permission (客户联系 → 权限配置 → 使用范围)."""
        admin = self.state.admin
        associates = self.state.data["associates"].values()
        generated = self.state.generated.userids() if self.state.generated else []
        return self._ok(
            follow_user=[
                *(a["userid"] for a in associates if not a["resigned"] and admin.has_contact_permission(a["userid"])),
                *(userid for userid in generated if admin.has_contact_permission(userid)),
            ]
        )

    def contact_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        corp = self.state.generated
        index = corp.index_of(userid) if corp else None
        if corp and index is not None:
            require(self.state.admin.has_contact_permission(userid), "", L.NO_CONTACT_PRIVILEGE)
            slots = corp.slots(index, 0, corp.count(index))
            require(bool(slots), "", L.NO_RELATIONSHIP)
            return self._ok(external_userid=[corp.external_userid(corp.person(index, slot)) for slot in slots])
        with self.state.lock:
            require(userid in self.state.data["associates"], "", L.INVALID_USERID)
            require(self.state.admin.has_contact_permission(userid), "", L.NO_CONTACT_PRIVILEGE)
            relations = [r for r in self.state.data["relations"].values() if r["userid"] == userid]
        # WeCom answers 84061 rather than an empty list when the member has no customers.
        require(bool(relations), "", L.NO_RELATIONSHIP)
        relations.sort(key=lambda r: r["createtime"])
        return self._ok(external_userid=[r["external_userid"] for r in relations])

    def contact_get(self, request: Request, body: dict) -> dict:
        external_userid = request.query.get("external_userid", "")
        require(external_userid_ok(external_userid), "", L.INVALID_EXTERNAL_USERID)
        corp = self.state.generated
        person = corp.person_of(external_userid) if corp else None
        if corp and person is not None:
            followers = corp.followers(person)
            require(bool(followers), "", L.NO_RELATIONSHIP)
            follow_user = []
            for index, slot in followers:
                info = corp.follow_info(index, slot)
                info.pop("tag_id")
                follow_user.append({**info, "tags": []})
            return self._ok(external_contact=corp.contact(person, self.config.public_url), follow_user=follow_user)
        with self.state.lock:
            data = self.state.data
            customer = data["customers"].get(external_userid)
            relations = [r for r in data["relations"].values() if r["external_userid"] == external_userid]
            require(customer is not None and bool(relations), "", L.NO_RELATIONSHIP)
            relations.sort(key=lambda r: r["createtime"])
            chunk, next_cursor = page(relations, request.query.get("cursor"), FOLLOW_USER_PAGE)
            result = self._ok(
                external_contact=self.contact_view(customer), follow_user=[self.follow_user_view(r) for r in chunk]
            )
        if next_cursor:
            result["next_cursor"] = next_cursor
        return result

    def batch_get_by_user(self, request: Request, body: dict) -> dict:
        if "userid_list" not in body and "userid" in body:
            raise ApiError(
                L.INVALID_PARAMETER, "userid_list is required; the single `userid` field is no longer supported"
            )
        userids = body.get("userid_list")
        require(isinstance(userids, list) and bool(userids), "userid_list is required")
        require(len(userids) <= L.BATCH_GET_BY_USER_MAX_USERIDS, "field `userid_list` exceed max length")
        limit = page_limit(
            body.get("limit"), default=L.BATCH_GET_BY_USER_DEFAULT_LIMIT, maximum=L.BATCH_GET_BY_USER_MAX_LIMIT
        )
        corp = self.state.generated
        with self.state.lock:
            data = self.state.data
            unknown = [
                u for u in userids if u not in data["associates"] and not (corp and corp.index_of(u) is not None)
            ]
            require(not unknown, f"unknown userid {unknown[0]!r}" if unknown else "", L.INVALID_USERID)
            barred = [u for u in userids if not self.state.admin.has_contact_permission(u)]
            require(not barred, f"userid {barred[0]!r}" if barred else "", L.NO_CONTACT_PRIVILEGE)
            # The members' contacts one member after another, each member's by createtime: a list of segments,
            # the generated members' only counted.
            order = {userid: index for index, userid in enumerate(userids)}
            made: dict[str, list[dict]] = {}
            for r in data["relations"].values():
                if r["userid"] in order:
                    made.setdefault(r["userid"], []).append(r)
            segments = []
            for userid in order:
                index = corp.index_of(userid) if corp else None
                if corp and index is not None:
                    segments.append((userid, corp.count(index), index))
                else:
                    relations = sorted(made.get(userid, []), key=lambda r: (r["createtime"], r["external_userid"]))
                    segments.append((userid, len(relations), relations))
            start, end, next_cursor = page_window(sum(n for _, n, _ in segments), body.get("cursor"), limit)
            items = []
            at = 0
            for _userid, count, source in segments:
                lo, hi = max(start - at, 0), min(end - at, count)
                if lo < hi:
                    if isinstance(source, int):
                        items += [
                            {
                                "external_contact": corp.contact(corp.person(source, slot), self.config.public_url),
                                "follow_info": corp.follow_info(source, slot),
                            }
                            for slot in corp.slots(source, lo, hi - lo)
                        ]
                    else:
                        items += [
                            {
                                "external_contact": self.contact_view(data["customers"][r["external_userid"]]),
                                "follow_info": self.follow_info_view(r),
                            }
                            for r in source[lo:hi]
                        ]
                at += count
        return self._ok(external_contact_list=items, next_cursor=next_cursor, fail_info={"unlicensed_userid_list": []})

    def contact_view(self, customer: dict) -> dict:
        view = {key: customer[key] for key in ("external_userid", "name", "type", "avatar", "gender")}
        # WeCom gives a WeChat user's profile photo; without one set, the emulator draws one (ui.py).
        view["avatar"] = view["avatar"] or f"{self.config.public_url}/avatar/{customer['external_userid']}.svg"
        if customer.get("unionid"):
            view["unionid"] = customer["unionid"]
        return view

    def follow_user_view(self, relation: dict) -> dict:
        tags = []
        for tag_id in relation["tag_ids"]:
            tag = self.state.data["tags"].get(tag_id)
            if tag and not tag["deleted"]:
                group = self.state.data["tag_groups"][tag["group_id"]]
                tags.append({"group_name": group["group_name"], "tag_name": tag["name"], "type": 1, "tag_id": tag_id})
        view = {
            "userid": relation["userid"],
            "remark": relation["remark"],
            "description": relation["description"],
            "createtime": relation["createtime"],
            "tags": tags,
            "remark_mobiles": list(relation["remark_mobiles"]),
            "oper_userid": relation["oper_userid"],
            "add_way": relation["add_way"],
        }
        if relation["state"]:
            view["state"] = relation["state"]
        return view

    def follow_info_view(self, relation: dict) -> dict:
        view = self.follow_user_view(relation)
        view["tag_id"] = [tag["tag_id"] for tag in view.pop("tags")]
        return view
