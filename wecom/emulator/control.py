"""The control API under /control/: JSON in, JSON out, for tests, scripts and the browser UI.

It plays everything that happens on people's phones (a customer scans a QR, an associate confirms a
mass message) and everything a test needs to arrange or inspect (faults, the clock, call and callback
logs). Errors are {"error": {"code", "message"}} with a 4xx status. CORS is open: the UI and Omni's
pages run on other origins.
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from wecom.emulator.callbacks import CallbackDispatcher
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.generated import GeneratedCorp
from wecom.emulator.state import EmulatorState, group_chat_key, single_chat_key
from wecom.emulator.web import CORS_HEADERS, Request, Response, json_response
from wecom.emulator.world import World, WorldError, member_version

LOGIN_COOKIE = "wxemu_userid"
MAX_WAIT_SECONDS = 60


def _str(body: dict, name: str, *, required: bool = True) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or (required and not value):
        raise WorldError(400, f"invalid_{name}", f"{name} 必须是非空字符串" if required else f"{name} 必须是字符串")
    return value


class ControlApi:
    def __init__(self, *, config: EmulatorConfig, state: EmulatorState, world: World, callbacks: CallbackDispatcher):
        self.config = config
        self.state = state
        self.world = world
        self.callbacks = callbacks
        get, post = "GET", "POST"
        self.routes: dict[tuple[str, str], Callable[[Request, dict], Any]] = {
            (get, ""): self.routes_list,
            (get, "state"): self.summary,
            (post, "reset"): self.reset,
            (post, "clock"): self.clock,
            (get, "config"): self.config_get,
            (post, "config"): self.config_set,
            (get, "faults"): self.faults_get,
            (post, "faults"): self.faults_set,
            (get, "admin"): self.admin_get,
            (post, "admin"): self.admin_set,
            (get, "departments"): self.departments_list,
            (post, "departments"): self.departments_create,
            (get, "associates"): self.associates_list,
            (post, "associates"): self.associates_create,
            (post, "associates/resign"): self.associates_resign,
            (get, "customers"): self.customers_list,
            (post, "customers"): self.customers_create,
            (get, "generated"): self.generated_get,
            (post, "generated"): self.generated_set,
            (post, "contacts/add"): self.contacts_add,
            (post, "contacts/edit"): self.contacts_edit,
            (post, "contacts/delete"): self.contacts_delete,
            (get, "contact_ways"): self.contact_ways_list,
            (get, "acquisition_links"): self.acquisition_links_list,
            (post, "links/open"): self.links_open,
            (get, "groups"): self.groups_list,
            (post, "groups"): self.groups_create,
            (post, "groups/join"): self.groups_join,
            (post, "groups/leave"): self.groups_leave,
            (post, "groups/dismiss"): self.groups_dismiss,
            (get, "join_ways"): self.join_ways_list,
            (post, "tags"): self.tags_create,
            (get, "mass_messages"): self.mass_list,
            (post, "mass_messages/confirm"): self.mass_confirm,
            (get, "transcript"): self.transcript_get,
            (post, "transcript"): self.transcript_send,
            (get, "calls"): self.calls_list,
            (post, "calls/clear"): self.calls_clear,
            (get, "deliveries"): self.deliveries_list,
            (post, "deliveries/clear"): self.deliveries_clear,
            (post, "callbacks/verify"): self.callbacks_verify,
            (get, "transfers"): self.transfers_list,
            (post, "transfers/resolve"): self.transfers_resolve,
            (post, "login"): self.login,
            (post, "ui/open"): self.ui_open,
            (get, "ui/snapshot"): self.ui_snapshot,
            (get, "app_messages"): self.app_messages_list,
        }

    def handle(self, request: Request, path: str) -> Response:
        if request.method == "OPTIONS":
            return Response(204, b"", list(CORS_HEADERS))
        handler = self.routes.get((request.method, path.strip("/")))
        if handler is None:
            known = any(p == path.strip("/") for _, p in self.routes)
            code, status = ("method_not_allowed", 405) if known else ("not_found", 404)
            return json_response(
                {"error": {"code": code, "message": f"{request.method} /control/{path}"}}, status, cors=True
            )
        try:
            body = request.json() if request.method == "POST" else None
        except (ValueError, UnicodeDecodeError):
            return json_response({"error": {"code": "invalid_json", "message": "body 不是合法的 JSON"}}, 400, cors=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return json_response(
                {"error": {"code": "invalid_json", "message": "body 必须是 JSON 对象"}}, 400, cors=True
            )
        try:
            result = handler(request, body)
        except WorldError as error:
            payload = {"error": {"code": error.code, "message": error.message}}
            return json_response(payload, error.status, cors=True)
        if isinstance(result, Response):
            return result
        return json_response(result, cors=True)

    # The emulator itself ------------------------------------------------------------------------------

    def routes_list(self, request: Request, body: dict) -> dict:
        return {"routes": [f"{method} /control/{path}" for method, path in self.routes]}

    def summary(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            data = self.state.data
            counts = {
                name: len(data[name])
                for name in ("associates", "customers", "relations", "group_chats", "mass_messages", "tokens")
            }
        return {
            "now": self.state.now(),
            "config": self.config_get(request, body),
            "faults": self.faults_get(request, body),
            "counts": counts,
        }

    def reset(self, request: Request, body: dict) -> dict:
        self.callbacks.wait_idle(timeout=10)
        self.state.reset()
        return {"ok": True}

    def clock(self, request: Request, body: dict) -> dict:
        seconds = body.get("advance_seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise WorldError(400, "invalid_advance_seconds", "advance_seconds 必须是非负数")
        return {"now": self.state.advance_clock(seconds), "offset": self.state.data["clock_offset"]}

    def config_get(self, request: Request, body: dict) -> dict:
        return {
            "corp_id": self.config.corp_id,
            "agent_id": self.config.agent_id,
            "callback_url": self.config.callback_url,
            "sidebar_url": self.config.sidebar_url,
            "public_url": self.config.public_url,
            "api_base": f"{self.config.public_url}/cgi-bin/",
            "oa_appid": self.config.oa_appid,
        }

    def config_set(self, request: Request, body: dict) -> dict:
        for name in ("callback_url", "sidebar_url"):
            if name in body:
                value = _str(body, name)
                if not value.startswith(("http://", "https://")):
                    raise WorldError(400, f"invalid_{name}", f"{name} 必须是 http(s) 地址")
                setattr(self.config, name, value)
        return self.config_get(request, body)

    def faults_get(self, request: Request, body: dict) -> dict:
        return asdict(self.state.faults)

    def faults_set(self, request: Request, body: dict) -> dict:
        changes = dict(body)
        expire_now = changes.pop("expire_tokens_now", False)
        with self.state.change() as data:
            try:
                self.state.faults.update(changes)
            except ValueError as exc:
                raise WorldError(400, "invalid_fault", str(exc)) from exc
            if expire_now:
                for entry in data["tokens"].values():
                    entry["expires_at"] = min(entry["expires_at"], self.state.now() - 1)
        return self.faults_get(request, body)

    def admin_get(self, request: Request, body: dict) -> dict:
        """The corp admin console's settings for the app (state.CorpAdmin) and the trusted domain in effect."""
        settings = asdict(self.state.admin)
        settings["trusted_domain_in_effect"] = self.state.admin.trusted_domain or self.config.default_trusted_domain()
        return settings

    def admin_set(self, request: Request, body: dict) -> dict:
        with self.state.change():
            try:
                self.state.admin.update(body)
            except ValueError as exc:
                raise WorldError(400, "invalid_admin_setting", str(exc)) from exc
        return self.admin_get(request, body)

    def departments_list(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            return {"departments": [dict(d) for d in self.state.data["departments"].values()]}

    def departments_create(self, request: Request, body: dict) -> dict:
        ids = {name: body.get(name) for name in ("id", "parentid") if body.get(name) is not None}
        for name, value in ids.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise WorldError(400, f"invalid_{name}", f"{name} 必须是正整数")
        return self.world.department_create(name=_str(body, "name"), **ids)

    # People ------------------------------------------------------------------------------------------

    def associates_list(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            return {"associates": [dict(a) for a in self.state.data["associates"].values()]}

    def associates_create(self, request: Request, body: dict) -> dict:
        department = body.get("department")
        if isinstance(department, int) and not isinstance(department, bool):
            department = [department]
        if department is not None and (
            not isinstance(department, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in department)
        ):
            raise WorldError(400, "invalid_department", "department 必须是部门 id 或其列表")
        return self.world.associate_create(
            userid=_str(body, "userid"),
            name=_str(body, "name"),
            store=_str(body, "store", required=False),
            department=department,
        )

    def associates_resign(self, request: Request, body: dict) -> dict:
        return self.world.associate_resign(userid=_str(body, "userid"))

    def customers_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        with self.state.lock:
            data = self.state.data
            if not userid:
                return {"customers": [dict(c) for c in data["customers"].values()]}
            relations = sorted(
                (r for r in data["relations"].values() if r["userid"] == userid), key=lambda r: r["createtime"]
            )
            return {"customers": [dict(data["customers"][r["external_userid"]], relation=dict(r)) for r in relations]}

    def customers_create(self, request: Request, body: dict) -> dict:
        gender = body.get("gender", 0)
        return self.world.customer_create(
            name=_str(body, "name"),
            unionid=_str(body, "unionid", required=False),
            gender=gender,
            avatar=_str(body, "avatar", required=False),
            external_userid=_str(body, "external_userid", required=False),
        )

    def generated_get(self, request: Request, body: dict) -> dict:
        corp = self.state.generated
        return {"generated": asdict(corp) if corp else None}

    def generated_set(self, request: Request, body: dict) -> dict:
        """Set (or change, or with associates 0 remove) the generated corp (generated.py) the customer APIs serve
        beside the members and customers made one by one."""
        with self.state.lock:
            try:
                self.state.generated = GeneratedCorp.from_body(body, self.state.generated)
            except ValueError as exc:
                raise WorldError(400, "invalid_generated", str(exc)) from exc
        return self.generated_get(request, body)

    def contacts_add(self, request: Request, body: dict) -> dict:
        add_way = body.get("add_way")
        if add_way is not None and (not isinstance(add_way, int) or isinstance(add_way, bool)):
            raise WorldError(400, "invalid_add_way", "add_way 必须是整数")
        state = body.get("state")
        if state is not None and not isinstance(state, str):
            raise WorldError(400, "invalid_state", "state 必须是字符串")
        userid, config_id = _str(body, "userid", required=False), _str(body, "config_id", required=False)
        if not userid and not config_id:
            raise WorldError(400, "invalid_userid", "userid 或 config_id 至少给一个")
        return self.world.contact_add(
            external_userid=_str(body, "external_userid"),
            userid=userid,
            config_id=config_id,
            add_way=add_way,
            state=state,
        )

    def contacts_edit(self, request: Request, body: dict) -> dict:
        return self.world.contact_edit(
            userid=_str(body, "userid"),
            external_userid=_str(body, "external_userid"),
            remark=body.get("remark"),
            description=body.get("description"),
        )

    def contacts_delete(self, request: Request, body: dict) -> dict:
        return self.world.contact_delete(
            userid=_str(body, "userid"), external_userid=_str(body, "external_userid"), by=_str(body, "by")
        )

    def contact_ways_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        with self.state.lock:
            ways = [dict(w) for w in self.state.data["contact_ways"].values() if not userid or userid in w["user"]]
        return {"contact_ways": ways}

    def acquisition_links_list(self, request: Request, body: dict) -> dict:
        """Every acquisition link, with the corp's quota (total, used)."""
        with self.state.lock:
            links = [
                {k: v for k, v in link.items() if k != "customers"} | {"customers": len(link["customers"])}
                for link in self.state.data.get("acquisition_links", {}).values()
            ]
            quota = dict(self.state.data.get("acquisition_quota") or {})
        return {"acquisition_links": links, "quota": quota}

    def links_open(self, request: Request, body: dict) -> dict:
        """A customer opens an acquisition link (customer_channel: the ?customer_channel= of its URL)."""
        return self.world.link_open(
            external_userid=_str(body, "external_userid"),
            link_id=_str(body, "link_id"),
            customer_channel=_str(body, "customer_channel", required=False),
        )

    # Groups ---------------------------------------------------------------------------------------------

    def groups_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        with self.state.lock:
            chats = [
                self._chat_view(c)
                for c in self.state.data["group_chats"].values()
                if not c["dismissed"] and (not userid or any(m["userid"] == userid for m in c["members"]))
            ]
        return {"groups": chats}

    @staticmethod
    def _chat_view(chat: dict) -> dict:
        view = {k: v for k, v in chat.items() if k != "members"}
        view["member_list"] = [dict(m) for m in chat["members"]]
        view["member_version"] = member_version(chat["members"])
        return view

    def groups_create(self, request: Request, body: dict) -> dict:
        members = body.get("members") or []
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise WorldError(400, "invalid_members", "members 必须是 userid / external_userid 列表")
        return self.world.group_create(
            owner=_str(body, "owner"),
            name=_str(body, "name", required=False),
            notice=_str(body, "notice", required=False),
            members=members,
        )

    def groups_join(self, request: Request, body: dict) -> dict:
        chat_id, config_id = _str(body, "chat_id", required=False), _str(body, "config_id", required=False)
        if not chat_id and not config_id:
            raise WorldError(400, "invalid_chat_id", "chat_id 或 config_id 至少给一个")
        join_scene = body.get("join_scene")
        return self.world.group_join(
            member=_str(body, "member"),
            chat_id=chat_id,
            config_id=config_id,
            join_scene=join_scene,
            invitor=_str(body, "invitor", required=False),
        )

    def groups_leave(self, request: Request, body: dict) -> dict:
        return self.world.group_leave(
            chat_id=_str(body, "chat_id"), member=_str(body, "member"), quit_scene=body.get("quit_scene", 0)
        )

    def groups_dismiss(self, request: Request, body: dict) -> dict:
        return self.world.group_dismiss(chat_id=_str(body, "chat_id"))

    def join_ways_list(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            return {"join_ways": [dict(w) for w in self.state.data["join_ways"].values()]}

    def tags_create(self, request: Request, body: dict) -> dict:
        names = body.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise WorldError(400, "invalid_names", "names 必须是非空字符串列表")
        return self.world.tag_admin_create(group_name=_str(body, "group_name"), names=names)

    # Mass messages ---------------------------------------------------------------------------------------

    def mass_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        pending = request.query.get("pending") in ("1", "true")
        with self.state.lock:
            messages = []
            for message in self.state.data["mass_messages"].values():
                tasks = message["tasks"]
                if userid and userid not in tasks:
                    continue
                if pending and (
                    message["cancelled"] or not any(t["status"] == 0 and not t["cancelled"] for t in tasks.values())
                ):
                    continue
                messages.append(json.loads(json.dumps(message)))
        messages.sort(key=lambda m: m["create_time"])
        return {"mass_messages": messages}

    def mass_confirm(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            message = self.state.data["mass_messages"].get(body.get("msgid"))
            task = message["tasks"].get(body.get("userid")) if message else None
            if task and task["cancelled"]:
                raise WorldError(409, "msg_cancelled", "这位导购的群发任务已经停止")
        return self.world.mass_confirm(msgid=_str(body, "msgid"), userid=_str(body, "userid"))

    # Chats --------------------------------------------------------------------------------------------

    def _chat_key(self, source: dict) -> str:
        chat_id = source.get("chat_id", "")
        if chat_id:
            return group_chat_key(chat_id)
        userid, external_userid = source.get("userid", ""), source.get("external_userid", "")
        if not userid or not external_userid:
            raise WorldError(400, "invalid_chat", "给出 userid 与 external_userid（单聊）或 chat_id（群聊）")
        return single_chat_key(userid, external_userid)

    def transcript_get(self, request: Request, body: dict) -> dict:
        key = self._chat_key(request.query)
        with self.state.lock:
            return {"messages": [dict(m) for m in self.state.data["transcripts"].get(key, [])]}

    def transcript_send(self, request: Request, body: dict) -> dict:
        return self.world.chat_send(
            userid=_str(body, "userid", required=False),
            external_userid=_str(body, "external_userid", required=False),
            chat_id=_str(body, "chat_id", required=False),
            sender=_str(body, "sender"),
            text=_str(body, "text"),
        )

    # Logs ------------------------------------------------------------------------------------------------

    def calls_list(self, request: Request, body: dict) -> dict:
        api = request.query.get("api", "")
        with self.state.lock:
            calls = [dict(c) for c in self.state.calls if not api or c["api"] == api]
        if "errcode" in request.query:
            calls = [c for c in calls if str(c["errcode"]) == request.query["errcode"]]
        with self.state.lock:
            totals = {f"{api} {errcode}": n for (api, errcode), n in sorted(self.state.call_totals.items())}
        # The log keeps the last calls only; `totals` counts every call since the last clear, by API and errcode.
        return {"calls": calls, "count": len(calls), "totals": totals}

    def calls_clear(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            self.state.calls.clear()
            self.state.call_totals.clear()
        return {"ok": True}

    def deliveries_list(self, request: Request, body: dict) -> dict:
        wait = request.query.get("wait", "")
        idle = True
        if wait:
            try:
                seconds = min(float(wait), MAX_WAIT_SECONDS)
            except ValueError as exc:
                raise WorldError(400, "invalid_wait", "wait 必须是秒数") from exc
            idle = self.callbacks.wait_idle(timeout=seconds)
        event, change_type = request.query.get("event", ""), request.query.get("change_type", "")
        with self.state.lock:
            deliveries = [
                json.loads(json.dumps(d))
                for d in self.state.deliveries
                if (not event or d["event"] == event) and (not change_type or d["change_type"] == change_type)
            ]
        return {"deliveries": deliveries, "idle": idle}

    def deliveries_clear(self, request: Request, body: dict) -> dict:
        self.callbacks.wait_idle(timeout=10)
        with self.state.lock:
            self.state.deliveries.clear()
        return {"ok": True}

    def callbacks_verify(self, request: Request, body: dict) -> dict:
        """Do what WeCom does when the admin saves the callback URL (应用管理 → 接收消息 → 设置API接收)."""
        return self.callbacks.verify_url()

    # Transfers -------------------------------------------------------------------------------------------

    def transfers_list(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            return {"transfers": [dict(t) for t in self.state.data["transfers"]]}

    def transfers_resolve(self, request: Request, body: dict) -> dict:
        return self.world.transfer_resolve(
            handover_userid=_str(body, "handover_userid"),
            external_userid=_str(body, "external_userid"),
            outcome=_str(body, "outcome"),
        )

    # The browser UI ---------------------------------------------------------------------------------------

    def login(self, request: Request, body: dict) -> Response:
        userid = _str(body, "userid")
        with self.state.lock:
            associate = self.state.data["associates"].get(userid)
        if associate is None:
            raise WorldError(404, "associate_not_found", f"没有导购 {userid!r}")
        response = json_response({"userid": userid}, cors=True)
        response.headers.append(("Set-Cookie", f"{LOGIN_COOKIE}={userid}; Path=/; SameSite=Lax"))
        return response

    def ui_open(self, request: Request, body: dict) -> dict:
        """Remember the chat the UI shows: the JS-SDK stand-in falls back to it outside the UI's iframe."""
        userid = _str(body, "userid")
        chat_id = _str(body, "chat_id", required=False)
        external_userid = _str(body, "external_userid", required=False)
        context = {
            "userid": userid,
            # A page opened from an app message (no chat) is in WeCom's "normal" entry.
            "entry": "group_chat_tools" if chat_id else "single_chat_tools" if external_userid else "normal",
            "external_userid": external_userid,
            "chat_id": chat_id,
        }
        with self.state.change() as data:
            data["ui"]["current"] = context
        return context

    def app_messages_list(self, request: Request, body: dict) -> dict:
        """The app messages (应用消息) a member received through message/send, newest first."""
        userid = _str(dict(request.query), "userid")
        with self.state.lock:
            messages = [dict(m) for m in self.state.data["app_messages"].get(userid, [])]
        return {"app_messages": messages[::-1]}

    def ui_snapshot(self, request: Request, body: dict) -> dict:
        """Everything the UI shows for the associate and the open chat, in one poll."""
        userid = request.query.get("userid", "")
        external_userid, chat_id = request.query.get("external_userid", ""), request.query.get("chat_id", "")
        with self.state.lock:
            data = self.state.data
            snapshot: dict[str, Any] = {
                "now": self.state.now(),
                "associates": [dict(a) for a in data["associates"].values()],
                "customers": self.customers_list(request, body)["customers"] if userid else [],
                "all_customers": [dict(c) for c in data["customers"].values()],
                "groups": self.groups_list(request, body)["groups"] if userid else [],
                "contact_ways": self.contact_ways_list(request, body)["contact_ways"] if userid else [],
                "join_ways": [dict(w) for w in data["join_ways"].values()],
                # What a new customer can scan or open (新客户扫码添加): every code and acquisition link of the corp.
                "scan_targets": [
                    {
                        "kind": "contact_way",
                        "id": w["config_id"],
                        "label": w.get("remark") or w["state"],
                        "users": w["user"],
                    }
                    for w in data["contact_ways"].values()
                ]
                + [
                    {
                        "kind": "link",
                        "id": link["link_id"],
                        "label": link["link_name"],
                        "users": link["range"]["user_list"],
                    }
                    for link in data.get("acquisition_links", {}).values()
                ],
                "pending_mass": [],
                "transcript": [],
                "deliveries": [
                    {k: d[k] for k in ("id", "event", "change_type", "status", "created_at")}
                    | {"attempts": len(d["attempts"])}
                    for d in list(self.state.deliveries)[-15:]
                ],
                "faults": self.faults_get(request, body),
                "app_messages": [dict(m) for m in data["app_messages"].get(userid, [])[-20:]][::-1],
            }
            if userid:
                for message in data["mass_messages"].values():
                    task = message["tasks"].get(userid)
                    if task and task["status"] == 0 and not task["cancelled"] and not message["cancelled"]:
                        snapshot["pending_mass"].append(
                            {
                                "msgid": message["msgid"],
                                "text": message["text"],
                                "attachments": message["attachments"],
                                "targets": len(task["results"]),
                                "create_time": message["create_time"],
                                "reminds": message["reminds"],
                            }
                        )
            if chat_id:
                snapshot["transcript"] = [dict(m) for m in data["transcripts"].get(group_chat_key(chat_id), [])]
            elif userid and external_userid:
                key = single_chat_key(userid, external_userid)
                snapshot["transcript"] = [dict(m) for m in data["transcripts"].get(key, [])]
        return snapshot
