"""WeComApi: the /cgi-bin/ routing table, from WeCom's path to the handler of its family (the modules beside this
one), and the gate every call goes through, as on WeCom: injected latency, the per-API per-minute and per-hour
limits (45009, then blocked for a minute or an hour), injected 45009 / -1 faults, then the access_token check (41001
missing, 40014 unknown, 42001 expired). Then the handler reads or changes the state, and the call is written to the
call log without its secrets. Answers are always HTTP 200 with errcode/errmsg."""

import email.utils
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from wecom.emulator import limits as L
from wecom.emulator.api.acquisition import AcquisitionLinksApi
from wecom.emulator.api.agent import AgentApi
from wecom.emulator.api.app_messages import AppMessagesApi
from wecom.emulator.api.base import ApiError
from wecom.emulator.api.contact_ways import ContactWaysApi
from wecom.emulator.api.customers import CustomersApi
from wecom.emulator.api.group_chats import GroupChatsApi
from wecom.emulator.api.media import MediaApi
from wecom.emulator.api.members import MembersApi
from wecom.emulator.api.messages import MessagesApi
from wecom.emulator.api.tags import CorpTagsApi
from wecom.emulator.api.tokens import TokensApi
from wecom.emulator.api.transfers import TransfersApi
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.state import EmulatorState
from wecom.emulator.web import Request, Response, json_response
from wecom.emulator.world import World, WorldError

# The name the API logged under before it was a package, kept for log readers.
logger = logging.getLogger("wecom.emulator.api")
SECRET_PARAMS = ("access_token", "corpsecret")
LOGGED_BODY_MAX_CHARS = 4000


class WeComApi(
    TokensApi,
    AgentApi,
    MembersApi,
    MediaApi,
    CustomersApi,
    ContactWaysApi,
    CorpTagsApi,
    MessagesApi,
    GroupChatsApi,
    TransfersApi,
    AppMessagesApi,
    AcquisitionLinksApi,
):
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
            "get_api_domain_ip": (self.get_api_domain_ip, True, False),
            "agent/get": (self.agent_get, True, False),
            "department/simplelist": (self.department_simplelist, True, False),
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
            "message/send": (self.message_send, True, True),
            "externalcontact/customer_acquisition/create_link": (self.create_link, True, True),
            "externalcontact/customer_acquisition/update_link": (self.update_link, True, True),
            "externalcontact/customer_acquisition/delete_link": (self.delete_link, True, True),
            "externalcontact/customer_acquisition/get": (self.get_link, True, True),
            "externalcontact/customer_acquisition/list_link": (self.list_link, True, True),
            "externalcontact/customer_acquisition/customer": (self.link_customers, True, True),
            "externalcontact/customer_acquisition/statistic": (self.link_statistic, True, True),
            "externalcontact/customer_acquisition_quota": (self.acquisition_quota, True, False),
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
                self._check_admin(request, api)
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
        response = result if isinstance(result, Response) else json_response(result)
        # WeCom's clock as its answers carry it: Omni's `wecom_check` compares it with its own.
        response.headers.append(("Date", email.utils.formatdate(self.state.now(), usegmt=True)))
        return response

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
            hour = (api, int(now // 3600))
            self.state.hour_counts[hour] = self.state.hour_counts.get(hour, 0) + 1
            for old in [k for k in self.state.hour_counts if k[1] < hour[1]]:
                del self.state.hour_counts[old]
            if self.state.hour_counts[hour] > self.state.faults.per_hour_limit:
                self.state.blocked_until[api] = now + L.RATE_LIMIT_HOUR_BLOCK_SECONDS
                raise ApiError(L.FREQUENCY_LIMIT, f"more than {self.state.faults.per_hour_limit} calls this hour")
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

    def _check_admin(self, request: Request, api: str) -> None:
        """What the corp's admin console allows: the caller's address (企业可信IP), then the customer-contact APIs
        (the app must be one of 客户联系's 可调用接口的应用)."""
        admin = self.state.admin
        if admin.ip_allowlist and request.remote_addr not in admin.ip_allowlist:
            raise ApiError(L.IP_NOT_ALLOWED)
        if api.startswith("externalcontact/") and not admin.contact_api:
            raise ApiError(L.API_FORBIDDEN)

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
