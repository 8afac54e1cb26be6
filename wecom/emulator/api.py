"""The /cgi-bin/ API: WeCom's paths, JSON fields and error codes, always HTTP 200 with errcode/errmsg.

Every call goes through the same gate as on WeCom: injected latency, the per-API per-minute limit
(45009, then blocked for a minute), injected 45009 / -1 faults, then the access_token check
(41001 missing, 40014 unknown, 42001 expired). Then the handler reads or changes the state. Every call
is written to the call log without its secrets.
"""

import base64
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.state import EmulatorState, new_id, relation_key, single_chat_key
from wecom.emulator.web import Request, Response, json_response
from wecom.emulator.world import (
    TRANSFER_WAITING,
    World,
    WorldError,
    member_version,
    message_parts,
)

logger = logging.getLogger(__name__)
SECRET_PARAMS = ("access_token", "corpsecret")
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
LOGGED_BODY_MAX_CHARS = 4000
# Expired tokens are remembered this long so that they answer 42001, not 40014.
EXPIRED_TOKEN_MEMORY_SECONDS = 24 * 3600
FOLLOW_USER_PAGE = 500


class ApiError(Exception):
    def __init__(self, errcode: int, detail: str = ""):
        super().__init__(detail)
        self.errcode = errcode
        self.detail = detail


def _require(condition: bool, detail: str, errcode: int = L.INVALID_PARAMETER) -> None:
    if not condition:
        raise ApiError(errcode, detail)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        kind, _, offset = text.partition(":")
        if kind != "o" or int(offset) < 0:
            raise ValueError(cursor)
        return int(offset)
    except ValueError as exc:
        raise ApiError(L.INVALID_PARAMETER, "invalid cursor") from exc


def _page(items: list, cursor: Any, limit: int) -> tuple[list, str]:
    start = _decode_cursor(cursor)
    chunk = items[start : start + limit]
    return chunk, _encode_cursor(start + limit) if start + limit < len(items) else ""


def _limit(value: Any, *, default: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    try:
        value = int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(L.INVALID_PARAMETER, "limit must be an integer") from exc
    _require(value > 0, "limit must be positive")
    return min(value, maximum)


def _external_userid_ok(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 32
        and value[:2] in ("wm", "wo")
        and all(c.isalnum() or c in "_-" for c in value)
    )


class WeComApi:
    def __init__(self, *, config: EmulatorConfig, state: EmulatorState, world: World):
        self.config = config
        self.state = state
        self.world = world
        self._random = random.Random()
        # path -> (handler, needs access_token, reads a JSON body)
        self.routes: dict[str, tuple[Callable[[Request, dict], dict], bool, bool]] = {
            "gettoken": (self.gettoken, False, False),
            "get_jsapi_ticket": (self.get_jsapi_ticket, True, False),
            "ticket/get": (self.ticket_get, True, False),
            "auth/getuserinfo": (self.auth_getuserinfo, True, False),
            "user/get": (self.user_get, True, False),
            "media/upload": (self.media_upload, True, False),
            "media/get": (self.media_get, True, False),
            "externalcontact/get_follow_user_list": (self.get_follow_user_list, True, False),
            "externalcontact/list": (self.contact_list, True, False),
            "externalcontact/get": (self.contact_get, True, False),
            "externalcontact/batch/get_by_user": (self.batch_get_by_user, True, True),
            "externalcontact/add_contact_way": (self.add_contact_way, True, True),
            "externalcontact/get_contact_way": (self.get_contact_way, True, True),
            "externalcontact/update_contact_way": (self.update_contact_way, True, True),
            "externalcontact/del_contact_way": (self.del_contact_way, True, True),
            "externalcontact/get_corp_tag_list": (self.get_corp_tag_list, True, True),
            "externalcontact/add_corp_tag": (self.add_corp_tag, True, True),
            "externalcontact/mark_tag": (self.mark_tag, True, True),
            "externalcontact/add_msg_template": (self.add_msg_template, True, True),
            "externalcontact/get_groupmsg_list_v2": (self.get_groupmsg_list_v2, True, True),
            "externalcontact/get_groupmsg_task": (self.get_groupmsg_task, True, True),
            "externalcontact/get_groupmsg_send_result": (self.get_groupmsg_send_result, True, True),
            "externalcontact/remind_groupmsg_send": (self.remind_groupmsg_send, True, True),
            "externalcontact/cancel_groupmsg_send": (self.cancel_groupmsg_send, True, True),
            "externalcontact/send_welcome_msg": (self.send_welcome_msg, True, True),
            "externalcontact/groupchat/list": (self.groupchat_list, True, True),
            "externalcontact/groupchat/get": (self.groupchat_get, True, True),
            "externalcontact/groupchat/add_join_way": (self.add_join_way, True, True),
            "externalcontact/groupchat/get_join_way": (self.get_join_way, True, True),
            "externalcontact/groupchat/update_join_way": (self.update_join_way, True, True),
            "externalcontact/groupchat/del_join_way": (self.del_join_way, True, True),
            "externalcontact/transfer_customer": (self.transfer_customer_onjob, True, True),
            "externalcontact/transfer_result": (self.transfer_result_onjob, True, True),
            "externalcontact/resigned/transfer_customer": (self.transfer_customer_resigned, True, True),
            "externalcontact/resigned/transfer_result": (self.transfer_result_resigned, True, True),
        }

    # The gate --------------------------------------------------------------------------------------

    def handle(self, request: Request, api: str) -> Response:
        if not api and request.method == "GET":  # the base URL opened in a browser: what the emulator implements
            return json_response({"errcode": 0, "errmsg": "ok", "apis": [f"cgi-bin/{name}" for name in self.routes]})
        route = self.routes.get(api)
        if route is None:
            return json_response({"errcode": 404, "errmsg": f"the emulator has no API cgi-bin/{api}"}, 404)
        handler, needs_token, reads_json = route
        started = time.monotonic()
        body: Any = None
        faults = self.state.faults
        if faults.latency_ms and faults.applies_to(api):
            time.sleep(faults.latency_ms / 1000)
        try:
            self._rate_limit(api)
            if faults.applies_to(api):
                if self._random.random() < faults.rate_limit_rate:
                    raise ApiError(L.FREQUENCY_LIMIT, "injected by the emulator's rate_limit_rate fault")
                if self._random.random() < faults.busy_rate:
                    raise ApiError(L.SYSTEM_BUSY, "injected by the emulator's busy_rate fault")
            if needs_token:
                self._check_token(request.query.get("access_token", ""))
            if reads_json:
                body = self._json_body(request)
            result = handler(request, body or {})
        except ApiError as error:
            result = {"errcode": error.errcode, "errmsg": self._errmsg(error, request)}
        except (TypeError, AttributeError) as error:
            # A field of the wrong JSON type: WeCom answers 40058, never HTTP 500. Logged in case it is ours.
            logger.warning("cgi-bin/%s refused a malformed request", api, exc_info=error)
            result = {"errcode": L.INVALID_PARAMETER, "errmsg": self._errmsg(ApiError(L.INVALID_PARAMETER), request)}
        except WorldError as error:  # a shared operation refused: a parameter WeCom would reject
            result = {
                "errcode": L.INVALID_PARAMETER,
                "errmsg": self._errmsg(ApiError(L.INVALID_PARAMETER, error.message), request),
            }
        self._log(request, api, body, result, started)
        if isinstance(result, Response):
            return result
        return json_response(result)

    def _errmsg(self, error: ApiError, request: Request) -> str:
        text = L.ERRMSG.get(error.errcode, "error")
        if error.detail:
            text = f"{text}: {error.detail}"
        hint = f"{int(self.state.now())}_{secrets.token_hex(8)}"
        return (
            f"{text}, hint: [{hint}], from ip: {request.remote_addr}, "
            f"more info at https://open.work.weixin.qq.com/devtool/query?e={error.errcode}"
        )

    def _rate_limit(self, api: str) -> None:
        now = self.state.now()
        with self.state.lock:
            if self.state.blocked_until.get(api, 0) > now:
                raise ApiError(L.FREQUENCY_LIMIT, "blocked for a minute after exceeding the per-minute limit")
            minute = int(now // 60)
            key = (api, minute)
            self.state.rate_counts[key] = self.state.rate_counts.get(key, 0) + 1
            for old in [k for k in self.state.rate_counts if k[1] < minute]:
                del self.state.rate_counts[old]
            if self.state.rate_counts[key] > self.state.faults.per_minute_limit:
                self.state.blocked_until[api] = now + L.RATE_LIMIT_BLOCK_SECONDS
                raise ApiError(L.FREQUENCY_LIMIT, f"more than {self.state.faults.per_minute_limit} calls this minute")

    def _check_token(self, token: str) -> None:
        if not token:
            raise ApiError(L.ACCESS_TOKEN_MISSING)
        with self.state.lock:
            entry = self.state.data["tokens"].get(token)
            if entry is None:
                raise ApiError(L.INVALID_ACCESS_TOKEN)
            if entry["expires_at"] <= self.state.now():
                raise ApiError(L.ACCESS_TOKEN_EXPIRED)

    @staticmethod
    def _json_body(request: Request) -> dict:
        if not request.body.strip():
            raise ApiError(L.EMPTY_POST_DATA)
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(L.DATA_FORMAT_ERROR) from exc
        if not isinstance(body, dict):
            raise ApiError(L.DATA_FORMAT_ERROR, "the body must be a JSON object")
        return body

    def _log(self, request: Request, api: str, body: Any, result: Any, started: float) -> None:
        logged_body = body
        if body is not None and len(json.dumps(body, ensure_ascii=False)) > LOGGED_BODY_MAX_CHARS:
            logged_body = {"_truncated": True, "keys": sorted(body)}
        self.state.call_record(
            api=api,
            method=request.method,
            query=request.query,
            hidden=SECRET_PARAMS,
            body=logged_body,
            errcode=result.get("errcode") if isinstance(result, dict) else 0,
            started=started,
        )

    # Tokens and tickets ----------------------------------------------------------------------------

    def gettoken(self, request: Request, body: dict) -> dict:
        corpid, secret = request.query.get("corpid", ""), request.query.get("corpsecret", "")
        _require(bool(corpid), "", L.CORPID_MISSING)
        _require(bool(secret), "", L.SECRET_MISSING)
        _require(corpid == self.config.corp_id, "", L.INVALID_CORPID)
        _require(secrets.compare_digest(secret.encode(), self.config.secret.encode()), "", L.INVALID_SECRET)
        now = self.state.now()
        with self.state.change() as data:
            tokens = data["tokens"]
            for token in [t for t, e in tokens.items() if e["expires_at"] < now - EXPIRED_TOKEN_MEMORY_SECONDS]:
                del tokens[token]
            # Within its validity WeCom hands out the same token again.
            current = max(tokens.items(), key=lambda item: item[1]["expires_at"], default=None)
            if current and current[1]["expires_at"] > now + 1:
                return self._ok(access_token=current[0], expires_in=int(current[1]["expires_at"] - now))
            token = new_id("", 128)
            tokens[token] = {"expires_at": now + self.state.faults.token_ttl, "issued_at": now}
            return self._ok(access_token=token, expires_in=self.state.faults.token_ttl)

    def get_jsapi_ticket(self, request: Request, body: dict) -> dict:
        return self._ticket("jsapi", L.JSAPI_TICKET_PER_HOUR)

    def ticket_get(self, request: Request, body: dict) -> dict:
        _require(request.query.get("type") == "agent_config", "type must be agent_config", L.INVALID_TYPE)
        return self._ticket("agent_config", L.AGENT_TICKET_PER_HOUR)

    def _ticket(self, kind: str, per_hour: int) -> dict:
        now = self.state.now()
        with self.state.change() as data:
            hour = int(now // 3600)
            counts = self.state.ticket_counts
            for old in [k for k in counts if k[1] < hour]:
                del counts[old]
            counts[(kind, hour)] = counts.get((kind, hour), 0) + 1
            if counts[(kind, hour)] > per_hour:
                raise ApiError(L.FREQUENCY_LIMIT, f"more than {per_hour} {kind} tickets this hour")
            tickets = data["tickets"]
            for ticket in [t for t, e in tickets.items() if e["expires_at"] < now - EXPIRED_TOKEN_MEMORY_SECONDS]:
                del tickets[ticket]
            mine = [(t, e) for t, e in tickets.items() if e["type"] == kind and e["expires_at"] > now + 1]
            if mine:
                ticket, entry = max(mine, key=lambda item: item[1]["expires_at"])
                return self._ok(ticket=ticket, expires_in=int(entry["expires_at"] - now))
            ticket = new_id("", 86)
            tickets[ticket] = {"type": kind, "expires_at": now + L.TICKET_TTL_SECONDS}
            return self._ok(ticket=ticket, expires_in=L.TICKET_TTL_SECONDS)

    @staticmethod
    def _ok(**fields: Any) -> dict:
        return {"errcode": 0, "errmsg": "ok", **fields}

    # Members and OAuth -----------------------------------------------------------------------------

    def auth_getuserinfo(self, request: Request, body: dict) -> dict:
        code = request.query.get("code", "")
        with self.state.change() as data:
            entry = data["oauth_codes"].get(code)
            if not code or entry is None or entry["used"] or entry["expires_at"] <= self.state.now():
                raise ApiError(L.INVALID_OAUTH_CODE)
            entry["used"] = True
            return self._ok(userid=entry["userid"])

    def user_get(self, request: Request, body: dict) -> dict:
        associate = self.state.data["associates"].get(request.query.get("userid", ""))
        _require(associate is not None and not associate["resigned"], "", L.INVALID_USERID)
        return self._ok(userid=associate["userid"], name=associate["name"], department=[1], status=1)

    # Media -----------------------------------------------------------------------------------------

    def media_upload(self, request: Request, body: dict) -> dict:
        kind = request.query.get("type", "")
        _require(kind in L.MEDIA_MAX_BYTES, "type must be image, voice, video or file", L.INVALID_TYPE)
        part = request.multipart().get("media")
        _require(part is not None, "multipart field `media` is missing", L.MEDIA_DATA_MISSING)
        content = part.content
        if kind == "image":
            _require(content.startswith((JPEG_MAGIC, PNG_MAGIC)), "images must be JPG or PNG", L.INVALID_MEDIA_TYPE)
        size_error = L.INVALID_IMAGE_SIZE if kind == "image" else L.INVALID_FILE_SIZE
        _require(L.MEDIA_MIN_BYTES <= len(content) <= L.MEDIA_MAX_BYTES[kind], f"{len(content)} bytes", size_error)
        media_id = new_id("3", 64)
        now = int(self.state.now())
        content_type = "image/png" if content.startswith(PNG_MAGIC) else part.content_type
        if content.startswith(JPEG_MAGIC):
            content_type = "image/jpeg"
        with self.state.change() as data:
            data["media"][media_id] = {
                "type": kind,
                "filename": part.filename,
                "content_type": content_type,
                "size": len(content),
                "created_at": now,
            }
        self.state.media_put(media_id, content)
        return self._ok(type=kind, media_id=media_id, created_at=str(now))

    def media_get(self, request: Request, body: dict) -> dict | Response:
        media_id = request.query.get("media_id", "")
        entry = self.media_valid(media_id)
        content = self.state.media_read(media_id)
        _require(entry is not None and content is not None, "", L.INVALID_MEDIA_ID)
        return Response(
            200,
            content,
            [
                ("Content-Type", entry["content_type"]),
                ("Content-Disposition", f'attachment; filename="{entry["filename"] or media_id}"'),
            ],
        )

    def media_valid(self, media_id: Any) -> dict | None:
        """The media entry when `media_id` exists and is younger than three days."""
        entry = self.state.data["media"].get(media_id) if isinstance(media_id, str) else None
        if entry is None or entry["created_at"] + L.MEDIA_TTL_SECONDS <= self.state.now():
            return None
        return entry

    # Customers ------------------------------------------------------------------------------------

    def get_follow_user_list(self, request: Request, body: dict) -> dict:
        associates = self.state.data["associates"].values()
        return self._ok(follow_user=[a["userid"] for a in associates if not a["resigned"]])

    def contact_list(self, request: Request, body: dict) -> dict:
        userid = request.query.get("userid", "")
        with self.state.lock:
            _require(userid in self.state.data["associates"], "", L.INVALID_USERID)
            relations = [r for r in self.state.data["relations"].values() if r["userid"] == userid]
        # WeCom answers 84061 rather than an empty list when the member has no customers.
        _require(bool(relations), "", L.NO_RELATIONSHIP)
        relations.sort(key=lambda r: r["createtime"])
        return self._ok(external_userid=[r["external_userid"] for r in relations])

    def contact_get(self, request: Request, body: dict) -> dict:
        external_userid = request.query.get("external_userid", "")
        _require(_external_userid_ok(external_userid), "", L.INVALID_EXTERNAL_USERID)
        with self.state.lock:
            data = self.state.data
            customer = data["customers"].get(external_userid)
            relations = [r for r in data["relations"].values() if r["external_userid"] == external_userid]
            _require(customer is not None and bool(relations), "", L.NO_RELATIONSHIP)
            relations.sort(key=lambda r: r["createtime"])
            chunk, next_cursor = _page(relations, request.query.get("cursor"), FOLLOW_USER_PAGE)
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
        _require(isinstance(userids, list) and bool(userids), "userid_list is required")
        _require(len(userids) <= L.BATCH_GET_BY_USER_MAX_USERIDS, "field `userid_list` exceed max length")
        limit = _limit(
            body.get("limit"), default=L.BATCH_GET_BY_USER_DEFAULT_LIMIT, maximum=L.BATCH_GET_BY_USER_MAX_LIMIT
        )
        with self.state.lock:
            data = self.state.data
            unknown = [u for u in userids if u not in data["associates"]]
            _require(not unknown, f"unknown userid {unknown[0]!r}" if unknown else "", L.INVALID_USERID)
            order = {userid: index for index, userid in enumerate(userids)}
            relations = sorted(
                (r for r in data["relations"].values() if r["userid"] in order),
                key=lambda r: (order[r["userid"]], r["createtime"], r["external_userid"]),
            )
            chunk, next_cursor = _page(relations, body.get("cursor"), limit)
            items = [
                {
                    "external_contact": self.contact_view(data["customers"][r["external_userid"]]),
                    "follow_info": self.follow_info_view(r),
                }
                for r in chunk
            ]
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

    # Contact me (联系我) ---------------------------------------------------------------------------

    def add_contact_way(self, request: Request, body: dict) -> dict:
        way = self._contact_way_fields(body, creating=True)
        way["config_id"] = secrets.token_hex(16)
        with self.state.change() as data:
            data["contact_ways"][way["config_id"]] = way
        result = self._ok(config_id=way["config_id"])
        if way["scene"] == 2:
            result["qr_code"] = self.qr_url("contact_way", way["config_id"])
        return result

    def get_contact_way(self, request: Request, body: dict) -> dict:
        way = self.state.data["contact_ways"].get(body.get("config_id"))
        _require(way is not None, "invalid config_id")
        view = {key: value for key, value in way.items() if key != "created_at"}
        if way["scene"] == 2:
            view["qr_code"] = self.qr_url("contact_way", way["config_id"])
        return self._ok(contact_way=view)

    def update_contact_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            way = data["contact_ways"].get(body.get("config_id"))
            _require(way is not None, "invalid config_id")
            way.update(self._contact_way_fields({**way, **body}, creating=False))
        return self._ok()

    def del_contact_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            _require(data["contact_ways"].pop(body.get("config_id"), None) is not None, "invalid config_id")
        return self._ok()

    def _contact_way_fields(self, body: dict, *, creating: bool) -> dict:
        kind, scene = body.get("type"), body.get("scene")
        _require(kind in (1, 2), "type must be 1 (single) or 2 (multi)")
        _require(scene in (1, 2), "scene must be 1 (mini program) or 2 (QR code)")
        users = body.get("user") or []
        _require(isinstance(users, list), "user must be a list")
        _require(bool(users) or bool(body.get("party")), "user or party is required")
        _require(kind == 2 or len(users) == 1, "type 1 takes exactly one user")
        unknown = [u for u in users if u not in self.state.data["associates"]]
        _require(not unknown, f"unknown userid {unknown[0]!r}" if unknown else "", L.INVALID_USERID)
        state = body.get("state", "") or ""
        _require(isinstance(state, str) and len(state) <= L.STATE_MAX_CHARS, "state exceeds 30 characters")
        remark = body.get("remark", "") or ""
        _require(len(str(remark)) <= L.CONTACT_WAY_REMARK_MAX_CHARS, "remark exceeds 30 characters")
        fields = {
            "type": kind,
            "scene": scene,
            "style": body.get("style", 1),
            "remark": remark,
            "skip_verify": body.get("skip_verify", True),
            "state": state,
            "user": users,
            "party": body.get("party") or [],
            "is_temp": bool(body.get("is_temp", False)),
        }
        if creating:
            fields["created_at"] = int(self.state.now())
        return fields

    def qr_url(self, kind: str, config_id: str) -> str:
        return f"{self.config.public_url}/qr/{kind}/{config_id}.png"

    # Corp tags --------------------------------------------------------------------------------------

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
        _require(isinstance(names, list) and bool(names), "tag is required")
        _require(all(isinstance(t, dict) and t.get("name") for t in names), "every tag needs a name")
        with self.state.change() as data:
            live = [t for t in data["tags"].values() if not t["deleted"]]
            _require(len(live) + len(names) <= L.CORP_TAG_MAX, f"a corp has at most {L.CORP_TAG_MAX} tags")
            now = int(self.state.now())
            wanted = [t["name"] for t in names]
            _require(len(set(wanted)) == len(wanted), "", L.TAG_NAME_EXISTS)
            if body.get("group_id"):
                group = data["tag_groups"].get(body["group_id"])
                _require(group is not None and not group["deleted"], "", L.INVALID_TAG_ID)
            else:
                _require(bool(body.get("group_name")), "group_id or group_name is required")
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
                _require(not existing & set(wanted), "", L.TAG_NAME_EXISTS)
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
        _require(isinstance(add, list) and isinstance(remove, list), "add_tag and remove_tag must be lists")
        _require(bool(add) or bool(remove), "add_tag or remove_tag is required")
        _require(len(add) <= L.MARK_TAG_MAX and len(remove) <= L.MARK_TAG_MAX, "too many tags")
        with self.state.change() as data:
            _require(userid in data["associates"], "", L.INVALID_USERID)
            _require(_external_userid_ok(external_userid), "", L.INVALID_EXTERNAL_USERID)
            relation = data["relations"].get(relation_key(userid, external_userid))
            _require(relation is not None, "", L.NO_RELATIONSHIP)
            for tag_id in add + remove:
                tag = data["tags"].get(tag_id)
                _require(tag is not None and not tag["deleted"], f"unknown tag {tag_id!r}", L.INVALID_TAG_ID)
            relation["tag_ids"] = [t for t in relation["tag_ids"] if t not in remove]
            relation["tag_ids"] += [t for t in dict.fromkeys(add) if t not in relation["tag_ids"]]
        return self._ok()

    # Mass messages (企业群发) -------------------------------------------------------------------------

    def _check_message(self, text: Any, attachments: Any) -> None:
        _require(text is None or isinstance(text, dict), "text must be an object")
        content = (text or {}).get("content", "") or ""
        _require(
            len(str(content).encode("utf-8")) <= L.MSG_TEMPLATE_MAX_TEXT_BYTES,
            f"text.content exceeds {L.MSG_TEMPLATE_MAX_TEXT_BYTES} bytes",
        )
        _require(isinstance(attachments, list), "attachments must be a list")
        _require(len(attachments) <= L.MSG_TEMPLATE_MAX_ATTACHMENTS, "at most 9 attachments")
        _require(bool(content) or bool(attachments), "text or attachments is required")
        for attachment in attachments:
            msgtype = attachment.get("msgtype") if isinstance(attachment, dict) else None
            _require(msgtype in ("image", "link", "miniprogram", "video", "file"), "invalid attachment msgtype")
            item = attachment.get(msgtype)
            _require(isinstance(item, dict), f"attachment {msgtype} is missing")
            if msgtype == "image":
                _require(bool(item.get("media_id") or item.get("pic_url")), "image needs media_id or pic_url")
                if item.get("media_id"):
                    _require(self.media_valid(item["media_id"]) is not None, "", L.INVALID_MEDIA_ID)
            elif msgtype == "link":
                _require(bool(item.get("title")) and bool(item.get("url")), "link needs title and url")
            elif msgtype == "miniprogram":
                for key in ("title", "pic_media_id", "appid", "page"):
                    _require(bool(item.get(key)), f"miniprogram needs {key}")
                _require(self.media_valid(item["pic_media_id"]) is not None, "", L.INVALID_MEDIA_ID)
            else:
                _require(self.media_valid(item.get("media_id")) is not None, "", L.INVALID_MEDIA_ID)

    def add_msg_template(self, request: Request, body: dict) -> dict:
        chat_type = body.get("chat_type") or "single"
        _require(chat_type in ("single", "group"), "chat_type must be single or group")
        sender = body.get("sender") or ""
        external_userids = body.get("external_userid") or []
        _require(isinstance(external_userids, list), "external_userid must be a list")
        _require(
            len(external_userids) <= L.MSG_TEMPLATE_MAX_RECIPIENTS,
            f"at most {L.MSG_TEMPLATE_MAX_RECIPIENTS} external_userid",
        )
        text, attachments = body.get("text"), body.get("attachments") or []
        self._check_message(text, attachments)
        with self.state.change() as data:
            _require(not sender or sender in data["associates"], "", L.INVALID_USERID)
            targets: dict[str, list[str]] = {}
            fail_list: list[str] = []
            if chat_type == "single":
                _require(bool(sender) or bool(external_userids), "sender or external_userid is required")
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
                _require(bool(sender), "sender is required for chat_type group")
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
        _require(message is not None, "invalid msgid")
        return message

    def get_groupmsg_list_v2(self, request: Request, body: dict) -> dict:
        chat_type = body.get("chat_type")
        _require(chat_type in ("single", "group"), "chat_type must be single or group")
        start, end = body.get("start_time"), body.get("end_time")
        _require(isinstance(start, int) and isinstance(end, int) and start <= end, "start_time and end_time required")
        _require(end - start <= L.GROUPMSG_LIST_MAX_SPAN_SECONDS, "the time range is at most one month")
        filter_type = body.get("filter_type", 2)
        _require(filter_type in (0, 1, 2), "filter_type must be 0, 1 or 2")
        limit = _limit(body.get("limit"), default=L.GROUPMSG_LIST_DEFAULT_LIMIT, maximum=L.GROUPMSG_LIST_MAX_LIMIT)
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
            chunk, next_cursor = _page(messages, body.get("cursor"), limit)
            items = []
            for message in chunk:
                item = {key: message[key] for key in ("msgid", "creator", "create_time", "create_type")}
                if message["text"]:
                    item["text"] = message["text"]
                item["attachments"] = message["attachments"]
                items.append(item)
        return self._ok(next_cursor=next_cursor, group_msg_list=items)

    def get_groupmsg_task(self, request: Request, body: dict) -> dict:
        limit = _limit(body.get("limit"), default=L.GROUPMSG_TASK_DEFAULT_LIMIT, maximum=L.GROUPMSG_TASK_MAX_LIMIT)
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
        chunk, next_cursor = _page(tasks, body.get("cursor"), limit)
        return self._ok(next_cursor=next_cursor, task_list=chunk)

    def get_groupmsg_send_result(self, request: Request, body: dict) -> dict:
        limit = _limit(body.get("limit"), default=L.GROUPMSG_TASK_DEFAULT_LIMIT, maximum=L.GROUPMSG_TASK_MAX_LIMIT)
        userid = body.get("userid")
        _require(bool(userid), "userid is required")
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
        chunk, next_cursor = _page(results, body.get("cursor"), limit)
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
        _require(isinstance(code, str) and bool(code), "welcome_code is required")
        text, attachments = body.get("text"), body.get("attachments") or []
        self._check_message(text, attachments)
        with self.state.change() as data:
            entry = data["welcome_codes"].get(code)
            _require(entry is not None, "invalid welcome_code")
            key = single_chat_key(entry["userid"], entry["external_userid"])
            started = bool(data["transcripts"].get(key))
            # Used, expired, or the chat has already begun: WeCom answers 41051 and never sends.
            _require(
                not entry["used"] and entry["expires_at"] > self.state.now() and not started, "", L.WELCOME_ALREADY_SENT
            )
            _require(
                relation_key(entry["userid"], entry["external_userid"]) in data["relations"], "", L.NO_RELATIONSHIP
            )
            entry["used"] = True
        for msgtype, part in message_parts(text, attachments):
            self.world.chat_message(
                key=key, sender=entry["userid"], sender_type="associate", kind="welcome", msgtype=msgtype, body=part
            )
        return self._ok()

    # Customer groups -------------------------------------------------------------------------------

    def groupchat_list(self, request: Request, body: dict) -> dict:
        status_filter = body.get("status_filter", 0)
        _require(status_filter in (0, 1, 2, 3), "status_filter must be 0 to 3")
        limit = body.get("limit")
        _require(isinstance(limit, int) and 1 <= limit <= L.GROUPCHAT_LIST_MAX_LIMIT, "limit must be 1 to 1000")
        owners = (body.get("owner_filter") or {}).get("userid_list") or []
        _require(len(owners) <= L.GROUPCHAT_OWNER_FILTER_MAX, "owner_filter takes at most 100 userids")
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
        chunk, next_cursor = _page(chats, body.get("cursor"), limit)
        result = self._ok(group_chat_list=chunk)
        if next_cursor:
            result["next_cursor"] = next_cursor
        return result

    def groupchat_get(self, request: Request, body: dict) -> dict:
        with self.state.lock:
            chat = self.state.data["group_chats"].get(body.get("chat_id"))
            _require(chat is not None and not chat["dismissed"], "", L.INVALID_CHAT_ID)
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
        _require(way is not None, "invalid config_id")
        view = dict(way, chat_id_list=list(way["chat_id_list"]))
        if way["scene"] == 2:
            view["qr_code"] = self.qr_url("join_way", way["config_id"])
        return self._ok(join_way=view)

    def update_join_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            way = data["join_ways"].get(body.get("config_id"))
            _require(way is not None, "invalid config_id")
            way.update(self._join_way_fields(body))
        return self._ok()

    def del_join_way(self, request: Request, body: dict) -> dict:
        with self.state.change() as data:
            _require(data["join_ways"].pop(body.get("config_id"), None) is not None, "invalid config_id")
        return self._ok()

    def _join_way_fields(self, body: dict) -> dict:
        _require(body.get("scene") in (1, 2), "scene must be 1 (mini program) or 2 (QR code)")
        chat_ids = body.get("chat_id_list") or []
        _require(isinstance(chat_ids, list) and bool(chat_ids), "chat_id_list is required")
        _require(len(chat_ids) <= L.JOIN_WAY_MAX_CHAT_IDS, f"chat_id_list takes at most {L.JOIN_WAY_MAX_CHAT_IDS}")
        for chat_id in chat_ids:
            chat = self.state.data["group_chats"].get(chat_id)
            _require(chat is not None and not chat["dismissed"], f"unknown chat {chat_id!r}", L.INVALID_CHAT_ID)
        state = body.get("state", "") or ""
        _require(isinstance(state, str) and len(state) <= L.STATE_MAX_CHARS, "state exceeds 30 characters")
        auto_create = body.get("auto_create_room", 1)
        _require(auto_create in (0, 1), "auto_create_room must be 0 or 1")
        if auto_create:
            _require(bool(body.get("room_base_name")), "room_base_name is required when auto_create_room is 1")
        return {
            "scene": body["scene"],
            "remark": body.get("remark", "") or "",
            "auto_create_room": auto_create,
            "room_base_name": body.get("room_base_name", "") or "",
            "room_base_id": int(body.get("room_base_id") or 1),
            "chat_id_list": list(chat_ids),
            "state": state,
        }

    # Customer transfer (在职继承 / 离职继承), minimal ------------------------------------------------

    def transfer_customer_onjob(self, request: Request, body: dict) -> dict:
        return self._transfer(body, kind="onjob")

    def transfer_customer_resigned(self, request: Request, body: dict) -> dict:
        return self._transfer(body, kind="resigned")

    def _transfer(self, body: dict, *, kind: str) -> dict:
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        external_userids = body.get("external_userid") or []
        _require(isinstance(external_userids, list) and bool(external_userids), "external_userid is required")
        _require(len(external_userids) <= L.TRANSFER_MAX_CUSTOMERS, "at most 100 external_userid")
        message = body.get("transfer_success_msg", "") or ""
        _require(len(message) <= L.TRANSFER_SUCCESS_MSG_MAX_CHARS, "transfer_success_msg exceeds 200 characters")
        results = []
        with self.state.change() as data:
            for userid in (handover, takeover):
                _require(userid in data["associates"], "", L.INVALID_USERID)
            _require(handover != takeover, "handover and takeover must differ")
            resigned = data["associates"][handover]["resigned"]
            _require(resigned == (kind == "resigned"), "the handover member's status does not fit this API")
            for external_userid in external_userids:
                if not _external_userid_ok(external_userid):
                    errcode = L.INVALID_EXTERNAL_USERID
                elif relation_key(handover, external_userid) not in data["relations"]:
                    errcode = L.NO_RELATIONSHIP
                else:
                    errcode = 0
                    data["transfers"].append(
                        {
                            "kind": kind,
                            "handover_userid": handover,
                            "takeover_userid": takeover,
                            "external_userid": external_userid,
                            "status": TRANSFER_WAITING,
                            "takeover_time": 0,
                            "created_at": int(self.state.now()),
                        }
                    )
                results.append({"external_userid": external_userid, "errcode": errcode})
        outcome = self.state.faults.transfer_outcome
        if outcome:
            for result in results:
                if result["errcode"] == 0:
                    self.world.transfer_resolve(
                        handover_userid=handover, external_userid=result["external_userid"], outcome=outcome
                    )
        return self._ok(customer=results)

    def transfer_result_onjob(self, request: Request, body: dict) -> dict:
        return self._transfer_result(body, kind="onjob")

    def transfer_result_resigned(self, request: Request, body: dict) -> dict:
        return self._transfer_result(body, kind="resigned")

    def _transfer_result(self, body: dict, *, kind: str) -> dict:
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        _require(bool(handover) and bool(takeover), "handover_userid and takeover_userid are required")
        with self.state.lock:
            latest: dict[str, dict] = {}
            for transfer in self.state.data["transfers"]:
                if (transfer["kind"], transfer["handover_userid"], transfer["takeover_userid"]) == (
                    kind,
                    handover,
                    takeover,
                ):
                    latest[transfer["external_userid"]] = transfer
            items = [
                {"external_userid": t["external_userid"], "status": t["status"], "takeover_time": t["takeover_time"]}
                for t in latest.values()
            ]
        chunk, next_cursor = _page(items, body.get("cursor"), 1000)
        return self._ok(customer=chunk, next_cursor=next_cursor)
