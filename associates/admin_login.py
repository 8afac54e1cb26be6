"""Store managers sign in to Django admin with WeCom, besides their passwords.

In a browser: WeCom's web login (a QR code scanned with the WeCom app, login.work.weixin.qq.com/wwlogin/sso/login);
inside the WeCom client: the same OAuth the associate's pages use. Either way WeCom sends back a one-time `code` and
our `state`, and auth/getuserinfo names the member. The member must be an active associate whose admin account
(`Associate.user`) is active and staff; then that account is signed in. Anything else is refused with a page naming a
stable code and nothing signed in. The password form is untouched, and django-axes still guards it.
"""

import secrets
import time
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from associates.models import Associate
from omni.locks import LockUnavailable, lock_take
from wecom import constants as C
from wecom.client import WeComError, wecom_client

SESSION_KEY = "omni_admin_wecom_login"
# A QR code left open longer than this is stale: scan a fresh one.
STATE_TTL_SECONDS = 10 * 60

REFUSALS = {
    "bad_state": ("登录已失效", "登录请求已过期或已使用，请回到登录页重新扫码。", 400),
    "code_used": ("登录已失效", "这个登录码已经用过了，请回到登录页重新扫码。", 400),
    "wecom_unavailable": ("企业微信繁忙", "请稍后重试。", 503),
    "bad_code": ("登录已失效", "企业微信没有确认这次登录，请重新扫码。", 400),
    "unknown_member": ("无法登录", "你的企业微信账号还不是 Omni 的导购或已停用，请联系总部。", 403),
    "no_admin_account": ("无法登录", "你的企业微信账号没有关联后台账号，请联系总部开通。", 403),
    "inactive_user": ("无法登录", "你的后台账号已停用，请联系总部。", 403),
    "not_staff": ("无法登录", "你的账号没有后台权限，请联系总部开通。", 403),
}


def _refuse(request: HttpRequest, code: str) -> HttpResponse:
    title, message, status = REFUSALS[code]
    context = {"title": title, "message": message, "code": code, "login_url": reverse("admin:login")}
    return render(request, "admin/wecom_login_refused.html", context, status=status)


def _in_wecom_client(request: HttpRequest) -> bool:
    return "wxwork" in request.headers.get("user-agent", "").lower()


def admin_wecom_login_start(request: HttpRequest) -> HttpResponse:
    """The 企业微信登录 button: WeCom's QR page in a browser, its OAuth inside the WeCom client."""
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("admin:index")
    state = secrets.token_urlsafe(16)
    request.session[SESSION_KEY] = {"state": state, "next": next_url, "at": int(time.time())}
    redirect_uri = settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("admin-wecom-login-callback")
    if _in_wecom_client(request):
        query = (
            f"appid={quote(settings.WECOM_CORP_ID)}&redirect_uri={quote(redirect_uri, safe='')}"
            f"&response_type=code&scope=snsapi_base&state={state}&agentid={quote(str(settings.WECOM_AGENT_ID))}"
        )
        return HttpResponseRedirect(f"{settings.WECOM_OAUTH_AUTHORIZE_URL}?{query}#wechat_redirect")
    query = urlencode(
        {
            "login_type": "CorpApp",
            "appid": settings.WECOM_CORP_ID,
            "agentid": str(settings.WECOM_AGENT_ID),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return HttpResponseRedirect(f"{settings.WECOM_WEB_LOGIN_URL}?{query}")


def admin_wecom_login_callback(request: HttpRequest) -> HttpResponse:
    # The pending login is taken off the session whatever follows, so a state answers once.
    pending = request.session.pop(SESSION_KEY, None)
    code, state = request.GET.get("code", ""), request.GET.get("state", "")
    if (
        not pending
        or not state
        or not secrets.compare_digest(pending["state"], state)
        or time.time() - pending["at"] > STATE_TTL_SECONDS
    ):
        return _refuse(request, "bad_state")
    if not code:
        return _refuse(request, "bad_code")
    try:
        first_use = lock_take(f"wecom:admin-login-code:{code}", timeout=C.OAUTH_CODE_TTL_SECONDS)
    except LockUnavailable:
        first_use = True  # WeCom refuses a second use of a code too
    if not first_use:
        return _refuse(request, "code_used")
    try:
        info = wecom_client().auth_getuserinfo(code=code)
    except WeComError as exc:
        return _refuse(request, "wecom_unavailable" if exc.transient else "bad_code")
    userid = info.get("userid") or info.get("UserId")
    associate = (
        Associate.objects.select_related("user").filter(wecom_userid=userid, is_active=True).first() if userid else None
    )
    if associate is None:
        return _refuse(request, "unknown_member")
    user = associate.user
    if user is None:
        return _refuse(request, "no_admin_account")
    if not user.is_active:
        return _refuse(request, "inactive_user")
    if not user.is_staff:
        return _refuse(request, "not_staff")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect(pending["next"])
