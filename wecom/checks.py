"""Is Omni connected to WeCom? One check per piece an operator sets up in WeCom's admin console, each tried against
WeCom itself (or the local emulator, which refuses each fault as WeCom does), for `manage.py wecom_check` and the
admin page 企业微信接入检查.

Each check returns one line: ok, warn (works, but look), or fail (broken), with what is wrong and where in WeCom's
console (or Omni's settings) to fix it. The checks that need an API call are skipped (warn) once an earlier one has
shown no call can succeed: no settings, no token, a refused address.

This module holds the checks about the app itself (settings, token, trusted IP, callback URL, JS-SDK, clock). Checks
that need the stores and associates (the visible range, the customer-contact permission) are registered by the app
that keeps them, from its `AppConfig.ready()`, with `@wecom_check(...)`, as callback handlers register with
`wecom.events.handles`.
"""

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.urls import reverse

from wecom import constants as C
from wecom.client import WeComClient, WeComError, wecom_client
from wecom.services import callback_crypto

logger = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
# The paths of WeCom's admin console (管理后台, work.weixin.qq.com/wework_admin) an operator is sent to.
CONSOLE_APP = "管理后台 → 应用管理 → 应用 → 自建 → 本应用"
CONSOLE_CONTACT = "管理后台 → 客户与上下游 → 客户联系"
# A check's own calls: one retry, a short timeout, so that a start-up check does not hold the server for a minute.
CHECK_TIMEOUT_SECONDS = 5.0
# How many names a line lists before "等 N 个".
LISTED_NAMES = 8


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable, e.g. "token", "ip"
    title: str  # what is checked, in the console's words
    status: str  # ok | warn | fail
    message: str

    @property
    def line(self) -> str:
        return f"{self.status.upper():<4}  {self.name:<16} {self.title}：{self.message}"


class Verdict(NamedTuple):
    """What a check found; the registry adds the check's name and title (CheckResult)."""

    status: str  # ok | warn | fail
    message: str


@dataclass
class CheckContext:
    """What the checks share: the client, the app as agent/get describes it, and why API checks cannot run."""

    client: WeComClient
    agent: dict | None = None
    blocked: str = ""  # set once no API call can succeed; later API checks are skipped with this reason
    cache: dict[str, Any] = field(default_factory=dict)


Check = Callable[[CheckContext], Verdict]


@dataclass(frozen=True)
class _Registered:
    order: int
    name: str
    title: str
    needs_api: bool
    check: Check


_checks: dict[str, _Registered] = {}


def wecom_check(name: str, *, title: str, order: int, needs_api: bool = True) -> Callable[[Check], Check]:
    """Register `check` as `name`, run in `order`; `needs_api`: skipped when no API call can succeed."""

    def register(check: Check) -> Check:
        _checks[name] = _Registered(order=order, name=name, title=title, needs_api=needs_api, check=check)
        return check

    return register


def wecom_checks_run(*, skip: frozenset[str] = frozenset()) -> list[CheckResult]:
    """Run every registered check (but those named in `skip`) in order; one result each."""
    context = CheckContext(client=check_client())
    results = []
    for registered in sorted(_checks.values(), key=lambda r: r.order):
        if registered.name in skip:
            continue
        if registered.needs_api and context.blocked:
            verdict = Verdict(WARN, f"未检查：{context.blocked}")
        else:
            try:
                verdict = registered.check(context)
            except Exception as exc:  # one broken check must not hide the others' lines
                logger.exception("WeCom check %s crashed", registered.name)
                verdict = Verdict(FAIL, f"检查本身出错：{exc.__class__.__name__}: {exc}")
        results.append(CheckResult(registered.name, registered.title, *verdict))
    return results


def wecom_check_names() -> list[str]:
    return [r.name for r in sorted(_checks.values(), key=lambda r: r.order)]


def check_client() -> WeComClient:
    """The WeCom client from settings, with one retry and a short timeout."""
    return wecom_client(
        timeout=min(settings.WECOM_TIMEOUT, CHECK_TIMEOUT_SECONDS),
        max_retries=1,
        backoff=min(settings.WECOM_RETRY_BACKOFF, 0.5),
    )


def names_listed(names: list[str]) -> str:
    """「a、b、c 等 12 个」: the first few of a long list."""
    shown = "、".join(names[:LISTED_NAMES])
    return f"{shown} 等 {len(names)} 个" if len(names) > LISTED_NAMES else shown


def _unreachable(error: WeComError) -> str:
    return (
        f"连不上企业微信 API（{settings.WECOM_API_BASE}）：{error.errmsg}；检查本机出网、代理与 DNS，及 WECOM_API_BASE"
    )


# The checks about the app ------------------------------------------------------------------------------------------

SETTINGS_HINTS = {
    "WECOM_CORP_ID": "管理后台 → 我的企业 → 企业信息 → 企业ID",
    "WECOM_AGENT_ID": f"{CONSOLE_APP} → AgentId",
    "WECOM_SECRET": f"{CONSOLE_APP} → Secret（点「查看」，发到管理员的企业微信）",
    "WECOM_TOKEN": f"{CONSOLE_APP} → 接收消息 → 设置API接收 → Token",
    "WECOM_ENCODING_AES_KEY": f"{CONSOLE_APP} → 接收消息 → 设置API接收 → EncodingAESKey",
}


@wecom_check("settings", title="企业微信配置", order=10, needs_api=False)
def settings_check(context: CheckContext) -> Verdict:
    missing = [name for name in SETTINGS_HINTS if not str(getattr(settings, name) or "").strip()]
    if missing:
        context.blocked = "企业微信配置不全"
        where = "；".join(f"{name} 见 {SETTINGS_HINTS[name]}" for name in missing)
        return Verdict(FAIL, f"未设置 {', '.join(missing)}（环境变量）：{where}")
    try:
        callback_crypto().key  # noqa: B018 - a malformed key fails here, not at WeCom's first callback
    except ValueError:
        return Verdict(
            FAIL,
            "WECOM_ENCODING_AES_KEY 应为 43 个字符（一个 32 字节的密钥）："
            f"照抄 {SETTINGS_HINTS['WECOM_ENCODING_AES_KEY']}",
        )
    return Verdict(
        OK,
        f"企业 {settings.WECOM_CORP_ID} · 应用 {settings.WECOM_AGENT_ID} · API {settings.WECOM_API_BASE}",
    )


@wecom_check("token", title="Secret 与 access_token", order=20)
def token_check(context: CheckContext) -> Verdict:
    # The only secret Omni uses is the self-built app's: since 2023-12 new corps cannot call the customer-contact
    # APIs with 客户联系's own secret, so the app must be one of its 可调用接口的应用 (the customer_contact check).
    try:
        context.client.fetch_access_token()
    except WeComError as error:
        context.blocked = "取不到 access_token"
        if error.errcode == C.ERR_INVALID_CORPID:
            message = (
                f"企业ID WECOM_CORP_ID={settings.WECOM_CORP_ID} 不对（40013）："
                f"以 {SETTINGS_HINTS['WECOM_CORP_ID']} 为准"
            )
        elif error.errcode == C.ERR_INVALID_CREDENTIAL:
            message = (
                f"自建应用的 Secret（WECOM_SECRET）不对（40001）：到 {SETTINGS_HINTS['WECOM_SECRET']}；"
                "重置过 Secret 的，旧的已失效，换成新的"
            )
        elif error.errcode is None:
            message = _unreachable(error)
        else:
            message = f"gettoken 失败（{error.errcode}）：{error.errmsg}"
        return Verdict(FAIL, message)
    return Verdict(OK, "自建应用的 Secret 取得了 access_token")


@wecom_check("ip", title="企业可信IP", order=30)
def ip_check(context: CheckContext) -> Verdict:
    try:
        context.agent = context.client.get("agent/get", params={"agentid": settings.WECOM_AGENT_ID})
    except WeComError as error:
        if error.errcode == C.ERR_IP_NOT_ALLOWED:
            context.blocked = "本机 IP 不在企业可信IP中"
            found = re.search(r"from ip: ([0-9a-fA-F.:]+)", error.errmsg)
            address = found.group(1) if found else "（见企业微信返回的 from ip）"
            return Verdict(
                FAIL,
                f"企业微信拒绝了来自 {address} 的调用（60020）：到 {CONSOLE_APP} → 开发者接口 → 企业可信IP → 配置，"
                f"加入 {address}（多台服务器或 NAT 时，加入每个出口 IP）",
            )
        if error.errcode == C.ERR_INVALID_AGENTID:
            context.blocked = "WECOM_AGENT_ID 不对"
            return Verdict(
                FAIL,
                f"WECOM_AGENT_ID={settings.WECOM_AGENT_ID} 不是本应用（40056）：以 {CONSOLE_APP} → AgentId 为准",
            )
        if error.errcode is None:
            context.blocked = "连不上企业微信 API"
            return Verdict(FAIL, _unreachable(error))
        return Verdict(FAIL, f"agent/get 失败（{error.errcode}）：{error.errmsg}")
    return Verdict(OK, f"本机可以调用企业微信 API（应用「{context.agent.get('name', '')}」）")


@wecom_check("callback", title="回调URL", order=40, needs_api=False)
def callback_check(context: CheckContext) -> Verdict:
    url = settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("wecom-callback")
    where = f"{CONSOLE_APP} → 接收消息 → 设置API接收"
    if settings.WECOM_EMULATOR_URL:
        return _callback_by_emulator(url, where)
    # WeCom has no API that repeats its check: Omni makes the same signed GET to its own public URL, which shows the
    # URL reachable from here and the endpoint answering with these settings. That WeCom's copy of the token and key
    # match only WeCom can tell, when the admin saves the URL.
    crypto = callback_crypto()
    echo = secrets.token_hex(10)
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    echostr, signature = crypto.encrypt(echo, nonce=nonce, timestamp=timestamp)
    params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
    started = time.monotonic()
    try:
        response = requests.get(url, params=params, timeout=CHECK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return Verdict(
            FAIL,
            f"{url} 不通（{exc.__class__.__name__}）：检查 OMNI_PUBLIC_URL、DNS、证书与负载均衡；"
            "企业微信从公网访问这个地址",
        )
    elapsed_ms = round((time.monotonic() - started) * 1000)
    verified = {"ok": response.status_code == 200 and response.text.strip() == echo, "elapsed_ms": elapsed_ms}
    verified.update(http_status=response.status_code, answer=response.text.strip()[:100])
    result = _callback_answer(url, where, verified)
    if result.status == OK:
        message = (
            f"{result.message}；企业微信后台填写的 URL 须是 {url}，Token 与 EncodingAESKey 须与 WECOM_TOKEN、"
            f"WECOM_ENCODING_AES_KEY 一致（{where}，保存时企业微信会发同样的校验请求）"
        )
        return Verdict(OK, message)
    return result


def _callback_by_emulator(url: str, where: str) -> Verdict:
    """The local emulator plays WeCom: asked to, it sends the echo request signed with its (WeCom's) token and key."""
    base = settings.WECOM_EMULATOR_URL.rstrip("/")
    try:
        configured = requests.get(f"{base}/control/config", timeout=CHECK_TIMEOUT_SECONDS).json()["callback_url"]
        verified = requests.post(f"{base}/control/callbacks/verify", json={}, timeout=CHECK_TIMEOUT_SECONDS * 2).json()
    except (requests.RequestException, ValueError, KeyError) as exc:
        return Verdict(FAIL, f"本地企业微信模拟器 {base} 没有应答（{exc.__class__.__name__}）：先启动它")
    result = _callback_answer(configured, where, verified)
    if result.status == OK and configured.rstrip("/") != url.rstrip("/"):
        return Verdict(WARN, f"企业微信的回调URL是 {configured}，而 Omni 的是 {url}：在 {where} 改为 {url}")
    return result


def _callback_answer(url: str, where: str, verified: dict) -> Verdict:
    if verified.get("error"):
        return Verdict(FAIL, f"{url} 不通（{verified['error']}）：检查 OMNI_PUBLIC_URL、DNS、证书与负载均衡")
    status, answer = verified.get("http_status"), str(verified.get("answer", ""))
    if not verified.get("ok"):
        if answer == "invalid_signature":
            why = f"签名不符：Omni 的 WECOM_TOKEN 与企业微信后台的 Token 不一致，以 {where} → Token 为准"
        elif answer == "undecryptable":
            why = (
                f"解不开 echostr：WECOM_ENCODING_AES_KEY（或 WECOM_CORP_ID）与企业微信后台不一致，"
                f"以 {where} → EncodingAESKey 为准"
            )
        elif answer == "stale_timestamp":
            why = "时间戳过期：本机时钟与企业微信相差太多（见「时钟」一行）"
        else:
            why = (
                f"没有答出解密后的 echostr（HTTP {status}：{answer[:60]!r}）；"
                f"检查 {url} 是否指向 Omni 的 /wecom/callback/"
            )
        return Verdict(FAIL, f"{url} 没有通过企业微信的校验：{why}")
    elapsed = verified.get("elapsed_ms") or 0
    if elapsed > C.CALLBACK_VERIFY_ANSWER_MS:
        return Verdict(
            WARN,
            f"{url} 答对了，但用了 {elapsed} ms：企业微信要求 {C.CALLBACK_VERIFY_ANSWER_MS} ms 内应答，"
            "检查服务器负载与网络",
        )
    return Verdict(OK, f"{url} 通过了校验（{elapsed} ms 内答出解密后的 echostr）")


@wecom_check("jssdk", title="JS-SDK 与可信域名", order=50)
def jssdk_check(context: CheckContext) -> Verdict:
    try:
        context.client.jsapi_ticket()
        context.client.agent_ticket()
    except WeComError as error:
        return Verdict(FAIL, f"取不到 JS-SDK ticket（{error.errcode}）：{error.errmsg}")
    public = urlsplit(settings.OMNI_PUBLIC_URL)
    where = f"{CONSOLE_APP} → 网页授权及JS-SDK → 设置可信域名"
    domain = str((context.agent or {}).get("redirect_domain") or "").strip().lower()
    if not domain:
        return Verdict(
            WARN,
            f"ticket 已取得；企业微信没有告知应用的可信域名，"
            f"请人工确认 {where} 为 {public.hostname}（并完成域名归属认证）",
        )
    matches = domain == (public.netloc if ":" in domain else public.hostname or "").lower()
    if not matches:
        return Verdict(
            FAIL,
            f"应用的可信域名是 {domain}，而 Omni 的页面在 {public.netloc}（OMNI_PUBLIC_URL）："
            "侧边栏的 wx.agentConfig 会失败；"
            f"到 {where} 改为 {public.hostname}，或把 OMNI_PUBLIC_URL 改到 {domain} 之下",
        )
    return Verdict(OK, f"ticket 已取得；可信域名 {domain} 与 OMNI_PUBLIC_URL 一致")


@wecom_check("clock", title="时钟", order=90, needs_api=False)
def clock_check(context: CheckContext) -> Verdict:
    # gettoken without parameters: any answer carries WeCom's Date header, and it needs no token nor trusted IP.
    started = time.time()
    try:
        response = requests.get(f"{context.client.API_BASE_URL}gettoken", timeout=CHECK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return Verdict(WARN, f"无法比较：连不上企业微信 API（{exc.__class__.__name__}）")
    now = (started + time.time()) / 2
    try:
        theirs = parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return Verdict(WARN, "无法比较：企业微信的应答没有 Date 头")
    skew = round(now - theirs)
    if abs(skew) <= C.CLOCK_SKEW_OK_SECONDS:
        return Verdict(OK, f"与企业微信相差 {abs(skew)} 秒（容差 {C.CLOCK_SKEW_OK_SECONDS} 秒）")
    direction = "快" if skew > 0 else "慢"
    fix = "开启时间同步（timedatectl set-ntp true，或 chrony / ntpd）"
    if abs(skew) > settings.WECOM_CALLBACK_MAX_AGE:
        return Verdict(
            FAIL,
            f"本机时钟比企业微信{direction} {abs(skew)} 秒，超过回调时间戳的容差 {settings.WECOM_CALLBACK_MAX_AGE} 秒"
            f"（WECOM_CALLBACK_MAX_AGE）：企业微信的回调会被当作过期而拒收；{fix}",
        )
    return Verdict(WARN, f"本机时钟比企业微信{direction} {abs(skew)} 秒：{fix}")
