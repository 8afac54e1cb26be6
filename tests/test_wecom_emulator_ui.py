"""The emulator's browser UI with Debian's Chromium: pick an associate, open a chat, and the sidebar page
in the iframe (another origin) runs wx.agentConfig with a real signature, reads the current customer and
sends a message that appears in the transcript. Saves artifacts/emulator_chat.png."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings

from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator
from wecom.jssdk import jssdk_signature

CORP_ID, AGENT_ID, SECRET = "wwe1a2b3c4d5e6f708", "1000002", "emulator-test-secret"
RECOMMENDATION = "李四您好！您上次买的保湿精华快用完了吧？本周到店可领 50 元专属券。"

pytestmark = pytest.mark.browser

SIDEBAR_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Omni 侧边栏（测试页）</title>
<script src="{emulator}/jssdk/jwxwork.js"></script>
<style>
  body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 0; padding: 14px; color: #1f1f1f; }}
  h3 {{ margin: 0 0 10px; }} .row {{ margin: 8px 0; font-size: 13px; }} .label {{ color: #888; }}
  .card {{ background: #f4f8ff; border-radius: 8px; padding: 10px; margin-top: 12px; }}
</style></head>
<body>
  <h3>客户画像</h3>
  <div class="row"><span class="label">配置前调用：</span><span id="before">…</span></div>
  <div class="row"><span class="label">应用签名：</span><span id="config">…</span></div>
  <div class="row"><span class="label">入口：</span><span id="entry">…</span></div>
  <div class="row"><span class="label">当前客户：</span><span id="contact">…</span></div>
  <div class="row"><span class="label">发送推荐：</span><span id="send">…</span></div>
  <div class="card">会员等级：金卡 · 近 90 天消费 ¥2,380<br>推荐搭配：保湿精华 + 修护面霜</div>
<script>
  function show(id, text) {{ document.getElementById(id).textContent = text; }}
  wx.invoke("getCurExternalContact", {{}}, function (res) {{ show("before", res.err_msg); }});
  wx.agentConfig({{
    corpid: "{corp_id}", agentid: "{agent_id}", timestamp: "{timestamp}", nonceStr: "{nonce}",
    signature: "{signature}",
    jsApiList: ["getContext", "getCurExternalContact", "getCurExternalChat", "sendChatMessage"],
    success: function (res) {{
      show("config", res.errMsg);
      wx.invoke("getContext", {{}}, function (ctx) {{
        show("entry", ctx.err_msg + " " + ctx.entry);
        wx.invoke("getCurExternalContact", {{}}, function (res) {{
          show("contact", res.err_msg + " " + res.userId);
          wx.invoke("sendChatMessage", {{ msgtype: "text", text: {{ content: "{message}" }} }}, function (sent) {{
            wx.invoke("sendChatMessage", {{
              msgtype: "news",
              news: {{
                link: "http://127.0.0.1:8000/coupon/", title: "春季焕肤券包", desc: "到店或线上均可使用，7 天内有效"
              }}
            }}, function (news) {{ show("send", sent.err_msg + " / " + news.err_msg); }});
          }});
        }});
      }});
    }},
    fail: function (res) {{ show("config", res.errMsg); }}
  }});
</script>
</body></html>
"""


class PageServer:
    """Serves the sidebar test page on its own port: a different origin from the emulator's UI."""

    def __init__(self):
        self.page = b""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(server.page)))
                self.end_headers()
                self.wfile.write(server.page)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sidebar/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def page_server():
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture
def emulator(page_server):
    running = start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token="QDG6eK",
            encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            callback_url="http://127.0.0.1:9/wecom/callback/",
            sidebar_url=page_server.url,
        )
    )
    running.control("POST", "faults", {"callbacks": "off"})
    yield running
    running.stop()


def test_the_sidebar_in_the_chat_signs_in_reads_the_customer_and_sends_into_the_transcript(
    emulator, page_server, browser
):
    # Given an associate with a customer who got a welcome message and wrote back,
    emulator.control("POST", "associates", {"userid": "zhangsan", "name": "张三", "store": "上海南京西路店"})
    emulator.control("POST", "associates", {"userid": "wangwu", "name": "王五", "store": "北京三里屯店"})
    customer = emulator.control("POST", "customers", {"name": "李四", "gender": 2})["external_userid"]
    other = emulator.control("POST", "customers", {"name": "赵敏", "gender": 2})["external_userid"]
    added = emulator.control("POST", "contacts/add", {"external_userid": customer, "userid": "zhangsan"})
    emulator.control("POST", "contacts/add", {"external_userid": other, "userid": "zhangsan", "state": "store_sh01"})
    token = requests.get(
        f"{emulator.api_base}gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}, timeout=10
    ).json()["access_token"]
    requests.post(
        f"{emulator.api_base}externalcontact/send_welcome_msg",
        params={"access_token": token},
        json={
            "welcome_code": added["welcome_code"],
            "text": {"content": "您好，我是栖木上海南京西路店的张三，很高兴为您服务！"},
        },
        timeout=10,
    )
    emulator.control(
        "POST",
        "transcript",
        {"userid": "zhangsan", "external_userid": customer, "sender": customer, "text": "你好，想问问精华液"},
    )
    # and a sidebar page signed for its own URL with the agent_config ticket the emulator issued,
    ticket = requests.get(
        f"{emulator.api_base}ticket/get", params={"access_token": token, "type": "agent_config"}, timeout=10
    ).json()["ticket"]
    timestamp, nonce = "1700000000", "Wm3WZYTPz0wzccnW"
    page_server.page = SIDEBAR_PAGE.format(
        emulator=emulator.url,
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        timestamp=timestamp,
        nonce=nonce,
        signature=jssdk_signature(ticket=ticket, noncestr=nonce, timestamp=timestamp, url=page_server.url),
        message=RECOMMENDATION,
    ).encode()

    # when the associate opens the chat in the emulator's UI,
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "zhangsan")
    page.click(f'#customer-list li[data-external-userid="{customer}"]')
    sidebar = page.frame_locator("#sidebar-frame")

    # then the sidebar is refused before agentConfig, allowed after, sees the open chat's customer,
    sidebar.locator("#send").filter(has_text="sendChatMessage:ok").wait_for(timeout=15000)
    assert sidebar.locator("#before").inner_text() == "getCurExternalContact:fail no permission"
    assert sidebar.locator("#config").inner_text() == "agentConfig:ok"
    assert sidebar.locator("#entry").inner_text() == "getContext:ok single_chat_tools"
    assert sidebar.locator("#contact").inner_text() == f"getCurExternalContact:ok {customer}"
    assert sidebar.locator("#send").inner_text() == "sendChatMessage:ok / sendChatMessage:ok"
    # and what it sent shows in the transcript without a reload.
    page.locator("#transcript .msg[data-kind=sidebar]").nth(1).wait_for(timeout=10000)
    texts = page.locator("#transcript .msg").all_inner_texts()
    assert any(RECOMMENDATION in text for text in texts)
    assert any("春季焕肤券包" in text for text in texts)
    transcript = emulator.control("GET", "transcript", userid="zhangsan", external_userid=customer)["messages"]
    assert [m["kind"] for m in transcript] == ["welcome", "chat", "sidebar", "sidebar"]

    artifacts = Path(settings.BASE_DIR) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "emulator_chat.png"))


WW_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>ww</title>
<script src="{emulator}/jssdk/jwxwork.js"></script></head>
<body><p id="result">…</p>
<script>
  ww.register({{
    corpId: "{corp_id}", agentId: "{agent_id}",
    jsApiList: ["getContext", "getCurExternalContact", "sendChatMessage"],
    getAgentConfigSignature: function (url) {{
      return {{ timestamp: "{timestamp}", nonceStr: "{nonce}", signature: "{signature}" }};
    }}
  }});
  ww.getCurExternalContact()
    .then(function (contact) {{
      return ww.sendChatMessage({{ msgtype: "text", text: {{ content: "ww 发送" }} }}).then(function (sent) {{
        document.getElementById("result").textContent = contact.errMsg + " " + contact.userId + " / " + sent.errMsg;
      }});
    }})
    .catch(function (error) {{ document.getElementById("result").textContent = "失败 " + error.errMsg; }});
</script></body></html>
"""


def test_the_newer_ww_api_registers_and_reads_the_chat_the_ui_has_open_outside_the_iframe(
    emulator, page_server, browser
):
    emulator.control("POST", "associates", {"userid": "zhangsan", "name": "张三"})
    customer = emulator.control("POST", "customers", {"name": "李四"})["external_userid"]
    emulator.control("POST", "contacts/add", {"external_userid": customer, "userid": "zhangsan"})
    emulator.control("POST", "ui/open", {"userid": "zhangsan", "external_userid": customer})
    token = requests.get(
        f"{emulator.api_base}gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}, timeout=10
    ).json()["access_token"]
    ticket = requests.get(
        f"{emulator.api_base}ticket/get", params={"access_token": token, "type": "agent_config"}, timeout=10
    ).json()["ticket"]
    page_server.page = WW_PAGE.format(
        emulator=emulator.url,
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        timestamp="1700000000",
        nonce="n0nce",
        signature=jssdk_signature(ticket=ticket, noncestr="n0nce", timestamp="1700000000", url=page_server.url),
    ).encode()

    page = browser.new_page()
    page.goto(page_server.url)
    page.locator("#result").filter(has_text="sendChatMessage").wait_for(timeout=10000)

    assert page.locator("#result").inner_text() == f"getCurExternalContact:ok {customer} / sendChatMessage:ok"
    transcript = emulator.control("GET", "transcript", userid="zhangsan", external_userid=customer)["messages"]
    assert [(m["kind"], m["body"]) for m in transcript] == [("sidebar", {"content": "ww 发送"})]
