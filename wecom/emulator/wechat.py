"""WeChat as the brand's customers use it: the Official Account's web authorization (网页授权), over real HTTP.

- `/wechat/open?external_userid=…&url=…` opens a page "in a customer's WeChat": the emulated customer is kept in
  a cookie and the browser goes on to `url`. Without a customer it asks who is browsing.
- `/connect/oauth2/authorize?appid=<the OA's appid>&redirect_uri=…&response_type=code&scope=…&state=…` (the path
  WeCom's OAuth shares; the appid says which) sends the browser back to redirect_uri with `code` and `state`:
  silently for snsapi_base, after a one-time consent page for snsapi_userinfo.
- `/sns/oauth2/access_token` exchanges a code (single-use, five minutes) for the web access token, the openid and
  the unionid (when the customer has one); `/sns/userinfo` reads the profile with an snsapi_userinfo token.
  Errors are WeChat's `{"errcode", "errmsg"}` with HTTP 200.

The openid is stable per (OA appid, customer) and is not the external_userid: it is derived from both, so it
survives a restart and a reset as it does in WeChat.
"""

import base64
import hashlib
import html
import random
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wecom.emulator import limits as L
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.state import EmulatorState, new_id
from wecom.emulator.web import Request, Response, error_page, html_response, json_response, plain_page, redirect

WECHAT_USER_COOKIE = "wxemu_wechat_user"
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")
SECRET_PARAMS = ("secret", "access_token", "refresh_token")
# Used codes are remembered this long after they expire, so that a replay answers 40163, not 40029.
USED_CODE_MEMORY_SECONDS = 3600
GENDER_TO_SEX = {0: 0, 1: 1, 2: 2}


class OaError(Exception):
    def __init__(self, errcode: int):
        super().__init__(errcode)
        self.errcode = errcode


def oa_openid(*, appid: str, external_userid: str) -> str:
    """The customer's openid under this Official Account: 28 characters starting with "o", like WeChat's."""
    digest = hashlib.sha256(f"{appid}|{external_userid}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


class WeChatOa:
    def __init__(self, *, config: EmulatorConfig, state: EmulatorState):
        self.config = config
        self.state = state
        self._random = random.Random()
        self.api_routes: dict[str, Callable[[Request], dict]] = {
            "oauth2/access_token": self.access_token,
            "userinfo": self.userinfo,
        }

    def handles_authorize(self, request: Request) -> bool:
        """Whether an authorize request is for the Official Account (else it is WeCom's)."""
        return bool(self.config.oa_appid) and request.query.get("appid") == self.config.oa_appid

    # The customer's WeChat ---------------------------------------------------------------------------

    def open(self, request: Request) -> Response:
        """Open `url` in the WeChat of the customer `external_userid`."""
        url = request.query.get("url", "")
        target = urlsplit(url)
        if target.scheme not in ("http", "https") or not target.hostname:
            return error_page("无法打开", "url 必须是完整的 http(s) 地址。")
        external_userid = request.query.get("external_userid", "")
        if external_userid not in self.state.data["customers"]:
            return self._chooser(url, "在谁的微信里打开？")
        response = redirect(url)
        response.headers.append(("Set-Cookie", f"{WECHAT_USER_COOKIE}={external_userid}; Path=/; SameSite=Lax"))
        response.headers.append(("Cache-Control", "no-store"))
        return response

    def _chooser(self, url: str, title: str) -> Response:
        links = []
        for customer in self.state.data["customers"].values():
            query = urlencode({"external_userid": customer["external_userid"], "url": url})
            links.append(f'<li><a href="/wechat/open?{html.escape(query)}">{html.escape(customer["name"])}</a></li>')
        items = "".join(links) or "<li>还没有客户：请先在模拟器首页新建客户。</li>"
        body = f"<h1>{html.escape(title)}</h1><p>模拟器里请选择正在用微信浏览的客户。</p><ul>{items}</ul>"
        return html_response(plain_page("微信", body), headers=[("Cache-Control", "no-store")])

    # open.weixin.qq.com/connect/oauth2/authorize -----------------------------------------------------

    def authorize(self, request: Request) -> Response:
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri:
            return error_page("redirect_uri 参数错误", "缺少 redirect_uri。")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.hostname:
            return error_page("redirect_uri 参数错误", "redirect_uri 必须是完整的 http(s) 地址。")
        if target.hostname not in self.config.redirect_hosts():
            return error_page("redirect_uri 参数错误", "redirect_uri 域名与后台配置不一致。", errcode=10003)
        if q.get("response_type") != "code":
            return error_page("参数错误", "response_type 必须是 code。")
        scope = q.get("scope", "")
        if scope not in OAUTH_SCOPES:
            return error_page("参数错误", "此公众号并没有这些 scope 的权限。", errcode=10005)
        external_userid = request.cookies.get(WECHAT_USER_COOKIE, "")
        if external_userid not in self.state.data["customers"]:
            return self._chooser(self._authorize_url(q), "微信授权：谁在浏览？")
        consent_key = f"{self.config.oa_appid}|{external_userid}"
        if scope == "snsapi_userinfo" and consent_key not in self.state.data["oa_consents"]:
            if request.method != "POST":
                return self._consent_page(q)
            if _form_action(request) != "allow":
                return html_response(plain_page("微信授权", "<h1>已拒绝授权</h1><p>你可以关闭这个页面。</p>"))
            with self.state.change() as data:
                data["oa_consents"][consent_key] = self.state.now()
        code = new_id("", 32)
        now = self.state.now()
        with self.state.change() as data:
            data["oa_codes"] = {
                c: e for c, e in data["oa_codes"].items() if e["expires_at"] > now - USED_CODE_MEMORY_SECONDS
            }
            data["oa_codes"][code] = {
                "appid": self.config.oa_appid,
                "external_userid": external_userid,
                "scope": scope,
                "expires_at": now + L.OA_CODE_TTL_SECONDS,
                "used": False,
            }
        query = urlencode({"code": code, "state": q.get("state", "")})
        joined = f"{target.query}&{query}" if target.query else query
        return redirect(urlunsplit((target.scheme, target.netloc, target.path, joined, "")))

    @staticmethod
    def _authorize_url(query: dict[str, str]) -> str:
        return f"/connect/oauth2/authorize?{urlencode(query)}"

    def _consent_page(self, query: dict[str, str]) -> Response:
        action = html.escape(self._authorize_url(query))
        body = (
            "<h1>微信授权</h1><p>该公众号申请获取你的昵称、头像。</p>"
            f'<form method="post" action="{action}">'
            '<button name="action" value="allow">允许</button> '
            '<button name="action" value="deny">拒绝</button></form>'
        )
        return html_response(plain_page("微信授权", body), headers=[("Cache-Control", "no-store")])

    # api.weixin.qq.com/sns/ ---------------------------------------------------------------------------

    def handle_api(self, request: Request, api: str) -> Response:
        if not api and request.method == "GET":  # the base URL opened in a browser: what the emulator implements
            return json_response({"errcode": 0, "errmsg": "ok", "apis": [f"sns/{name}" for name in self.api_routes]})
        handler = self.api_routes.get(api)
        if handler is None:
            return json_response({"errcode": 404, "errmsg": f"the emulator has no API sns/{api}"}, 404)
        name = f"sns/{api}"
        started = time.monotonic()
        faults = self.state.faults
        try:
            if faults.applies_to(name):
                if faults.latency_ms:
                    time.sleep(faults.latency_ms / 1000)
                if self._random.random() < faults.rate_limit_rate:
                    raise OaError(L.FREQUENCY_LIMIT)
                if self._random.random() < faults.busy_rate:
                    raise OaError(L.SYSTEM_BUSY)
            result = handler(request)
        except OaError as error:
            text = L.OA_ERRMSG.get(error.errcode, "error")
            rid = "-".join(secrets.token_hex(4) for _ in range(3))
            result = {"errcode": error.errcode, "errmsg": f"{text}, rid: {rid}"}
        self.state.call_record(
            api=name,
            method=request.method,
            query=request.query,
            hidden=SECRET_PARAMS,
            body=None,
            errcode=result.get("errcode", 0),
            started=started,
        )
        return json_response(result)

    def access_token(self, request: Request) -> dict:
        q = request.query
        appid, secret, code = q.get("appid", ""), q.get("secret", ""), q.get("code", "")
        _require(bool(appid), L.OA_APPID_MISSING)
        _require(appid == self.config.oa_appid, L.OA_INVALID_APPID)
        _require(bool(secret), L.OA_APPSECRET_MISSING)
        _require(secrets.compare_digest(secret.encode(), self.config.oa_secret.encode()), L.OA_INVALID_APPSECRET)
        _require(q.get("grant_type") == "authorization_code", L.OA_INVALID_GRANT_TYPE)
        _require(bool(code), L.OA_CODE_MISSING)
        now = self.state.now()
        with self.state.change() as data:
            entry = data["oa_codes"].get(code)
            _require(entry is not None and entry["appid"] == appid, L.OA_INVALID_CODE)
            _require(not entry["used"], L.OA_CODE_USED)
            _require(entry["expires_at"] > now, L.OA_INVALID_CODE)
            entry["used"] = True
            customer = data["customers"].get(entry["external_userid"])
            _require(customer is not None, L.OA_INVALID_CODE)
            openid = oa_openid(appid=appid, external_userid=customer["external_userid"])
            data["oa_tokens"] = {t: e for t, e in data["oa_tokens"].items() if e["expires_at"] > now}
            token = new_id("", 89)
            data["oa_tokens"][token] = {
                "appid": appid,
                "external_userid": customer["external_userid"],
                "openid": openid,
                "scope": entry["scope"],
                "expires_at": now + L.OA_ACCESS_TOKEN_TTL_SECONDS,
            }
        answer = {
            "access_token": token,
            "expires_in": L.OA_ACCESS_TOKEN_TTL_SECONDS,
            "refresh_token": new_id("", 89),
            "openid": openid,
            "scope": entry["scope"],
        }
        if customer["unionid"]:
            answer["unionid"] = customer["unionid"]
        return answer

    def userinfo(self, request: Request) -> dict:
        token, openid = request.query.get("access_token", ""), request.query.get("openid", "")
        _require(bool(token), L.OA_ACCESS_TOKEN_MISSING)
        _require(bool(openid), L.OA_OPENID_MISSING)
        with self.state.lock:
            entry = self.state.data["oa_tokens"].get(token)
            _require(entry is not None, L.OA_INVALID_CREDENTIAL)
            _require(entry["expires_at"] > self.state.now(), L.OA_ACCESS_TOKEN_EXPIRED)
            _require(entry["openid"] == openid, L.OA_INVALID_OPENID)
            _require(entry["scope"] == "snsapi_userinfo", L.OA_API_UNAUTHORIZED)
            customer = dict(self.state.data["customers"][entry["external_userid"]])
        avatar = customer["avatar"] or f"{self.config.public_url}/avatar/{customer['external_userid']}.svg"
        info = {
            "openid": openid,
            "nickname": customer["name"],
            "sex": GENDER_TO_SEX.get(customer["gender"], 0),
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": avatar,
            "privilege": [],
        }
        if customer["unionid"]:
            info["unionid"] = customer["unionid"]
        return info


def _require(condition: bool, errcode: int) -> None:
    if not condition:
        raise OaError(errcode)


def _form_action(request: Request) -> str:
    return dict(parse_qsl(request.body.decode("utf-8", "replace"))).get("action", "")
