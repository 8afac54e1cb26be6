"""The Official Account's web authorization (网页授权, OAuth2): which WeChat user opened one of Omni's pages.

- `oa_authorize_url()` sends the browser to WeChat (`WECHAT_OAUTH_AUTHORIZE_URL`), which comes back to the
  redirect_uri with `code` and `state`; `oa_code_exchange()` turns the code into the user's openid and unionid
  (`WECHAT_API_BASE` + /sns/oauth2/access_token). One GET with a timeout and no retry: a code is single-use, so
  a retry after a lost answer could only get 40163. WeChat's errors, and a WeChat that cannot be reached, raise
  `WeChatError(errcode, errmsg)`.
- `oa_state_issue()` / `oa_state_verify()`: the `state` is never trusted as such. It is an HMAC (SECRET_KEY) over
  its purpose, its time, a random id and a nonce that only the browser holds (in a cookie the caller sets), so a
  callback URL that leaks — shared, forwarded, replayed — verifies in no other browser; it expires after
  `STATE_MAX_AGE` and is taken once (`omni.locks.lock_take` on its random id). WeChat allows only [a-zA-Z0-9]
  in a state.
- `OaSignIn`: the browser's side of it for one page (redirect with the nonce cookie, the verified callback, the
  spent nonce), used by the campaign landing page and the identity-claim page.
"""

import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.crypto import salted_hmac

from omni.locks import LockUnavailable, lock_take

logger = logging.getLogger(__name__)

STATE_MAX_AGE = 600
_STATE_SALT = "wecom.wechat_oauth-state"


class WeChatError(Exception):
    """WeChat answered with an error, or could not be reached (errcode None)."""

    def __init__(self, errcode: int | None, errmsg: str):
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class OaUser:
    openid: str
    unionid: str  # "" when the Official Account is not bound to the brand's WeChat Open Platform account
    scope: str


def oa_configured() -> bool:
    return bool(settings.WECHAT_OA_APPID and settings.WECHAT_OA_SECRET)


def oa_authorize_url(*, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
    # WeChat reads the parameters in this order; the fragment tells its webview to follow the redirect.
    query = urlencode(
        {
            "appid": settings.WECHAT_OA_APPID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
    )
    return f"{settings.WECHAT_OAUTH_AUTHORIZE_URL}?{query}#wechat_redirect"


def oa_code_exchange(*, code: str) -> OaUser:
    url = settings.WECHAT_API_BASE.rstrip("/") + "/sns/oauth2/access_token"
    params = {
        "appid": settings.WECHAT_OA_APPID,
        "secret": settings.WECHAT_OA_SECRET,
        "code": code,
        "grant_type": "authorization_code",
    }
    try:
        response = requests.get(url, params=params, timeout=settings.WECHAT_TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except requests.RequestException as exc:
        raise WeChatError(None, f"{type(exc).__name__} calling sns/oauth2/access_token") from exc
    except ValueError as exc:
        raise WeChatError(None, "sns/oauth2/access_token answered something that is not JSON") from exc
    if not isinstance(data, dict):
        raise WeChatError(None, "sns/oauth2/access_token answered something that is not a JSON object")
    if data.get("errcode"):
        raise WeChatError(data["errcode"], str(data.get("errmsg", "")))
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WeChatError(None, "sns/oauth2/access_token answered without an openid")
    return OaUser(openid=openid, unionid=str(data.get("unionid") or ""), scope=str(data.get("scope") or ""))


def _state_mac(*, purpose: str, issued: str, ref: str, nonce: str) -> str:
    return salted_hmac(_STATE_SALT, f"{purpose}|{issued}|{ref}|{nonce}", algorithm="sha256").hexdigest()[:32]


def oa_state_issue(*, purpose: str) -> tuple[str, str]:
    """A new (state, nonce): the state goes to WeChat, the nonce into a cookie of this browser only."""
    issued, ref, nonce = str(int(time.time())), secrets.token_hex(8), secrets.token_urlsafe(24)
    return f"{issued}x{ref}x{_state_mac(purpose=purpose, issued=issued, ref=ref, nonce=nonce)}", nonce


def oa_state_verify(*, state: str, nonce: str, purpose: str) -> bool:
    """True once for a state issued for `purpose` to the browser holding `nonce`, within STATE_MAX_AGE."""
    issued, _, rest = state.partition("x")
    ref, _, mac = rest.partition("x")
    if not (issued.isdigit() and ref and mac and nonce):
        return False
    age = time.time() - int(issued)
    if not -60 <= age <= STATE_MAX_AGE:
        return False
    if not secrets.compare_digest(mac, _state_mac(purpose=purpose, issued=issued, ref=ref, nonce=nonce)):
        return False
    # The take-once key is the only guard against a replayed state: unreachable, the state does not verify.
    try:
        return lock_take(f"wechat:oauth-state:{ref}", timeout=STATE_MAX_AGE + 60)
    except LockUnavailable:
        return False


@dataclass(frozen=True)
class OaSignIn:
    """One page's web authorization in the browser: the `purpose` its state is bound to, the cookie that holds the
    nonce and the path that cookie is scoped to. `redirect` sends the browser to WeChat, `user` reads who came back
    (None for a code or state that does not verify, or a code WeChat refuses), `done` spends the nonce."""

    purpose: str
    cookie: str
    path: str

    def redirect(self, request: HttpRequest, *, redirect_uri: str) -> HttpResponse:
        state, nonce = oa_state_issue(purpose=self.purpose)
        response = HttpResponseRedirect(oa_authorize_url(redirect_uri=redirect_uri, state=state))
        response.set_cookie(
            self.cookie,
            nonce,
            max_age=STATE_MAX_AGE,
            path=self.path,
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
        return response

    def user(self, request: HttpRequest) -> "OaUser | None":
        code, state = request.GET.get("code", ""), request.GET.get("state", "")
        nonce = request.COOKIES.get(self.cookie, "")
        if not code or not oa_state_verify(state=state, nonce=nonce, purpose=self.purpose):
            return None
        try:
            return oa_code_exchange(code=code)
        except WeChatError as exc:
            logger.warning("%s: WeChat OAuth code exchange failed: %s", self.purpose, exc)
            return None

    def done(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The nonce is spent, and the URL (which may carry a code and state) is not sent on as a Referer."""
        if self.cookie in request.COOKIES:
            response.delete_cookie(self.cookie, path=self.path, samesite="Lax")
        response["Referrer-Policy"] = "no-referrer"
        return response
