"""What a browser sees: the WeCom-client UI, the OAuth authorize page, QR codes, and the JS-SDK stand-in.

- `/` is the UI (static HTML + JS over the control API).
- `/connect/oauth2/authorize` plays open.weixin.qq.com for WeCom: it issues a code for the associate logged in
  to the UI (cookie) or `?as_userid=`, and redirects back with code and state. (For the Official Account's
  appid the same path is the customer's WeChat: wechat.py.)
- `/wwlogin/sso/login` plays login.work.weixin.qq.com, WeCom's web login (企业微信扫码登录, Doc 98151/98152): a QR code
  for a browser outside WeCom; the emulated member "scans" it (a button per member) and confirms, and the browser
  is sent back to redirect_uri with a one-time code (auth/getuserinfo, like OAuth's) and the state.
- `/jssdk/jwxwork.js` is the stand-in for WeCom's JS-SDK; it checks wx.config / wx.agentConfig
  signatures here (`/jssdk/verify`) against the tickets the API issued, and sends chat messages into the
  transcript (`/jssdk/send_chat_message`); wx.scanQRCode reads what the UI's scan dialog says the camera saw and
  answers as WeCom does (`/jssdk/scan_qrcode`).
- `/avatar/<external_userid>.svg` is a customer's default profile photo (externalcontact/get's avatar).
- `/qr/<kind>/<config_id>.png` are real QR codes; they encode `/scan/<kind>/<config_id>`, a page that
  plays a customer scanning them.
"""

import base64
import hashlib
import html
import io
import json
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import qrcode

from wecom.emulator import limits as L
from wecom.emulator.api.dispatch import WeComApi
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.control import LOGIN_COOKIE
from wecom.emulator.state import EmulatorState, group_chat_key, new_id, relation_key, single_chat_key
from wecom.emulator.web import (
    CORS_HEADERS,
    Request,
    Response,
    error_page,
    html_response,
    json_response,
    not_found,
    plain_page,
    redirect,
)
from wecom.emulator.world import World, WorldError
from wecom.jssdk import jssdk_signature

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_FILES = {
    "app.js": "application/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "jwxwork.js": "application/javascript; charset=utf-8",
}
OAUTH_SCOPES = ("snsapi_base", "snsapi_privateinfo")
JSSDK_SESSION_TTL_SECONDS = 7200
SEND_CHAT_MESSAGE_TYPES = ("text", "image", "news", "miniprogram", "video", "file")
QR_KINDS = ("contact_way", "join_way")
SCAN_TYPES = ("qrCode", "barCode")
# The format name a scan of a barcode answers before its digits, by their count (what retail goods carry).
BARCODE_FORMATS = {8: "EAN_8", 12: "UPC_A", 13: "EAN_13", 14: "ITF_14"}
OPEN_CHAT_APIS = ("openEnterpriseChat", "openUserProfile")
# Default profile photos, like WeChat's generated ones: a customer keeps their colour.
AVATAR_COLOURS = ("#07c160", "#1d6fd8", "#7a5af8", "#f5803e", "#e8578c", "#12a3a3")


class BrowserUi:
    def __init__(self, *, config: EmulatorConfig, state: EmulatorState, world: World, api: WeComApi):
        self.config = config
        self.state = state
        self.world = world
        self.api = api

    def handle(self, request: Request) -> Response | None:
        path = request.path
        if path == "/" and request.method == "GET":
            return self.index()
        if path.startswith("/static/") and request.method == "GET":
            return self.static(path.removeprefix("/static/"))
        if path == "/jssdk/jwxwork.js":
            return self.static("jwxwork.js")
        if path.startswith("/jssdk/"):
            return self.jssdk(request, path.removeprefix("/jssdk/"))
        if path == "/connect/oauth2/authorize" and request.method == "GET":
            return self.authorize(request)
        if path == "/wwlogin/sso/login" and request.method in ("GET", "POST"):
            return self.web_login(request)
        if path.startswith("/qr/") and path.endswith(".png"):
            kind, _, config_id = path.removeprefix("/qr/").removesuffix(".png").partition("/")
            return self.qr_png(kind, config_id)
        if path.startswith("/scan/"):
            kind, _, config_id = path.removeprefix("/scan/").partition("/")
            return self.scan(request, kind, config_id)
        if path.startswith("/ca/"):
            return self.link_page(request, path.removeprefix("/ca/"))
        if path.startswith("/media/") and request.method == "GET":
            return self.media(path.removeprefix("/media/"))
        if path.startswith("/avatar/") and path.endswith(".svg") and request.method == "GET":
            return self.avatar_svg(path.removeprefix("/avatar/").removesuffix(".svg"))
        return None

    # Pages and files -------------------------------------------------------------------------------

    def index(self) -> Response:
        page = (PACKAGE_DIR / "templates" / "index.html").read_text(encoding="utf-8")
        settings = {
            "corpId": self.config.corp_id,
            "agentId": self.config.agent_id,
            "sidebarUrl": self.config.sidebar_url,
            "publicUrl": self.config.public_url,
        }
        # "<" escaped so that no value can close the <script> element the JSON sits in.
        page = page.replace("__EMULATOR_SETTINGS__", json.dumps(settings, ensure_ascii=False).replace("<", "\\u003c"))
        return html_response(page, headers=[("Cache-Control", "no-store")])

    def static(self, name: str) -> Response:
        if name not in STATIC_FILES:
            return not_found()
        content = (PACKAGE_DIR / "static" / name).read_bytes()
        # WeCom's CDN lets browsers keep its JS-SDK a while; the emulator's own UI files are always asked again.
        cache = "max-age=600" if name == "jwxwork.js" else "no-cache"
        return Response(200, content, [("Content-Type", STATIC_FILES[name]), ("Cache-Control", cache)])

    def media(self, media_id: str) -> Response:
        entry = self.api.media_valid(media_id)
        content = self.state.media_read(media_id) if entry else None
        if content is None:
            return not_found("media expired or unknown")
        return Response(200, content, [("Content-Type", entry["content_type"])])

    def avatar_svg(self, external_userid: str) -> Response:
        """A customer's default profile photo: their first character on a colour picked by their id."""
        customer = self.state.data["customers"].get(external_userid)
        if customer is None:
            return not_found("unknown avatar")
        colour = AVATAR_COLOURS[int(hashlib.sha1(external_userid.encode()).hexdigest(), 16) % len(AVATAR_COLOURS)]
        initial = html.escape((customer["name"].strip() or "客")[0])
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">'
            f'<rect width="132" height="132" fill="{colour}"/>'
            '<text x="66" y="68" text-anchor="middle" dominant-baseline="middle" fill="#fff" font-size="60" '
            f"font-family=\"'Noto Sans CJK SC', 'PingFang SC', sans-serif\">{initial}</text></svg>"
        )
        return Response(200, svg.encode("utf-8"), [("Content-Type", "image/svg+xml"), ("Cache-Control", "max-age=300")])

    # OAuth (open.weixin.qq.com/connect/oauth2/authorize) -----------------------------------------

    def authorize(self, request: Request) -> Response:
        q = request.query
        if q.get("appid") != self.config.corp_id:
            detail = "appid 不正确：请使用企业的 CorpID（或公众号的 AppID）。"
            return error_page("参数错误", detail, errcode=L.INVALID_CORPID)
        if q.get("response_type") != "code":
            return error_page("参数错误", "response_type 必须是 code。")
        if q.get("scope") not in OAUTH_SCOPES:
            return error_page("参数错误", "scope 只能是 snsapi_base 或 snsapi_privateinfo。")
        if q.get("agentid") and q["agentid"] != str(self.config.agent_id):
            return error_page("参数错误", "agentid 不是本企业的应用。")
        redirect_uri = q.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.hostname:
            return error_page("redirect_uri 参数错误", "redirect_uri 必须是完整的 http(s) 地址。")
        if target.hostname not in self.config.redirect_hosts():
            return error_page("redirect_uri 参数错误", f"{target.hostname} 不是应用的可信域名。")
        userid = q.get("as_userid") or request.cookies.get(LOGIN_COOKIE, "")
        associate = self.state.data["associates"].get(userid)
        if associate is None or associate["resigned"]:
            return self._login_page(request)
        query = urlencode({"code": self._code_issue(userid), "state": q.get("state", "")})
        joined = f"{target.query}&{query}" if target.query else query
        return redirect(urlunsplit((target.scheme, target.netloc, target.path, joined, "")))

    def _code_issue(self, userid: str) -> str:
        """A one-time code for the member, exchanged by auth/getuserinfo within five minutes."""
        code = new_id("", 43)
        with self.state.change() as data:
            data["oauth_codes"] = {
                c: e for c, e in data["oauth_codes"].items() if e["expires_at"] > self.state.now() - 3600
            }
            data["oauth_codes"][code] = {
                "userid": userid,
                "expires_at": self.state.now() + L.OAUTH_CODE_TTL_SECONDS,
                "used": False,
            }
        return code

    # Web login (login.work.weixin.qq.com/wwlogin/sso/login) ---------------------------------------

    def web_login(self, request: Request) -> Response:
        """WeCom's web login: GET shows the QR code and who may scan it; POST (userid) is that member scanning and
        confirming on their phone, and sends the browser back with code and state."""
        q = request.query
        if q.get("login_type") != "CorpApp":
            return error_page("参数错误", "login_type 必须是 CorpApp（企业自建应用登录）。")
        if q.get("appid") != self.config.corp_id:
            return error_page("参数错误", "appid 不正确：请使用企业的 CorpID。", errcode=L.INVALID_CORPID)
        if q.get("agentid") != str(self.config.agent_id):
            return error_page("参数错误", "agentid 不是本企业的应用。")
        target = urlsplit(q.get("redirect_uri", ""))
        if target.scheme not in ("http", "https") or not target.hostname:
            return error_page("redirect_uri 参数错误", "redirect_uri 必须是完整的 http(s) 地址。")
        if target.hostname not in self.config.redirect_hosts():
            return error_page("redirect_uri 参数错误", f"{target.hostname} 不是应用的可信域名。")
        if request.method == "POST":
            userid = dict(_form(request.body)).get("userid", "")
            associate = self.state.data["associates"].get(userid)
            if associate is None or associate["resigned"]:
                return error_page("无法登录", "该成员不在企业通讯录中或已离职。")
            query = urlencode({"code": self._code_issue(userid), "state": q.get("state", "")})
            joined = f"{target.query}&{query}" if target.query else query
            return redirect(urlunsplit((target.scheme, target.netloc, target.path, joined, "")))
        self_url = "/wwlogin/sso/login?" + urlencode(q)
        image = qrcode.make(f"{self.config.public_url}{self_url}", border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        qr = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        buttons = []
        for associate in self.state.data["associates"].values():
            if associate["resigned"]:
                continue
            label = f"{associate['name']}（{associate['store'] or associate['userid']}）扫码并确认登录"
            buttons.append(
                f'<form method="post" action="{html.escape(self_url)}" class="scan-as">'
                f'<input type="hidden" name="userid" value="{html.escape(associate["userid"])}">'
                f'<button type="submit" data-userid="{html.escape(associate["userid"])}">{html.escape(label)}</button>'
                "</form>"
            )
        members = "".join(buttons) or "<p>还没有成员：请先在模拟器首页新建导购。</p>"
        body = (
            '<div class="web-login"><h1>企业微信登录</h1><p>请使用企业微信扫描二维码登录</p>'
            f'<img class="qr" alt="登录二维码" width="200" height="200" src="{qr}">'
            f"<h2>模拟器：谁在扫码？</h2>{members}</div>"
        )
        return html_response(plain_page("企业微信登录", body), headers=[("Cache-Control", "no-store")])

    def _login_page(self, request: Request) -> Response:
        links = []
        for associate in self.state.data["associates"].values():
            if associate["resigned"]:
                continue
            query = urlencode({**request.query, "as_userid": associate["userid"]})
            label = f"{associate['name']}（{associate['store'] or associate['userid']}）"
            links.append(f'<li><a href="/connect/oauth2/authorize?{html.escape(query)}">{html.escape(label)}</a></li>')
        items = "".join(links) or "<li>还没有导购：请先在模拟器首页新建导购。</li>"
        body = f"<h1>选择登录的导购</h1><p>企业微信会用当前登录的成员授权；模拟器里请选择一位导购。</p><ul>{items}</ul>"
        return html_response(plain_page("企业微信授权", body))

    # QR codes ----------------------------------------------------------------------------------------

    def qr_png(self, kind: str, config_id: str) -> Response:
        if kind not in QR_KINDS or config_id not in self.state.data[f"{kind}s"]:
            return not_found("unknown QR code")
        image = qrcode.make(f"{self.config.public_url}/scan/{kind}/{config_id}", border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(200, buffer.getvalue(), [("Content-Type", "image/png"), ("Cache-Control", "max-age=60")])

    def scan(self, request: Request, kind: str, config_id: str) -> Response:
        """A customer scans a QR: GET shows who scans, POST does it (a new customer when no one is chosen)."""
        if kind not in QR_KINDS or config_id not in self.state.data[f"{kind}s"]:
            return error_page("二维码已失效", "这个二维码对应的配置不存在或已删除。")
        done = ""
        if request.method == "POST":
            form = dict(_form(request.body))
            try:
                external_userid = (
                    form.get("external_userid")
                    or self.world.customer_create(name=form.get("name") or "新客户")["external_userid"]
                )
                if kind == "contact_way":
                    self.world.contact_add(external_userid=external_userid, config_id=config_id)
                    done = "已添加导购为好友，欢迎语与回调已发出。"
                else:
                    result = self.world.group_join(member=external_userid, config_id=config_id)
                    done = f"已加入群聊「{result['group_chat']['name']}」。"
            except WorldError as error:
                done = f"没有成功：{error.message}"
        options = "".join(
            f'<option value="{html.escape(c["external_userid"])}">{html.escape(c["name"])}</option>'
            for c in self.state.data["customers"].values()
        )
        title = "添加导购" if kind == "contact_way" else "加入群聊"
        body = (
            f"<h1>扫码{title}</h1>"
            + (f"<p class=done>{html.escape(done)}</p>" if done else "")
            + '<form method="post"><label>扫码的客户 <select name="external_userid">'
            + '<option value="">（新客户）</option>'
            + options
            + '</select></label><label>新客户昵称 <input name="name" placeholder="新客户"></label>'
            + f"<button>以此身份扫码{title}</button></form><p><a href=/>返回模拟器</a></p>"
        )
        return html_response(plain_page(title, body))

    def link_page(self, request: Request, link_id: str) -> Response:
        """An acquisition link opened in WeChat: GET shows who opens it, POST adds the member WeCom picks (a new
        customer when no one is chosen); ?customer_channel= comes back as the add's State."""
        link = self.state.data.get("acquisition_links", {}).get(link_id)
        if link is None:
            return error_page("链接已失效", "这个获客链接不存在或已删除。")
        done = ""
        if request.method == "POST":
            form = dict(_form(request.body))
            try:
                external_userid = (
                    form.get("external_userid")
                    or self.world.customer_create(name=form.get("name") or "新客户")["external_userid"]
                )
                result = self.world.link_open(
                    external_userid=external_userid,
                    link_id=link_id,
                    customer_channel=request.query.get("customer_channel", ""),
                )
                done = f"已添加导购 {result['relation']['userid']} 为好友，欢迎语与回调已发出。"
            except WorldError as error:
                done = f"没有成功：{error.message}"
        options = "".join(
            f'<option value="{html.escape(c["external_userid"])}">{html.escape(c["name"])}</option>'
            for c in self.state.data["customers"].values()
        )
        body = (
            f"<h1>{html.escape(link['link_name'])}</h1><p>点击添加企业微信好友</p>"
            + (f"<p class=done>{html.escape(done)}</p>" if done else "")
            + '<form method="post"><label>打开链接的客户 <select name="external_userid">'
            + '<option value="">（新客户）</option>'
            + options
            + '</select></label><label>新客户昵称 <input name="name" placeholder="新客户"></label>'
            + "<button>添加好友</button></form><p><a href=/>返回模拟器</a></p>"
        )
        return html_response(plain_page("获客链接", body))

    # The JS-SDK stand-in's server side ----------------------------------------------------------------

    def jssdk(self, request: Request, name: str) -> Response:
        if request.method == "OPTIONS":
            return Response(204, b"", list(CORS_HEADERS))
        if name == "context" and request.method == "GET":
            return json_response({"context": self.state.data["ui"]["current"]}, cors=True)
        if request.method != "POST" or name not in ("verify", "send_chat_message", "scan_qrcode", "open_chat"):
            return not_found()
        try:
            body = request.json() or {}
        except (ValueError, UnicodeDecodeError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        if name == "scan_qrcode":
            return json_response(self.jssdk_scan(body), cors=True)
        if name == "open_chat":
            return json_response(self.jssdk_open_chat(body), cors=True)
        result = self.jssdk_verify(body) if name == "verify" else self.jssdk_send(body)
        return json_response(result, cors=True)

    def jssdk_open_chat(self, body: dict) -> dict:
        """wx.openEnterpriseChat / wx.invoke('openUserProfile', {type: 2}) for one customer of the member signed in
        to the UI: that single chat becomes the UI's open chat (its sidebar opens beside it)."""
        api = body.get("api") if body.get("api") in OPEN_CHAT_APIS else "openEnterpriseChat"
        fail = f"{api}:fail "
        session = self.state.data["jssdk_sessions"].get(body.get("session"))
        if not session or session["kind"] != "agent_config" or session["expires_at"] <= self.state.now():
            return {"err_msg": fail + "no permission"}
        if api not in session["js_api_list"]:
            return {"err_msg": fail + "no permission"}
        external_userid = str(body.get("external_userid") or "")
        with self.state.change() as data:
            current = data["ui"]["current"] or {}
            userid = current.get("userid", "")
            if not userid or relation_key(userid, external_userid) not in data["relations"]:
                return {"err_msg": fail + "invalid external userid"}
            context = {
                "userid": userid,
                "entry": "single_chat_tools",
                "external_userid": external_userid,
                "chat_id": "",
            }
            data["ui"]["current"] = context
        return {"err_msg": f"{api}:ok", "context": context}

    def jssdk_verify(self, body: dict) -> dict:
        """wx.config (corp jsapi_ticket) or wx.agentConfig (the app's agent_config ticket)."""
        api = body.get("api")
        if api not in ("config", "agentConfig"):
            return {"ok": False, "errMsg": "invalid api"}
        prefix = "config:" if api == "config" else "agentConfig:fail "
        corp_id = body.get("appId") if api == "config" else body.get("corpid")
        if corp_id != self.config.corp_id:
            return {"ok": False, "errMsg": f"{prefix}invalid corpid"}
        if api == "agentConfig" and str(body.get("agentid", "")) != str(self.config.agent_id):
            return {"ok": False, "errMsg": f"{prefix}invalid agentid"}
        url = str(body.get("url", "")).split("#", 1)[0]
        kind = "jsapi" if api == "config" else "agent_config"
        now = self.state.now()
        with self.state.lock:
            tickets = [t for t, e in self.state.data["tickets"].items() if e["type"] == kind and e["expires_at"] > now]
        signature = str(body.get("signature", ""))
        for ticket in tickets:
            expected = jssdk_signature(
                ticket=ticket, noncestr=str(body.get("nonceStr", "")), timestamp=str(body.get("timestamp", "")), url=url
            )
            if secrets.compare_digest(expected, signature):
                break
        else:
            return {"ok": False, "errMsg": f"{prefix}invalid signature"}
        session = secrets.token_urlsafe(24)
        api_list = [a for a in body.get("jsApiList") or [] if isinstance(a, str)]
        with self.state.change() as data:
            data["jssdk_sessions"] = {s: e for s, e in data["jssdk_sessions"].items() if e["expires_at"] > now}
            data["jssdk_sessions"][session] = {
                "kind": kind,
                "url": url,
                "js_api_list": api_list,
                "expires_at": now + JSSDK_SESSION_TTL_SECONDS,
            }
        return {"ok": True, "errMsg": "config:ok" if api == "config" else "agentConfig:ok", "session": session}

    def jssdk_send(self, body: dict) -> dict:
        """wx.invoke('sendChatMessage'): the message lands in the open chat's transcript."""
        fail = "sendChatMessage:fail "
        session = self.state.data["jssdk_sessions"].get(body.get("session"))
        if not session or session["kind"] != "agent_config" or session["expires_at"] <= self.state.now():
            return {"err_msg": fail + "no permission"}
        if "sendChatMessage" not in session["js_api_list"]:
            return {"err_msg": fail + "no permission"}
        context = body.get("context") or {}
        userid, chat_id = context.get("userid", ""), context.get("chat_id", "")
        external_userid = context.get("external_userid", "")
        with self.state.lock:
            data = self.state.data
            if chat_id:
                chat = data["group_chats"].get(chat_id)
                if not chat or chat["dismissed"]:
                    return {"err_msg": fail + "without context of external chat"}
                key = group_chat_key(chat_id)
            else:
                if relation_key(userid, external_userid) not in data["relations"]:
                    return {"err_msg": fail + "without context of external contact"}
                key = single_chat_key(userid, external_userid)
        msgtype = body.get("msgtype") or "text"
        if msgtype not in SEND_CHAT_MESSAGE_TYPES:
            return {"err_msg": fail + "invalid msgtype"}
        content = body.get(msgtype)
        if not isinstance(content, dict):
            return {"err_msg": fail + f"missing {msgtype}"}
        if msgtype == "text" and not content.get("content"):
            return {"err_msg": fail + "empty content"}
        if msgtype in ("image", "video", "file") and self.api.media_valid(content.get("mediaid")) is None:
            return {"err_msg": fail + "invalid mediaid"}
        if msgtype == "news" and not (content.get("link") and content.get("title")):
            return {"err_msg": fail + "news needs link and title"}
        if msgtype == "miniprogram" and not all(content.get(k) for k in ("appid", "title", "page")):
            return {"err_msg": fail + "miniprogram needs appid, title and page"}
        self.world.chat_message(
            key=key, sender=userid, sender_type="associate", kind="sidebar", msgtype=msgtype, body=dict(content)
        )
        return {"err_msg": "sendChatMessage:ok"}

    def jssdk_scan(self, body: dict) -> dict:
        """wx.scanQRCode: what the camera read ({kind, text} from the UI), answered as WeCom does. With needResult=1
        resultStr is the QR code's text, or "<FORMAT>,<digits>" for a barcode (EAN_13,6901234567890)."""
        session = self.state.data["jssdk_sessions"].get(body.get("session"))
        if not session or session["expires_at"] <= self.state.now() or "scanQRCode" not in session["js_api_list"]:
            return {"errMsg": "scanQRCode:permission denied"}
        scan_types = body.get("scanType") or list(SCAN_TYPES)
        kind, text = body.get("kind"), str(body.get("text") or "").strip()
        if not isinstance(scan_types, list) or not set(scan_types) <= set(SCAN_TYPES):
            return {"errMsg": "scanQRCode:fail invalid scanType"}
        if kind not in scan_types or not text:
            return {"errMsg": "scanQRCode:fail no code recognised"}
        if not body.get("needResult"):
            return {"errMsg": "scanQRCode:ok"}
        if kind == "qrCode":
            return {"errMsg": "scanQRCode:ok", "resultStr": text}
        barcode_format = BARCODE_FORMATS.get(len(text)) if text.isdigit() else None
        if text.isascii() and text.isprintable() and barcode_format is None and len(text) <= 48:
            barcode_format = "CODE_128"
        if barcode_format is None:
            return {"errMsg": "scanQRCode:fail no code recognised"}
        return {"errMsg": "scanQRCode:ok", "resultStr": f"{barcode_format},{text}"}


def _form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
