"""What happens in the emulated corp outside the API: people add each other, join groups, confirm mass
messages, chat. Each operation changes the state under its lock and fires the callbacks WeCom would.

The control API and the browser UI call these; the /cgi-bin/ API only reads them (and starts transfers).
"""

import datetime as dt
import hashlib
from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.callbacks import CallbackDispatcher
from wecom.emulator.state import (
    ROOT_DEPARTMENT_ID,
    EmulatorState,
    group_chat_key,
    new_id,
    relation_key,
    single_chat_key,
)

GENDERS = (0, 1, 2)  # unknown, male, female
# follow_user.add_way (Doc 92114): 0 unknown, 1 scanned a QR code, 202 assigned by the admin (transfer).
ADD_WAY_SCAN = 1
ADD_WAY_ASSIGNED = 202
ADD_WAY_ACQUISITION_LINK = 16
# groupchat/get member_list.join_scene vs. the callback's JoinScene (Doc 92122, 92130).
MEMBER_JOIN_SCENE = {0: 1, 3: 3}
TRANSFER_WAITING, TRANSFER_DONE, TRANSFER_REFUSED, TRANSFER_LIMIT = 2, 1, 3, 4


class WorldError(Exception):
    """A control request that cannot be done; `status` is the HTTP status, `code` is stable."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


CORP_TZ = dt.timezone(dt.timedelta(hours=8))


def acquisition_quota(data: dict, now: float) -> dict:
    """The corp's quota, created on first use: WeCom grants a default allowance valid a year."""
    if not data.get("acquisition_quota"):
        expires = dt.datetime.fromtimestamp(now, CORP_TZ) + dt.timedelta(days=L.ACQUISITION_QUOTA_VALID_DAYS)
        data["acquisition_quota"] = {
            "total": L.ACQUISITION_QUOTA_DEFAULT,
            "used": 0,
            "expire_date": int(expires.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()),
        }
    return data["acquisition_quota"]


def _in_turn(data: dict, holder: dict, users: list[str], key: str) -> str:
    """The next of `users` still in the corp, round robin (the position kept in holder[key])."""
    active = [u for u in users if u in data["associates"] and not data["associates"][u]["resigned"]]
    if not active:
        raise WorldError(409, "no_active_member", "这个渠道里没有在职的成员")
    turn = int(holder.get(key) or 0)
    holder[key] = turn + 1
    return active[turn % len(active)]


def member_version(members: list[dict]) -> str:
    return hashlib.md5("|".join(sorted(m["userid"] for m in members)).encode()).hexdigest()


class World:
    def __init__(self, *, state: EmulatorState, callbacks: CallbackDispatcher):
        self.state = state
        self.callbacks = callbacks

    # People --------------------------------------------------------------------------------------

    def associate_create(self, *, userid: str, name: str, store: str = "", department: list[int] | None = None) -> dict:
        if not isinstance(userid, str) or not userid.strip() or len(userid) > 64:
            raise WorldError(400, "invalid_userid", "userid 必须是 1–64 个字符")
        if not isinstance(name, str) or not name.strip():
            raise WorldError(400, "invalid_name", "name 不能为空")
        with self.state.change() as data:
            if userid in data["associates"]:
                raise WorldError(409, "associate_exists", f"导购 {userid} 已存在")
            unknown = [d for d in department or [] if str(d) not in data["departments"]]
            if unknown:
                raise WorldError(400, "invalid_department", f"没有部门 {unknown[0]}")
            associate = {
                "userid": userid,
                "name": name,
                "store": store or "",
                "department": list(department or [ROOT_DEPARTMENT_ID]),
                "resigned": False,
                "created_at": int(self.state.now()),
            }
            data["associates"][userid] = associate
            return dict(associate)

    def department_create(self, *, name: str, parentid: int = ROOT_DEPARTMENT_ID, id: int | None = None) -> dict:
        """A department (a store, usually) under `parentid`; `id` as given, or the next free one."""
        if not isinstance(name, str) or not name.strip():
            raise WorldError(400, "invalid_name", "name 不能为空")
        with self.state.change() as data:
            departments = data["departments"]
            if str(parentid) not in departments:
                raise WorldError(400, "invalid_parentid", f"没有上级部门 {parentid}")
            if id is None:
                id = max(int(key) for key in departments) + 1
            if str(id) in departments:
                raise WorldError(409, "department_exists", f"部门 {id} 已存在")
            department = {"id": id, "name": name, "parentid": parentid, "order": len(departments) + 1}
            departments[str(id)] = department
            return dict(department)

    def associate_resign(self, *, userid: str) -> dict:
        with self.state.change() as data:
            associate = self._associate(data, userid)
            associate["resigned"] = True
            return dict(associate)

    def customer_create(
        self,
        *,
        name: str,
        unionid: str = "",
        gender: int = 0,
        avatar: str = "",
        external_userid: str = "",
    ) -> dict:
        if not isinstance(name, str) or not name.strip():
            raise WorldError(400, "invalid_name", "name 不能为空")
        if gender not in GENDERS:
            raise WorldError(400, "invalid_gender", "gender 只能是 0 未知 / 1 男 / 2 女")
        with self.state.change() as data:
            external_userid = external_userid or new_id("wm")
            if external_userid in data["customers"]:
                raise WorldError(409, "customer_exists", f"客户 {external_userid} 已存在")
            customer = {
                "external_userid": external_userid,
                "name": name,
                "type": 1,
                "gender": gender,
                "avatar": avatar or "",
                "unionid": unionid or "",
                "created_at": int(self.state.now()),
            }
            data["customers"][external_userid] = customer
            return dict(customer)

    # Friendships ----------------------------------------------------------------------------------

    def contact_add(
        self,
        *,
        external_userid: str,
        userid: str = "",
        config_id: str = "",
        add_way: int | None = None,
        state: str | None = None,
    ) -> dict:
        """The customer adds an associate (scanning a contact-way QR when config_id is given)."""
        with self.state.change() as data:
            customer = self._customer(data, external_userid)
            if config_id:
                way = data["contact_ways"].get(config_id)
                if way is None:
                    raise WorldError(404, "contact_way_not_found", f"没有联系我配置 {config_id}")
                users = way.get("user") or []
                if userid and userid not in users:
                    raise WorldError(400, "user_not_in_contact_way", f"{userid} 不在这个联系我配置里")
                if not userid:
                    # A multi-member code: WeCom hands each new customer to its members in turn, skipping those
                    # who left.
                    userid = _in_turn(data, way, users, "_turn")
                state = way.get("state", "") if state is None else state
                add_way = ADD_WAY_SCAN if add_way is None else add_way
            associate = self._associate(data, userid)
            if associate["resigned"]:
                raise WorldError(409, "associate_resigned", f"导购 {userid} 已离职")
            key = relation_key(userid, external_userid)
            if key in data["relations"]:
                raise WorldError(409, "already_friends", "客户已经添加过这位导购")
            relation = {
                "userid": userid,
                "external_userid": customer["external_userid"],
                "remark": "",
                "description": "",
                "createtime": int(self.state.now()),
                "tag_ids": [],
                "remark_mobiles": [],
                "add_way": 0 if add_way is None else add_way,
                "state": state or "",
                "oper_userid": external_userid,
            }
            data["relations"][key] = relation
            welcome_code = new_id("", 43)
            data["welcome_codes"][welcome_code] = {
                "userid": userid,
                "external_userid": external_userid,
                "expires_at": self.state.now() + L.WELCOME_CODE_TTL_SECONDS,
                "used": False,
            }
        deliveries = self.callbacks.emit(
            "change_external_contact",
            "add_external_contact",
            [
                ("UserID", userid),
                ("ExternalUserID", external_userid),
                ("State", relation["state"] or None),
                ("WelcomeCode", welcome_code),
            ],
        )
        return {"relation": dict(relation), "welcome_code": welcome_code, "deliveries": _ids(deliveries)}

    def link_open(self, *, external_userid: str, link_id: str, customer_channel: str = "") -> dict:
        """The customer opens an acquisition link (its URL with ?customer_channel=…) and adds the member WeCom picks
        in turn from the link's range: add_way 16, State = customer_channel; one unit of the corp's quota used."""
        if len(customer_channel.encode()) > L.ACQUISITION_CHANNEL_MAX_BYTES:
            raise WorldError(400, "invalid_customer_channel", "customer_channel 不能超过 64 字节")
        with self.state.change() as data:
            link = data.setdefault("acquisition_links", {}).get(link_id)
            if link is None:
                raise WorldError(404, "link_not_found", f"获客链接 {link_id} 不存在或已删除")
            link["clicks"] += 1
            quota = acquisition_quota(data, self.state.now())
            if quota["used"] >= quota["total"]:
                raise WorldError(409, "quota_exhausted", "获客助手额度已用完，客户无法通过链接添加")
            users = link["range"]["user_list"]
            userid = _in_turn(data, link, users, "next")
        result = self.contact_add(
            external_userid=external_userid, userid=userid, add_way=ADD_WAY_ACQUISITION_LINK, state=customer_channel
        )
        with self.state.change() as data:
            data["acquisition_quota"]["used"] += 1
            link = data["acquisition_links"].get(link_id)
            if link is not None:
                link["customers"].append(
                    {
                        "external_userid": external_userid,
                        "userid": userid,
                        "chat_status": 0,
                        "state": customer_channel,
                        "create_time": int(self.state.now()),
                    }
                )
        return result

    def contact_edit(self, *, userid: str, external_userid: str, remark: str | None, description: str | None) -> dict:
        with self.state.change() as data:
            relation = self._relation(data, userid, external_userid)
            if remark is not None:
                relation["remark"] = str(remark)
            if description is not None:
                relation["description"] = str(description)
        deliveries = self.callbacks.emit(
            "change_external_contact",
            "edit_external_contact",
            [("UserID", userid), ("ExternalUserID", external_userid)],
        )
        return {"relation": dict(relation), "deliveries": _ids(deliveries)}

    def contact_delete(self, *, userid: str, external_userid: str, by: str) -> dict:
        """`by` associate → del_external_contact; by customer → del_follow_user."""
        if by not in ("associate", "customer"):
            raise WorldError(400, "invalid_by", "by 只能是 associate（导购删除客户）或 customer（客户删除导购）")
        with self.state.change() as data:
            self._relation(data, userid, external_userid)
            del data["relations"][relation_key(userid, external_userid)]
        change_type = "del_external_contact" if by == "associate" else "del_follow_user"
        deliveries = self.callbacks.emit(
            "change_external_contact", change_type, [("UserID", userid), ("ExternalUserID", external_userid)]
        )
        return {"deleted": True, "change_type": change_type, "deliveries": _ids(deliveries)}

    def welcome_started(self, record: dict) -> None:
        """The 20-second window starts when the add_external_contact callback goes out, not when it was queued."""
        code = record["fields"].get("WelcomeCode")
        if not code or record["duplicate_of"]:
            return
        with self.state.change() as data:
            entry = data["welcome_codes"].get(code)
            if entry and not entry["used"]:
                entry["expires_at"] = self.state.now() + L.WELCOME_CODE_TTL_SECONDS

    # Customer groups ------------------------------------------------------------------------------

    def group_create(self, *, owner: str, name: str, notice: str = "", members: list[str] | None = None) -> dict:
        with self.state.change() as data:
            self._associate(data, owner)
            now = int(self.state.now())
            chat = {
                "chat_id": new_id("wr"),
                "name": name or "",
                "owner": owner,
                "create_time": now,
                "notice": notice or "",
                "admin_list": [],
                "dismissed": False,
                "members": [self._member(data, owner, invitor=owner, scene=0, now=now)],
            }
            for member in members or []:
                if member != owner:
                    chat["members"].append(self._member(data, member, invitor=owner, scene=0, now=now))
            data["group_chats"][chat["chat_id"]] = chat
        deliveries = self.callbacks.emit(
            "change_external_chat", "create", [("ChatId", chat["chat_id"]), ("ChangeType", "create")]
        )
        return {"group_chat": _chat_view(chat), "deliveries": _ids(deliveries)}

    def group_join(
        self,
        *,
        member: str,
        chat_id: str = "",
        config_id: str = "",
        join_scene: int | None = None,
        invitor: str = "",
    ) -> dict:
        """A customer (or member) joins: by scanning a join-way QR (scene 3) or invited (scene 0)."""
        created = None
        with self.state.change() as data:
            state = ""
            if config_id:
                way = data["join_ways"].get(config_id)
                if way is None:
                    raise WorldError(404, "join_way_not_found", f"没有加入群聊配置 {config_id}")
                state = way.get("state", "")
                join_scene = 3 if join_scene is None else join_scene
                chat, created = self._join_way_room(data, way, chat_id)
            else:
                chat = self._chat(data, chat_id)
                join_scene = 0 if join_scene is None else join_scene
            if join_scene not in MEMBER_JOIN_SCENE:
                raise WorldError(400, "invalid_join_scene", "join_scene 只能是 0（成员邀请）或 3（扫码）")
            if any(m["userid"] == member for m in chat["members"]):
                raise WorldError(409, "already_member", "已经在群里了")
            if len(chat["members"]) >= L.GROUP_MAX_MEMBERS:
                raise WorldError(409, "group_full", "群已满")
            last = member_version(chat["members"])
            entry = self._member(
                data, member, invitor=invitor or chat["owner"], scene=join_scene, now=int(self.state.now())
            )
            if state:
                entry["state"] = state
            chat["members"].append(entry)
            current = member_version(chat["members"])
        deliveries = []
        if created:
            deliveries += self.callbacks.emit(
                "change_external_chat", "create", [("ChatId", created), ("ChangeType", "create")]
            )
        deliveries += self.callbacks.emit(
            "change_external_chat",
            "update",
            [
                ("ChatId", chat["chat_id"]),
                ("ChangeType", "update"),
                ("UpdateDetail", "add_member"),
                ("JoinScene", join_scene),
                ("MemChangeCnt", 1),
                ("MemChangeList", [member]),
                ("LastMemVer", last),
                ("CurMemVer", current),
            ],
        )
        return {"group_chat": _chat_view(chat), "deliveries": _ids(deliveries)}

    def group_leave(self, *, chat_id: str, member: str, quit_scene: int = 0) -> dict:
        if quit_scene not in (0, 1):
            raise WorldError(400, "invalid_quit_scene", "quit_scene 只能是 0（自己退群）或 1（被移出）")
        with self.state.change() as data:
            chat = self._chat(data, chat_id)
            if member == chat["owner"]:
                raise WorldError(409, "owner_cannot_leave", "群主不能退群，请解散群")
            if not any(m["userid"] == member for m in chat["members"]):
                raise WorldError(404, "not_member", "不在群里")
            last = member_version(chat["members"])
            chat["members"] = [m for m in chat["members"] if m["userid"] != member]
            current = member_version(chat["members"])
        deliveries = self.callbacks.emit(
            "change_external_chat",
            "update",
            [
                ("ChatId", chat_id),
                ("ChangeType", "update"),
                ("UpdateDetail", "del_member"),
                ("QuitScene", quit_scene),
                ("MemChangeCnt", 1),
                ("MemChangeList", [member]),
                ("LastMemVer", last),
                ("CurMemVer", current),
            ],
        )
        return {"group_chat": _chat_view(chat), "deliveries": _ids(deliveries)}

    def group_dismiss(self, *, chat_id: str) -> dict:
        with self.state.change() as data:
            chat = self._chat(data, chat_id)
            chat["dismissed"] = True
        deliveries = self.callbacks.emit(
            "change_external_chat", "dismiss", [("ChatId", chat_id), ("ChangeType", "dismiss")]
        )
        return {"dismissed": True, "deliveries": _ids(deliveries)}

    def _join_way_room(self, data: dict, way: dict, chat_id: str) -> tuple[dict, str | None]:
        """The group a QR scan lands in: the first one with room, or a new one when auto_create_room is on."""
        candidates = [data["group_chats"][c] for c in way["chat_id_list"] if c in data["group_chats"]]
        candidates = [c for c in candidates if not c["dismissed"]]
        if chat_id:
            candidates = [c for c in candidates if c["chat_id"] == chat_id]
        for chat in candidates:
            if len(chat["members"]) < L.GROUP_MAX_MEMBERS:
                return chat, None
        if not candidates or not way.get("auto_create_room", 1):
            raise WorldError(409, "no_room", "这个加入群聊配置没有可加入的群")
        base = candidates[-1]
        number = int(way.get("room_base_id") or 1) + len(way["chat_id_list"])
        now = int(self.state.now())
        chat = {
            "chat_id": new_id("wr"),
            "name": f"{way.get('room_base_name') or base['name']}{number}",
            "owner": base["owner"],
            "create_time": now,
            "notice": "",
            "admin_list": [],
            "dismissed": False,
            "members": [self._member(data, base["owner"], invitor=base["owner"], scene=0, now=now)],
        }
        data["group_chats"][chat["chat_id"]] = chat
        way["chat_id_list"].append(chat["chat_id"])
        return chat, chat["chat_id"]

    def _member(self, data: dict, member: str, *, invitor: str, scene: int, now: int) -> dict:
        if member in data["associates"]:
            return {
                "userid": member,
                "type": 1,
                "join_time": now,
                "join_scene": MEMBER_JOIN_SCENE.get(scene, 1),
                "invitor": {"userid": invitor},
                "group_nickname": "",
                "name": data["associates"][member]["name"],
            }
        customer = data["customers"].get(member)
        if customer is None:
            raise WorldError(404, "member_not_found", f"没有导购或客户 {member}")
        entry = {
            "userid": member,
            "type": 2,
            "join_time": now,
            "join_scene": MEMBER_JOIN_SCENE.get(scene, 1),
            "invitor": {"userid": invitor},
            "group_nickname": "",
            "name": customer["name"],
        }
        if customer["unionid"]:
            entry["unionid"] = customer["unionid"]
        return entry

    # Corp tags changed in the admin console (API changes fire no callback) -----------------------

    def tag_admin_create(self, *, group_name: str, names: list[str]) -> dict:
        if not group_name or not names:
            raise WorldError(400, "invalid_tags", "group_name 和 tag 名称都不能为空")
        with self.state.change() as data:
            now = int(self.state.now())
            group = next(
                (g for g in data["tag_groups"].values() if g["group_name"] == group_name and not g["deleted"]), None
            )
            new_group = group is None
            if not new_group:
                taken = {
                    t["name"] for t in data["tags"].values() if t["group_id"] == group["group_id"] and not t["deleted"]
                }
                if taken & set(names):
                    raise WorldError(409, "tag_exists", f"标签组「{group_name}」里已有同名标签")
            if new_group:
                group = {
                    "group_id": new_id("et"),
                    "group_name": group_name,
                    "create_time": now,
                    "order": 0,
                    "deleted": False,
                }
                data["tag_groups"][group["group_id"]] = group
            created = []
            for name in names:
                tag = {
                    "id": new_id("et"),
                    "name": name,
                    "create_time": now,
                    "order": 0,
                    "group_id": group["group_id"],
                    "deleted": False,
                }
                data["tags"][tag["id"]] = tag
                created.append(tag)
        deliveries = []
        if new_group:
            deliveries += self.callbacks.emit(
                "change_external_tag",
                "create",
                [("Id", group["group_id"]), ("TagType", "tag_group"), ("ChangeType", "create")],
            )
        else:
            for tag in created:
                deliveries += self.callbacks.emit(
                    "change_external_tag", "create", [("Id", tag["id"]), ("TagType", "tag"), ("ChangeType", "create")]
                )
        return {"group_id": group["group_id"], "tags": created, "deliveries": _ids(deliveries)}

    # Chats -----------------------------------------------------------------------------------------

    def chat_message(self, *, key: str, sender: str, sender_type: str, kind: str, msgtype: str, body: dict) -> dict:
        message = {
            "id": new_id("", 16),
            "at": self.state.now(),
            "sender": sender,
            "sender_type": sender_type,  # associate | customer
            "kind": kind,  # chat | welcome | sidebar | mass
            "msgtype": msgtype,
            "body": body,
        }
        with self.state.change() as data:
            data["transcripts"].setdefault(key, []).append(message)
        return message

    def chat_send(self, *, userid: str, external_userid: str = "", chat_id: str = "", sender: str, text: str) -> dict:
        """Someone types in the chat (the UI's input box)."""
        if not text:
            raise WorldError(400, "empty_text", "消息不能为空")
        with self.state.lock:
            data = self.state.data
            if chat_id:
                chat = self._chat(data, chat_id)
                if not any(m["userid"] == sender for m in chat["members"]):
                    raise WorldError(403, "not_member", "发送者不在群里")
                key = group_chat_key(chat_id)
            else:
                self._relation(data, userid, external_userid)
                if sender not in (userid, external_userid):
                    raise WorldError(400, "invalid_sender", "sender 必须是这场单聊的导购或客户")
                key = single_chat_key(userid, external_userid)
        sender_type = "associate" if sender in self.state.data["associates"] else "customer"
        return self.chat_message(
            key=key, sender=sender, sender_type=sender_type, kind="chat", msgtype="text", body={"content": text}
        )

    # Mass messages ---------------------------------------------------------------------------------

    def mass_confirm(self, *, msgid: str, userid: str) -> dict:
        """The associate taps 发送 on the mass-message task: each target resolves to sent / not a friend / capped."""
        with self.state.change() as data:
            message = data["mass_messages"].get(msgid)
            if message is None:
                raise WorldError(404, "msg_not_found", f"没有群发 {msgid}")
            if message["cancelled"]:
                raise WorldError(409, "msg_cancelled", "这条群发已经停止")
            task = message["tasks"].get(userid)
            if task is None:
                raise WorldError(404, "task_not_found", f"{userid} 没有这条群发的发送任务")
            if task["status"] == 2:
                raise WorldError(409, "already_sent", "这条群发已经发送过了")
            now = int(self.state.now())
            month, cap = self.state.month_key(now), self.state.monthly_cap()
            task.update(status=2, send_time=now)
            delivered = []
            for target, result in task["results"].items():
                if message["chat_type"] == "single":
                    receipts = data["monthly_receipts"].setdefault(target, {})
                    if relation_key(userid, target) not in data["relations"]:
                        result["status"] = 2
                    elif receipts.get(month, 0) >= cap:
                        result["status"] = 3
                    else:
                        receipts[month] = receipts.get(month, 0) + 1
                        result.update(status=1, send_time=now)
                        delivered.append(single_chat_key(userid, target))
                else:
                    chat = data["group_chats"].get(target)
                    if chat and not chat["dismissed"] and any(m["userid"] == userid for m in chat["members"]):
                        result.update(status=1, send_time=now)
                        delivered.append(group_chat_key(target))
                    else:
                        result["status"] = 2
            summary = {"msgid": msgid, "userid": userid, "status": 2, "send_time": now}
            summary["results"] = {target: dict(result) for target, result in task["results"].items()}
        for key in delivered:
            for msgtype, body in message_parts(message.get("text"), message.get("attachments")):
                self.chat_message(
                    key=key, sender=userid, sender_type="associate", kind="mass", msgtype=msgtype, body=body
                )
        return summary

    # Transfers (在职继承 / 离职继承) -----------------------------------------------------------------

    def transfer_resolve(self, *, handover_userid: str, external_userid: str, outcome: str) -> dict:
        if outcome not in ("success", "refused", "limit"):
            raise WorldError(400, "invalid_outcome", "outcome 只能是 success / refused / limit")
        with self.state.change() as data:
            transfer = next(
                (
                    t
                    for t in reversed(data["transfers"])
                    if t["handover_userid"] == handover_userid
                    and t["external_userid"] == external_userid
                    and t["status"] == TRANSFER_WAITING
                ),
                None,
            )
            if transfer is None:
                raise WorldError(404, "transfer_not_found", "没有等待中的继承")
            takeover = transfer["takeover_userid"]
            events: list[tuple[str, list]] = []
            if outcome == "success":
                old = data["relations"].pop(relation_key(handover_userid, external_userid), None)
                relation = dict(old or {}, userid=takeover, external_userid=external_userid)
                relation.update(createtime=int(self.state.now()), add_way=ADD_WAY_ASSIGNED, oper_userid=takeover)
                relation.setdefault("tag_ids", [])
                data["relations"][relation_key(takeover, external_userid)] = relation
                transfer.update(status=TRANSFER_DONE, takeover_time=int(self.state.now()))
                if transfer["kind"] == "onjob":
                    events.append(
                        (
                            "del_external_contact",
                            [
                                ("UserID", handover_userid),
                                ("ExternalUserID", external_userid),
                                ("Source", "DELETE_BY_TRANSFER"),
                            ],
                        )
                    )
                events.append(("add_external_contact", [("UserID", takeover), ("ExternalUserID", external_userid)]))
            else:
                transfer["status"] = TRANSFER_REFUSED if outcome == "refused" else TRANSFER_LIMIT
                reason = "customer_refused" if outcome == "refused" else "customer_limit_exceed"
                events.append(
                    (
                        "transfer_fail",
                        [("FailReason", reason), ("UserID", takeover), ("ExternalUserID", external_userid)],
                    )
                )
            result = dict(transfer)
        deliveries = []
        for change_type, items in events:
            deliveries += self.callbacks.emit("change_external_contact", change_type, items)
        return {"transfer": result, "deliveries": _ids(deliveries)}

    # Lookups that raise the control API's errors --------------------------------------------------

    def _associate(self, data: dict, userid: str) -> dict:
        associate = data["associates"].get(userid)
        if associate is None:
            raise WorldError(404, "associate_not_found", f"没有导购 {userid!r}")
        return associate

    def _customer(self, data: dict, external_userid: str) -> dict:
        customer = data["customers"].get(external_userid)
        if customer is None:
            raise WorldError(404, "customer_not_found", f"没有客户 {external_userid!r}")
        return customer

    def _relation(self, data: dict, userid: str, external_userid: str) -> dict:
        relation = data["relations"].get(relation_key(userid, external_userid))
        if relation is None:
            raise WorldError(404, "not_friends", "导购和客户不是好友")
        return relation

    def _chat(self, data: dict, chat_id: str) -> dict:
        chat = data["group_chats"].get(chat_id)
        if chat is None or chat["dismissed"]:
            raise WorldError(404, "chat_not_found", f"没有客户群 {chat_id!r}")
        return chat


def message_parts(text: dict | None, attachments: list[dict] | None) -> list[tuple[str, dict]]:
    """A text + attachments message as the separate bubbles a chat shows."""
    parts: list[tuple[str, dict]] = []
    if text and text.get("content"):
        parts.append(("text", {"content": text["content"]}))
    for attachment in attachments or []:
        msgtype = attachment.get("msgtype", "")
        parts.append((msgtype, dict(attachment.get(msgtype) or {})))
    return parts


def _chat_view(chat: dict) -> dict:
    view: dict[str, Any] = {k: v for k, v in chat.items() if k != "members"}
    view["member_list"] = [dict(m) for m in chat["members"]]
    return view


def _ids(deliveries: list[dict]) -> list[str]:
    return [d["id"] for d in deliveries]
