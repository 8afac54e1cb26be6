"""The WeCom API client: wechatpy's work client, with the token, retry and rate-limit policy Omni needs.

- One place builds it from settings: `wecom_client()`. The API base URL is a setting, so the same client
  talks to WeCom or to the local emulator.
- The access token and the JS-SDK tickets live in Django's cache (Redis in production) under keys that
  include the corp, the app and a digest of the secret, and are refreshed before expiry under a cache
  lock, so many workers make one gettoken call, not many. With Redis down each process keeps its own copy
  (one fetch per process, not per call; WeCom answers a repeated fetch with the same token while it is valid).
- 40014 / 42001 / 41001: refetch the token and retry once. 45009 / 45033 / -1, timeouts, connection
  errors and HTTP 5xx: bounded retries with exponential backoff and jitter. Anything else: WeComError
  with errcode and errmsg, never retried. wechatpy's own (unbounded) auto-retry is off.
"""

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from omni.locks import LockUnavailable, counter_incr, lock_release, lock_take
from omni.metrics import wecom_api_called
from wecom import constants as C

logger = logging.getLogger(__name__)

# Tokens and tickets this process fetched while the shared cache was unreachable: key -> (value, monotonic expiry).
_local_values: dict[str, tuple[str, float]] = {}
# Reentrant: a ticket's fetch asks for the access token, kept here too, from inside the ticket's fetch.
_local_values_lock = threading.RLock()


class WeComError(Exception):
    """WeCom answered with an error (or could not be reached after the allowed retries)."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"WeCom error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def transient(self) -> bool:
        """True when a later attempt may succeed (rate limits, busy, network)."""
        return self.errcode is None or self.errcode in C.TRANSIENT_ERRORS


class WeComBudgetExhausted(WeComError):
    """Omni's hourly budget for this API is spent: refused before calling WeCom; try again in `retry_in` seconds."""

    def __init__(self, endpoint: str, *, retry_in: float):
        super().__init__(C.ERR_FREQUENCY_LIMIT, f"hourly budget for {endpoint} spent; next hour in {retry_in:.0f}s")
        self.retry_in = retry_in


class WeComClient(WeChatClient):
    def __init__(
        self,
        *,
        corp_id: str,
        agent_id: str,
        secret: str,
        api_base: str,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        rate_limit_per_minute: int = C.RATE_LIMIT_PER_MINUTE,
        rate_limit_per_hour: int = C.RATE_LIMIT_PER_HOUR,
    ):
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = api_base if api_base.endswith("/") else f"{api_base}/"
        self.agent_id = str(agent_id)
        self.max_retries = max_retries
        self.backoff = backoff
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rate_limit_per_hour = rate_limit_per_hour
        secret_digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
        self.cache_prefix = f"wecom:{corp_id}:{self.agent_id}:{secret_digest}"

    # Tokens and tickets ------------------------------------------------------------------------

    @property
    def access_token(self) -> str:
        return self._cached(
            "access_token", lambda: self._plain_get("gettoken", corpid=self.corp_id, corpsecret=self.secret)
        )

    def fetch_access_token(self) -> dict:
        """Fetch a new token now (wechatpy's version would call the real WeCom host, not API_BASE_URL)."""
        cache.delete(self._key("access_token"))
        with _local_values_lock:
            _local_values.pop(self._key("access_token"), None)
        return {"access_token": self.access_token}

    def jsapi_ticket(self) -> str:
        """The corp's jsapi_ticket for wx.config."""
        return self._cached("jsapi_ticket", lambda: self.get("get_jsapi_ticket"), field="ticket")

    def agent_ticket(self) -> str:
        """The app's ticket for wx.agentConfig."""
        return self._cached(
            "agent_ticket", lambda: self.get("ticket/get", params={"type": "agent_config"}), field="ticket"
        )

    def _key(self, name: str) -> str:
        return f"{self.cache_prefix}:{name}"

    def _cached(self, name: str, fetch: Callable[[], dict], field: str = "access_token") -> str:
        key = self._key(name)
        value = cache.get(key)
        if value:
            return value
        lock = f"{key}:lock"
        deadline = time.monotonic() + 15
        while True:
            try:
                taken = lock_take(lock, timeout=30)
            except LockUnavailable:
                return self._cached_locally(key, fetch, field)
            if taken:
                try:
                    value = cache.get(key)
                    if value:
                        return value
                    value, expires_in = self._fetch_value(fetch, field)
                    cache.set(key, value, timeout=expires_in)
                    return value
                finally:
                    try:
                        lock_release(lock)
                    except LockUnavailable:
                        logger.warning("Could not release %s; it expires by itself", lock)
            time.sleep(0.05)
            value = cache.get(key)
            if value:
                return value
            if time.monotonic() > deadline:
                raise WeComError(None, f"timed out waiting for another worker to refresh {name}")

    @staticmethod
    def _fetch_value(fetch: Callable[[], dict], field: str) -> tuple[str, int]:
        """The value and the seconds to keep it (refreshed a margin before WeCom lets it expire)."""
        result = fetch()
        expires_in = int(result.get("expires_in", C.TOKEN_TTL_SECONDS))
        return result[field], max(expires_in - C.TOKEN_REFRESH_MARGIN_SECONDS, 30)

    def _cached_locally(self, key: str, fetch: Callable[[], dict], field: str) -> str:
        """The shared cache is down: one fetch per process (under a process lock) instead of one per call."""
        with _local_values_lock:
            kept = _local_values.get(key)
            if kept and kept[1] > time.monotonic():
                return kept[0]
            logger.warning("Shared cache unreachable; fetching %s for this process only", key)
            value, expires_in = self._fetch_value(fetch, field)
            _local_values[key] = (value, time.monotonic() + expires_in)
            return value

    def _forget(self, name: str, value: str) -> None:
        # Only drop the value that failed: another worker may already have cached a fresh one.
        key = self._key(name)
        if cache.get(key) == value:
            cache.delete(key)
        with _local_values_lock:
            if _local_values.get(key, ("",))[0] == value:
                del _local_values[key]

    # Requests ----------------------------------------------------------------------------------

    def _plain_get(self, endpoint: str, **params: Any) -> dict:
        """A call without access_token (gettoken), with the same transient-error policy."""
        return self._with_retries(
            endpoint,
            lambda: self._decode(self._http.get(f"{self.API_BASE_URL}{endpoint}", params=params, timeout=self.timeout)),
        )

    @staticmethod
    def _decode(response: requests.Response) -> dict:
        if response.status_code >= 500:
            raise WeComError(None, f"HTTP {response.status_code}")
        try:
            result = response.json()
        except ValueError as exc:
            raise WeComError(None, f"not JSON (HTTP {response.status_code})") from exc
        errcode = int(result.get("errcode", 0) or 0)
        if errcode:
            raise WeComError(errcode, result.get("errmsg", ""))
        return result

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        refreshed = False

        def attempt() -> Any:
            nonlocal refreshed
            call = dict(kwargs)
            params = dict(call.get("params") or {})
            token = self.access_token
            params["access_token"] = token
            call["params"] = params
            try:
                return super(WeComClient, self)._request(method, url_or_endpoint, **call)
            except WeChatClientException as exc:
                status = getattr(exc.response, "status_code", None)
                if exc.errcode is None and status is not None and status < 500:
                    raise WeComError(None, f"HTTP {status}") from exc
                if exc.errcode in C.TOKEN_ERRORS and not refreshed:
                    wecom_api_called(endpoint=self._endpoint_name(url_or_endpoint), errcode=exc.errcode)
                    refreshed = True
                    self._forget("access_token", token)
                    logger.info("WeCom token rejected (%s); refetching once", exc.errcode)
                    return attempt()
                raise WeComError(exc.errcode, str(exc.errmsg or f"HTTP {status}")) from exc

        return self._with_retries(url_or_endpoint, attempt)

    def _with_retries(self, endpoint: str, call: Callable[[], Any]) -> Any:
        # Every answer is counted here, retried or not, so the metrics show what WeCom said, attempt by attempt.
        name = self._endpoint_name(endpoint)
        for retry in range(self.max_retries + 1):
            self._throttle(name)
            try:
                result = call()
            except requests.RequestException as exc:
                wecom_api_called(endpoint=name, errcode="network")
                error = WeComError(None, f"{exc.__class__.__name__}: {exc}")
            except WeComError as exc:
                wecom_api_called(endpoint=name, errcode="http_error" if exc.errcode is None else exc.errcode)
                if not exc.transient:
                    raise
                error = exc
            else:
                wecom_api_called(endpoint=name, errcode=0)
                return result
            if retry == self.max_retries:
                raise error
            pause = min(self.backoff * 2**retry, 30) * (0.5 + random.random())
            logger.warning("WeCom %s failed (%s); retry %d in %.2fs", endpoint, error.errcode, retry + 1, pause)
            time.sleep(pause)
        raise AssertionError("unreachable")

    def _endpoint_name(self, endpoint: str) -> str:
        """The API's path ("externalcontact/get"): a bounded label, without the base URL and query."""
        return endpoint.split("?", 1)[0].removeprefix(self.API_BASE_URL)

    def _throttle(self, name: str) -> None:
        """Stay under WeCom's per-API limits across all workers (cache counters per minute and per hour).

        Past the minute's budget the call waits for the next minute; past the hour's it is refused here with
        WeComBudgetExhausted (transient, with the seconds to the next hour), since WeCom would block the API for an
        hour and no worker should sleep that long. With the counters unreachable the call goes ahead uncounted: the
        budget keeps room for the corp's other tools, and WeCom's own limit still holds (its 45009 / 45033 are
        retried with backoff like any busy answer).
        """
        while True:
            now = time.time()
            minute, hour = int(now // 60), int(now // 3600)
            try:
                hourly = counter_incr(f"{self.cache_prefix}:rate:{name}:h{hour}", timeout=7200)
                if hourly > self.rate_limit_per_hour:
                    raise WeComBudgetExhausted(name, retry_in=(hour + 1) * 3600 - now)
                used = counter_incr(f"{self.cache_prefix}:rate:{name}:{minute}", timeout=120)
            except LockUnavailable:
                logger.warning("Rate counters unreachable; calling WeCom %s uncounted", name)
                return
            if used <= self.rate_limit_per_minute:
                return
            time.sleep(max(0.05, (minute + 1) * 60 - time.time()))

    # What wechatpy does not wrap (or wraps wrongly) ---------------------------------------------

    def batch_get_by_user(self, *, userid_list: list[str], cursor: str = "", limit: int = 100) -> dict:
        if not 0 < len(userid_list) <= C.BATCH_GET_BY_USER_MAX_USERIDS:
            raise ValueError(f"userid_list takes 1 to {C.BATCH_GET_BY_USER_MAX_USERIDS} userids")
        data = {"userid_list": userid_list, "cursor": cursor, "limit": min(limit, C.BATCH_GET_BY_USER_MAX_LIMIT)}
        return self.post("externalcontact/batch/get_by_user", data=data)

    def groupmsg_list_v2(self, **data: Any) -> dict:
        return self.post("externalcontact/get_groupmsg_list_v2", data=data)

    def groupmsg_task(self, *, msgid: str, limit: int = 1000, cursor: str = "") -> dict:
        return self.post("externalcontact/get_groupmsg_task", data={"msgid": msgid, "limit": limit, "cursor": cursor})

    def groupmsg_send_result(self, *, msgid: str, userid: str, limit: int = 1000, cursor: str = "") -> dict:
        data = {"msgid": msgid, "userid": userid, "limit": limit, "cursor": cursor}
        return self.post("externalcontact/get_groupmsg_send_result", data=data)

    def groupmsg_remind(self, *, msgid: str) -> dict:
        return self.post("externalcontact/remind_groupmsg_send", data={"msgid": msgid})

    def groupmsg_cancel(self, *, msgid: str, userid_list: list[str] | None = None) -> dict:
        data: dict[str, Any] = {"msgid": msgid}
        if userid_list:
            data["userid_list"] = userid_list
        return self.post("externalcontact/cancel_groupmsg_send", data=data)

    def join_way_add(self, **data: Any) -> dict:
        return self.post("externalcontact/groupchat/add_join_way", data=data)

    def join_way_get(self, *, config_id: str) -> dict:
        return self.post("externalcontact/groupchat/get_join_way", data={"config_id": config_id})

    def join_way_update(self, **data: Any) -> dict:
        return self.post("externalcontact/groupchat/update_join_way", data=data)

    def join_way_del(self, *, config_id: str) -> dict:
        return self.post("externalcontact/groupchat/del_join_way", data={"config_id": config_id})

    def auth_getuserinfo(self, *, code: str) -> dict:
        """OAuth code → {userid} for members (or openid for non-members)."""
        return self.get("auth/getuserinfo", params={"code": code})

    def send_welcome_msg(self, **data: Any) -> dict:
        return self.post("externalcontact/send_welcome_msg", data=data)

    def groupchat_list(
        self, *, cursor: str = "", limit: int = C.GROUPCHAT_LIST_MAX_LIMIT, status_filter: int = 0
    ) -> dict:
        data = {"status_filter": status_filter, "cursor": cursor, "limit": min(limit, C.GROUPCHAT_LIST_MAX_LIMIT)}
        return self.post("externalcontact/groupchat/list", data=data)

    def groupchat_get(self, *, chat_id: str) -> dict:
        return self.post("externalcontact/groupchat/get", data={"chat_id": chat_id, "need_name": 1})

    def media_upload_image(self, *, content: bytes, filename: str) -> dict:
        """media/upload?type=image → {media_id, created_at}; the media_id is valid for three days."""
        content_type = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
        return self.post("media/upload", params={"type": "image"}, files={"media": (filename, content, content_type)})

    def media_upload_file(
        self, *, content: bytes, filename: str, content_type: str = "application/octet-stream"
    ) -> dict:
        """media/upload?type=file (≤20 MB) → {media_id, created_at}; the media_id is valid for three days."""
        return self.post("media/upload", params={"type": "file"}, files={"media": (filename, content, content_type)})

    def transfer_customer(
        self, *, resigned: bool, handover_userid: str, takeover_userid: str, external_userid: list[str], msg: str = ""
    ) -> dict:
        """在职继承 (Doc 92125) or 离职继承 (Doc 94081): ≤100 customers a call; answers per-customer errcodes."""
        data: dict[str, Any] = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": external_userid,
        }
        if msg and not resigned:
            data["transfer_success_msg"] = msg
        prefix = "externalcontact/resigned/" if resigned else "externalcontact/"
        return self.post(prefix + "transfer_customer", data=data)

    def transfer_result(self, *, resigned: bool, handover_userid: str, takeover_userid: str, cursor: str = "") -> dict:
        data = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        prefix = "externalcontact/resigned/" if resigned else "externalcontact/"
        return self.post(prefix + "transfer_result", data=data)


def wecom_client(**overrides: Any) -> WeComClient:
    """The WeCom client for Omni's app, from settings; `overrides` replace settings' values (a short timeout)."""
    options = {
        "corp_id": settings.WECOM_CORP_ID,
        "agent_id": settings.WECOM_AGENT_ID,
        "secret": settings.WECOM_SECRET,
        "api_base": settings.WECOM_API_BASE,
        "timeout": settings.WECOM_TIMEOUT,
        "max_retries": settings.WECOM_MAX_RETRIES,
        "backoff": settings.WECOM_RETRY_BACKOFF,
        "rate_limit_per_minute": settings.WECOM_RATE_LIMIT_PER_MINUTE,
        "rate_limit_per_hour": settings.WECOM_RATE_LIMIT_PER_HOUR,
    }
    return WeComClient(**{**options, **overrides})
