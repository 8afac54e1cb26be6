"""Pages opened inside WeCom: OAuth login of the associate, and the JS-SDK signatures for a page.

A page decorated with `associate_required` without a session redirects to WeCom's authorize URL; the
`code` that comes back is exchanged once with auth/getuserinfo for the member's userid, which must be
an active Associate. Deactivating an associate locks them out on their next request.
"""

import functools
import secrets
import time
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from associates.models import Associate
from omni.locks import LockUnavailable, lock_take
from wecom import constants as C
from wecom.client import WeComError, wecom_client
from wecom.jssdk import jssdk_signature

SESSION_KEY = "omni_associate_id"
JSAPI_LIST = [
    "getContext",
    "getCurExternalContact",
    "getCurExternalChat",
    "sendChatMessage",
    "scanQRCode",
    # The task page: open the customer's chat or profile.
    "openEnterpriseChat",
    "openUserProfile",
]


def session_associate(session) -> Associate | None:
    """The active associate signed in on this session through WeCom OAuth, or None."""
    associate_id = session.get(SESSION_KEY)
    if not associate_id:
        return None
    # Every page and API call asks this, so it is written out: the ORM's query compiler would cost more
    # than the query. Checked on each request, so a deactivated associate is locked out at once.
    table = Associate._meta.db_table
    found = list(Associate.objects.raw(f"SELECT * FROM {table} WHERE id = %s AND is_active", [associate_id]))
    return found[0] if found else None


def associate_required(view):
    """Run `view(request, *args, associate=…, **kwargs)` for the signed-in associate, or send the browser through WeCom
    OAuth first."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        associate = session_associate(request.session)
        if associate is None:
            request.session.pop(SESSION_KEY, None)
            if request.headers.get("accept", "").startswith("application/json"):
                return JsonResponse({"error": {"code": "not_signed_in", "message": "请在企业微信中打开"}}, status=401)
            return HttpResponseRedirect(
                f"{reverse('wecom-oauth-start')}?{urlencode({'next': request.get_full_path()})}"
            )
        return view(request, *args, associate=associate, **kwargs)

    return wrapper


def embeddable(view):
    """Let the origins in OMNI_FRAME_ANCESTORS frame this page (the local WeCom emulator shows the
    sidebar in an iframe; inside WeCom it is a top-level webview). Without any, framing stays denied."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if settings.OMNI_FRAME_ANCESTORS:
            response.xframe_options_exempt = True
            response["Content-Security-Policy"] = f"frame-ancestors 'self' {' '.join(settings.OMNI_FRAME_ANCESTORS)}"
        return response

    return wrapper


def oauth_start(request: HttpRequest) -> HttpResponse:
    next_url = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=None):
        next_url = "/"
    state = secrets.token_urlsafe(12)
    request.session["omni_oauth"] = {"state": state, "next": next_url}
    redirect_uri = settings.OMNI_PUBLIC_URL.rstrip("/") + reverse("wecom-oauth-callback")
    query = (
        f"appid={quote(settings.WECOM_CORP_ID)}&redirect_uri={quote(redirect_uri, safe='')}"
        f"&response_type=code&scope=snsapi_base&state={state}&agentid={quote(str(settings.WECOM_AGENT_ID))}"
    )
    return HttpResponseRedirect(f"{settings.WECOM_OAUTH_AUTHORIZE_URL}?{query}#wechat_redirect")


def _refuse(request: HttpRequest, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "wecom/refused.html", {"title": title, "message": message}, status=status)


@embeddable
def oauth_callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop("omni_oauth", None)
    code = request.GET.get("code", "")
    if not pending or not secrets.compare_digest(pending["state"], request.GET.get("state", "")) or not code:
        return _refuse(request, "登录已失效", "请关闭页面，从企业微信重新打开。", 400)
    # WeCom refuses a second use of a code too, so this check only spares the call: with the lock store down the
    # code goes to WeCom, which stays the guard.
    try:
        first_use = lock_take(f"wecom:oauth-code:{code}", timeout=C.OAUTH_CODE_TTL_SECONDS)
    except LockUnavailable:
        first_use = True
    if not first_use:
        return _refuse(request, "登录已失效", "这个登录链接已经用过了，请从企业微信重新打开。", 400)
    try:
        info = wecom_client().auth_getuserinfo(code=code)
    except WeComError as exc:
        if exc.transient:
            return _refuse(request, "企业微信繁忙", "请稍后重试。", 503)
        return _refuse(request, "登录已失效", "请关闭页面，从企业微信重新打开。", 400)
    userid = info.get("userid") or info.get("UserId")
    if not userid:
        return _refuse(request, "仅限企业成员", "这个页面只对本企业的导购开放。", 403)
    associate = Associate.objects.filter(wecom_userid=userid, is_active=True).first()
    if associate is None:
        return _refuse(request, "还不是 Omni 导购", "你的账号还没有开通或已停用，请联系店长。", 403)
    request.session.cycle_key()
    request.session[SESSION_KEY] = associate.pk
    return HttpResponseRedirect(pending["next"])


@associate_required
def jssdk_config(request: HttpRequest, *, associate: Associate) -> JsonResponse:
    """Parameters for wx.config and wx.agentConfig on the page at ?url= (one of Omni's own pages)."""
    url = request.GET.get("url", "")
    public = urlsplit(settings.OMNI_PUBLIC_URL)
    page = urlsplit(url)
    if (page.scheme, page.netloc) != (public.scheme, public.netloc) and page.netloc != request.get_host():
        return JsonResponse({"error": {"code": "foreign_url", "message": "只能为 Omni 自己的页面签名"}}, status=400)
    try:
        params = jssdk_params(url=url)
    except WeComError:
        return JsonResponse({"error": {"code": "wecom_unavailable", "message": "企业微信暂时不可用"}}, status=503)
    return JsonResponse(params)


def jssdk_params(*, url: str) -> dict:
    """wx.config's and wx.agentConfig's parameters signed for the page at `url` (without its #fragment); WeComError
    when WeCom cannot give the tickets. Pages that know their own URL render these (no round trip before the
    JS-SDK can start); others ask /wecom/jssdk/config/."""
    client = wecom_client()
    corp_ticket, agent_ticket = client.jsapi_ticket(), client.agent_ticket()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    return {
        "config": {
            "beta": True,
            "appId": settings.WECOM_CORP_ID,
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jssdk_signature(ticket=corp_ticket, noncestr=nonce, timestamp=timestamp, url=url),
            "jsApiList": JSAPI_LIST,
        },
        "agentConfig": {
            "corpid": settings.WECOM_CORP_ID,
            "agentid": str(settings.WECOM_AGENT_ID),
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jssdk_signature(ticket=agent_ticket, noncestr=nonce, timestamp=timestamp, url=url),
            "jsApiList": JSAPI_LIST,
        },
    }
