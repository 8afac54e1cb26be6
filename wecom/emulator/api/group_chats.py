"""Customer groups (客户群): listing groups by owner and status, reading a group with its members, and the join ways
(加入群聊) that put customers into up to five groups by QR code or mini program."""

import secrets

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, page, require
from wecom.emulator.web import Request
from wecom.emulator.world import member_version


class GroupChatsApi(ApiBase):
    def groupchat_list(self, request: Request, body: dict) -> dict:
        status_filter = body.get("status_filter", 0)
        require(status_filter in (0, 1, 2, 3), "status_filter must be 0 to 3")
        limit = body.get("limit")
        require(isinstance(limit, int) and 1 <= limit <= L.GROUPCHAT_LIST_MAX_LIMIT, "limit must be 1 to 1000")
        owners = (body.get("owner_filter") or {}).get("userid_list") or []
        require(len(owners) <= L.GROUPCHAT_OWNER_FILTER_MAX, "owner_filter takes at most 100 userids")
        with self.state.lock:
            data = self.state.data
            chats = []
            for chat in sorted(data["group_chats"].values(), key=lambda c: (c["create_time"], c["chat_id"])):
                if chat["dismissed"] or (owners and chat["owner"] not in owners):
                    continue
                # 1 = the owner left and the group waits to be inherited.
                status = 1 if data["associates"].get(chat["owner"], {}).get("resigned") else 0
                if status_filter and status != status_filter:
                    continue
                chats.append({"chat_id": chat["chat_id"], "status": status})
        chunk, next_cursor = page(chats, body.get("cursor"), limit)
        result = self._ok(group_chat_list=chunk)
        if next_cursor:
            result["next_cursor"] = next_cursor
        return result

    def groupchat_get(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            chat = self.state.data["group_chats"].get(body.get("chat_id"))
            require(chat is not None and not chat["dismissed"], "", L.INVALID_CHAT_ID)
            members = []
            for member in chat["members"]:
                item = {k: v for k, v in member.items() if k not in ("name", "group_nickname")}
                item["group_nickname"] = member.get("group_nickname", "")
                if body.get("need_name") == 1:
                    item["name"] = member["name"]
                members.append(item)
            return self._ok(
                group_chat={
                    "chat_id": chat["chat_id"],
                    "name": chat["name"],
                    "owner": chat["owner"],
                    "create_time": chat["create_time"],
                    "notice": chat["notice"],
                    "member_list": members,
                    "admin_list": chat["admin_list"],
                    "member_version": member_version(chat["members"]),
                }
            )

    def add_join_way(self, request: Request, body: dict) -> dict:
        way = self._join_way_fields(body)
        way["config_id"] = secrets.token_hex(16)
        with self.state.change() as data:
            data["join_ways"][way["config_id"]] = way
        return self._ok(config_id=way["config_id"])

    def get_join_way(self, request: Request, body: dict) -> dict:
        way = self.state.data["join_ways"].get(body.get("config_id"))
        require(way is not None, "invalid config_id")
        view = dict(way, chat_id_list=list(way["chat_id_list"]))
        if way["scene"] == 2:
            view["qr_code"] = self.qr_url("join_way", way["config_id"])
        return self._ok(join_way=view)

    def update_join_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            way = data["join_ways"].get(body.get("config_id"))
            require(way is not None, "invalid config_id")
            way.update(self._join_way_fields(body))
        return self._ok()

    def del_join_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            require(data["join_ways"].pop(body.get("config_id"), None) is not None, "invalid config_id")
        return self._ok()

    def _join_way_fields(self, body: dict) -> dict:
        require(body.get("scene") in (1, 2), "scene must be 1 (mini program) or 2 (QR code)")
        chat_ids = body.get("chat_id_list") or []
        require(isinstance(chat_ids, list) and bool(chat_ids), "chat_id_list is required")
        require(len(chat_ids) <= L.JOIN_WAY_MAX_CHAT_IDS, f"chat_id_list takes at most {L.JOIN_WAY_MAX_CHAT_IDS}")
        for chat_id in chat_ids:
            chat = self.state.data["group_chats"].get(chat_id)
            require(chat is not None and not chat["dismissed"], f"unknown chat {chat_id!r}", L.INVALID_CHAT_ID)
        state = body.get("state", "") or ""
        require(isinstance(state, str) and len(state) <= L.STATE_MAX_CHARS, "state exceeds 30 characters")
        auto_create = body.get("auto_create_room", 1)
        require(auto_create in (0, 1), "auto_create_room must be 0 or 1")
        if auto_create:
            require(bool(body.get("room_base_name")), "room_base_name is required when auto_create_room is 1")
        return {
            "scene": body["scene"],
            "remark": body.get("remark", "") or "",
            "auto_create_room": auto_create,
            "room_base_name": body.get("room_base_name", "") or "",
            "room_base_id": int(body.get("room_base_id") or 1),
            "chat_id_list": list(chat_ids),
            "state": state,
        }
