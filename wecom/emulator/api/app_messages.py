"""App messages to members (应用消息): `message/send` of a textcard or a template_card (text_notice) from the app to
members (touser "a|b", or "@all"), with WeCom's checks: the agentid, the card's lengths, members outside the app's
range or unknown answered in `invaliduser` (all of them: 81013), and each member's per-minute and per-hour limit
(45009). What a member received is kept for the UI's 应用消息 list."""

from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.api.base import ApiBase, ApiError, require
from wecom.emulator.state import new_id
from wecom.emulator.web import Request


def _bytes(value: Any) -> int:
    return len(str(value or "").encode("utf-8"))


class AppMessagesApi(ApiBase):
    def message_send(self, request: Request, body: dict) -> dict:
        require(str(body.get("agentid", "")) == str(self.config.agent_id), "", L.INVALID_AGENTID)
        msgtype = body.get("msgtype")
        require(msgtype in ("textcard", "template_card"), "", L.INVALID_TYPE)
        card = self._app_card(msgtype, body.get(msgtype))
        touser = body.get("touser") or ""
        require(isinstance(touser, str) and bool(touser), "touser is required")
        now = self.state.now()
        with self.state.change() as data:
            associates = data["associates"]
            departments = data["departments"]
            wanted = [u for u in associates if not associates[u]["resigned"]] if touser == "@all" else touser.split("|")
            require(len(wanted) <= L.APP_MESSAGE_MAX_USERS, f"at most {L.APP_MESSAGE_MAX_USERS} touser")
            valid, invalid = [], []
            for userid in wanted:
                associate = associates.get(userid)
                if (
                    associate is None
                    or associate["resigned"]
                    or not self.state.admin.member_visible(associate, departments)
                ):
                    invalid.append(userid)
                else:
                    valid.append(userid)
            if not valid:
                raise ApiError(L.ALL_TOUSER_INVALID)
            inbox = data.setdefault("app_messages", {})
            for userid in valid:
                sent = [m["created_at"] for m in inbox.get(userid, [])]
                if sum(1 for at in sent if at > now - 60) >= L.APP_MESSAGE_PER_USER_PER_MINUTE:
                    detail = f"{userid} received {L.APP_MESSAGE_PER_USER_PER_MINUTE} this minute"
                    raise ApiError(L.FREQUENCY_LIMIT, detail)
                if sum(1 for at in sent if at > now - 3600) >= L.APP_MESSAGE_PER_USER_PER_HOUR:
                    raise ApiError(L.FREQUENCY_LIMIT, f"{userid} received {L.APP_MESSAGE_PER_USER_PER_HOUR} this hour")
            msgid = new_id("", 40)
            for userid in valid:
                messages = inbox.setdefault(userid, [])
                messages.append({"msgid": msgid, "msgtype": msgtype, "created_at": now, "read": False, **card})
                del messages[: -L.APP_MESSAGE_KEEP]
        return self._ok(invaliduser="|".join(invalid), invalidparty="", invalidtag="", unlicenseduser="", msgid=msgid)

    @staticmethod
    def _app_card(msgtype: str, card: Any) -> dict:
        require(isinstance(card, dict), f"{msgtype} is missing")
        if msgtype == "textcard":
            title, description, url = card.get("title"), card.get("description"), card.get("url")
            btntxt = card.get("btntxt") or "详情"
            require(bool(title) and bool(description) and bool(url), "textcard needs title, description and url")
            require(_bytes(title) <= L.APP_MESSAGE_TEXTCARD_TITLE_MAX_BYTES, "title exceeds 128 bytes")
            require(
                _bytes(description) <= L.APP_MESSAGE_TEXTCARD_DESCRIPTION_MAX_BYTES, "description exceeds 512 bytes"
            )
            require(len(str(btntxt)) <= L.APP_MESSAGE_BTNTXT_MAX_CHARS, "btntxt exceeds 4 characters")
        else:
            require(card.get("card_type") == "text_notice", "only text_notice template cards")
            main = card.get("main_title") or {}
            require(isinstance(main, dict) and bool(main.get("title") or main.get("desc")), "main_title is required")
            require(_bytes(main.get("title")) <= L.APP_MESSAGE_CARD_TITLE_MAX_BYTES, "main_title.title too long")
            require(_bytes(main.get("desc")) <= L.APP_MESSAGE_CARD_DESC_MAX_BYTES, "main_title.desc too long")
            action = card.get("card_action") or {}
            require(isinstance(action, dict) and action.get("type") == 1 and bool(action.get("url")), "card_action")
            title, url, btntxt = main.get("title") or "", action["url"], "详情"
            description = card.get("sub_title_text") or main.get("desc") or ""
        require(str(url).startswith(("http://", "https://")), "url must be http(s)")
        require(_bytes(url) <= L.APP_MESSAGE_URL_MAX_BYTES, "url exceeds 2048 bytes")
        return {"title": str(title), "description": str(description), "url": str(url), "btntxt": str(btntxt)}
