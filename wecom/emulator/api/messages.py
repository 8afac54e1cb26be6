"""Messages to customers: mass messages (企业群发: `add_msg_template` to customers or groups, their list, tasks and
send results, reminders and cancelling) and the welcome message a member sends with a welcome_code
(`send_welcome_msg`), both checked the same way for text and attachments."""

from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, page, page_limit, require
from wecom.emulator.state import new_id, relation_key, single_chat_key
from wecom.emulator.web import Request
from wecom.emulator.world import message_parts


class MessagesApi(ApiBase):
    def _check_message(self, text: Any, attachments: Any) -> None:
        require(text is None or isinstance(text, dict), "text must be an object")
        content = (text or {}).get("content", "") or ""
        require(
            len(str(content).encode("utf-8")) <= L.MSG_TEMPLATE_MAX_TEXT_BYTES,
            f"text.content exceeds {L.MSG_TEMPLATE_MAX_TEXT_BYTES} bytes",
        )
        require(isinstance(attachments, list), "attachments must be a list")
        require(len(attachments) <= L.MSG_TEMPLATE_MAX_ATTACHMENTS, "at most 9 attachments")
        require(bool(content) or bool(attachments), "text or attachments is required")
        for attachment in attachments:
            msgtype = attachment.get("msgtype") if isinstance(attachment, dict) else None
            require(msgtype in ("image", "link", "miniprogram", "video", "file"), "invalid attachment msgtype")
            item = attachment.get(msgtype)
            require(isinstance(item, dict), f"attachment {msgtype} is missing")
            if msgtype == "image":
                require(bool(item.get("media_id") or item.get("pic_url")), "image needs media_id or pic_url")
                if item.get("media_id"):
                    require(self.media_valid(item["media_id"]) is not None, "", L.INVALID_MEDIA_ID)
            elif msgtype == "link":
                require(bool(item.get("title")) and bool(item.get("url")), "link needs title and url")
            elif msgtype == "miniprogram":
                for key in ("title", "pic_media_id", "appid", "page"):
                    require(bool(item.get(key)), f"miniprogram needs {key}")
                require(self.media_valid(item["pic_media_id"]) is not None, "", L.INVALID_MEDIA_ID)
            else:
                require(self.media_valid(item.get("media_id")) is not None, "", L.INVALID_MEDIA_ID)

    def add_msg_template(self, request: Request, body: dict) -> dict:
        chat_type = body.get("chat_type") or "single"
        require(chat_type in ("single", "group"), "chat_type must be single or group")
        sender = body.get("sender") or ""
        external_userids = body.get("external_userid") or []
        require(isinstance(external_userids, list), "external_userid must be a list")
        require(
            len(external_userids) <= L.MSG_TEMPLATE_MAX_RECIPIENTS,
            f"at most {L.MSG_TEMPLATE_MAX_RECIPIENTS} external_userid",
        )
        text, attachments = body.get("text"), body.get("attachments") or []
        self._check_message(text, attachments)
        with self.state.change() as data:
            require(not sender or sender in data["associates"], "", L.INVALID_USERID)
            targets: dict[str, list[str]] = {}
            fail_list: list[str] = []
            if chat_type == "single":
                require(bool(sender) or bool(external_userids), "sender or external_userid is required")
                if not external_userids:
                    external_userids = [
                        r["external_userid"] for r in data["relations"].values() if r["userid"] == sender
                    ]
                # Index the relations once per call: a task may name 10,000 customers of a corp with 100,000s.
                followers_of: dict[str, list[dict]] = {}
                if sender:
                    for external_userid in external_userids:
                        relation = data["relations"].get(relation_key(sender, external_userid))
                        if relation:
                            followers_of[external_userid] = [relation]
                else:
                    wanted = set(external_userids)
                    for r in data["relations"].values():
                        if r["external_userid"] in wanted:
                            followers_of.setdefault(r["external_userid"], []).append(r)
                for external_userid in dict.fromkeys(external_userids):
                    followers = sorted(followers_of.get(external_userid, []), key=lambda r: r["createtime"])
                    if followers:
                        targets.setdefault(followers[0]["userid"], []).append(external_userid)
                    else:
                        fail_list.append(external_userid)
            else:
                require(bool(sender), "sender is required for chat_type group")
                chat_ids = body.get("chat_id_list") or [
                    c["chat_id"] for c in data["group_chats"].values() if c["owner"] == sender and not c["dismissed"]
                ]
                for chat_id in chat_ids:
                    chat = data["group_chats"].get(chat_id)
                    if chat and not chat["dismissed"] and chat["owner"] == sender:
                        targets.setdefault(sender, []).append(chat_id)
                    else:
                        fail_list.append(chat_id)
            msgid = new_id("msg", 32)
            data["mass_messages"][msgid] = {
                "msgid": msgid,
                "chat_type": chat_type,
                "creator": sender,
                "create_type": 0,
                "create_time": int(self.state.now()),
                "text": text if text and text.get("content") else None,
                "attachments": attachments,
                "cancelled": False,
                "reminds": 0,
                "tasks": {
                    userid: {
                        "status": 0,
                        "send_time": 0,
                        "cancelled": False,
                        "results": {target: {"status": 0, "send_time": 0} for target in chosen},
                    }
                    for userid, chosen in targets.items()
                },
            }
        return self._ok(fail_list=fail_list, msgid=msgid)

    def _mass_message(self, body: dict) -> dict:
        message = self.state.data["mass_messages"].get(body.get("msgid"))
        require(message is not None, "invalid msgid")
        return message

    def get_groupmsg_list_v2(self, request: Request, body: dict) -> dict:
        chat_type = body.get("chat_type")
        require(chat_type in ("single", "group"), "chat_type must be single or group")
        start, end = body.get("start_time"), body.get("end_time")
        require(isinstance(start, int) and isinstance(end, int) and start <= end, "start_time and end_time required")
        require(end - start <= L.GROUPMSG_LIST_MAX_SPAN_SECONDS, "the time range is at most one month")
        filter_type = body.get("filter_type", 2)
        require(filter_type in (0, 1, 2), "filter_type must be 0, 1 or 2")
        limit = page_limit(body.get("limit"), default=L.GROUPMSG_LIST_DEFAULT_LIMIT, maximum=L.GROUPMSG_LIST_MAX_LIMIT)
        with self.state.lock:
            messages = [
                m
                for m in self.state.data["mass_messages"].values()
                if m["chat_type"] == chat_type
                and start <= m["create_time"] <= end
                and (filter_type == 2 or m["create_type"] == filter_type)
                and (not body.get("creator") or m["creator"] == body["creator"])
            ]
            messages.sort(key=lambda m: (m["create_time"], m["msgid"]))
            chunk, next_cursor = page(messages, body.get("cursor"), limit)
            items = []
            for message in chunk:
                item = {key: message[key] for key in ("msgid", "creator", "create_time", "create_type")}
                if message["text"]:
                    item["text"] = message["text"]
                item["attachments"] = message["attachments"]
                items.append(item)
        return self._ok(next_cursor=next_cursor, group_msg_list=items)

    def get_groupmsg_task(self, request: Request, body: dict) -> dict:
        limit = page_limit(body.get("limit"), default=L.GROUPMSG_TASK_DEFAULT_LIMIT, maximum=L.GROUPMSG_TASK_MAX_LIMIT)
        with self.state.lock:
            message = self._mass_message(body)
            tasks = [
                {
                    "userid": userid,
                    "status": task["status"],
                    **({"send_time": task["send_time"]} if task["status"] else {}),
                }
                for userid, task in message["tasks"].items()
            ]
        chunk, next_cursor = page(tasks, body.get("cursor"), limit)
        return self._ok(next_cursor=next_cursor, task_list=chunk)

    def get_groupmsg_send_result(self, request: Request, body: dict) -> dict:
        limit = page_limit(body.get("limit"), default=L.GROUPMSG_TASK_DEFAULT_LIMIT, maximum=L.GROUPMSG_TASK_MAX_LIMIT)
        userid = body.get("userid")
        require(bool(userid), "userid is required")
        with self.state.lock:
            message = self._mass_message(body)
            task = message["tasks"].get(userid)
            target_key = "external_userid" if message["chat_type"] == "single" else "chat_id"
            results = []
            for target, result in (task["results"] if task else {}).items():
                item = {target_key: target, "userid": userid, "status": result["status"]}
                if result["status"] == 1:
                    item["send_time"] = result["send_time"]
                results.append(item)
        chunk, next_cursor = page(results, body.get("cursor"), limit)
        return self._ok(next_cursor=next_cursor, send_list=chunk)

    def remind_groupmsg_send(self, request: Request, body: dict) -> dict:
        with self.state.change():
            message = self._mass_message(body)
            message["reminds"] += 1
        return self._ok()

    def cancel_groupmsg_send(self, request: Request, body: dict) -> dict:
        userids = body.get("userid_list") or []
        with self.state.change():
            message = self._mass_message(body)
            if userids:
                for userid in userids:
                    if userid in message["tasks"]:
                        message["tasks"][userid]["cancelled"] = True
            else:
                message["cancelled"] = True
        return self._ok()

    def send_welcome_msg(self, request: Request, body: dict) -> dict:
        code = body.get("welcome_code")
        require(isinstance(code, str) and bool(code), "welcome_code is required")
        text, attachments = body.get("text"), body.get("attachments") or []
        self._check_message(text, attachments)
        with self.state.change() as data:
            entry = data["welcome_codes"].get(code)
            require(entry is not None, "invalid welcome_code")
            key = single_chat_key(entry["userid"], entry["external_userid"])
            started = bool(data["transcripts"].get(key))
            # Used, expired, or the chat has already begun: WeCom answers 41051 and never sends.
            require(
                not entry["used"] and entry["expires_at"] > self.state.now() and not started, "", L.WELCOME_ALREADY_SENT
            )
            require(relation_key(entry["userid"], entry["external_userid"]) in data["relations"], "", L.NO_RELATIONSHIP)
            entry["used"] = True
        for msgtype, part in message_parts(text, attachments):
            self.world.chat_message(
                key=key, sender=entry["userid"], sender_type="associate", kind="welcome", msgtype=msgtype, body=part
            )
        return self._ok()
