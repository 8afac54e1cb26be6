"""The emulator as one WSGI app, served by Django's threaded development server (no new dependencies).

    /cgi-bin/…                 WeCom's server API (api/, routed in api/dispatch.py)
    /connect/oauth2/authorize  OAuth: WeCom's (ui.py), or the Official Account's for its appid (wechat.py)
    /sns/…, /wechat/open       WeChat for customers: the OA's web authorization API, a page opened in WeChat
    /control/…                 the control API (control.py)
    /, /static/, /jssdk/, /qr/, /scan/, /media/, /avatar/   the browser UI and the JS-SDK stand-in (ui.py)

`start_emulator()` runs it in a background thread (tests); `Emulator.serve()` in the foreground (the
`wecom_emulator` management command).
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from wecom.emulator.api.dispatch import WeComApi
from wecom.emulator.callbacks import CallbackDispatcher
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.control import ControlApi
from wecom.emulator.state import EmulatorState
from wecom.emulator.ui import BrowserUi
from wecom.emulator.web import Request, Response, json_response, not_found
from wecom.emulator.wechat import WeChatOa
from wecom.emulator.world import World

logger = logging.getLogger("wecom.emulator")


class Emulator:
    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.state = EmulatorState(config.state_path)
        self.callbacks = CallbackDispatcher(
            state=self.state,
            crypto=config.crypto(),
            agent_id=str(config.agent_id),
            callback_url=lambda: self.config.callback_url,
            on_first_attempt=lambda record: self.world.welcome_started(record),
        )
        self.world = World(state=self.state, callbacks=self.callbacks)
        self.api = WeComApi(config=config, state=self.state, world=self.world)
        self.control = ControlApi(config=config, state=self.state, world=self.world, callbacks=self.callbacks)
        self.ui = BrowserUi(config=config, state=self.state, world=self.world, api=self.api)
        self.wechat = WeChatOa(config=config, state=self.state)

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        try:
            request = Request.from_environ(environ)
        except ValueError:
            response = json_response({"error": {"code": "too_large", "message": "request body too large"}}, 413)
        else:
            try:
                response = self.route(request)
            except Exception:
                logger.exception("emulator error on %s %s", request.method, request.path)
                response = json_response({"errcode": -1, "errmsg": "emulator internal error (see its log)"}, 500)
        start_response(response.status_line, response.headers)
        return [response.body]

    def route(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/cgi-bin/"):
            return self.api.handle(request, path.removeprefix("/cgi-bin/").strip("/"))
        if path.startswith("/control/"):
            return self.control.handle(request, path.removeprefix("/control/"))
        if path.startswith("/sns/"):
            return self.wechat.handle_api(request, path.removeprefix("/sns/").strip("/"))
        if path == "/wechat/open" and request.method == "GET":
            return self.wechat.open(request)
        if path == "/connect/oauth2/authorize" and self.wechat.handles_authorize(request):
            return self.wechat.authorize(request)
        return self.ui.handle(request) or not_found()

    def close(self) -> None:
        self.callbacks.stop()
        self.state.close()


class _RequestHandler(WSGIRequestHandler):
    """Django's handler, with successful requests logged at DEBUG: the UI polls every second.

    Without TCP_NODELAY an answer written in two sends (headers, then body) waits out the client's delayed ACK, about
    40 ms a call on a kept-alive connection: a WeCom page answered in 2 ms took 45, and benchmarks measured that.
    """

    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if len(args) > 1 and str(args[1]).isdigit() and int(args[1]) < 400:
            logger.debug(format, *args)
            return
        super().log_message(format, *args)


@dataclass
class RunningEmulator:
    """An emulator serving in a background thread; `stop()` shuts it down and saves its state."""

    emulator: Emulator
    server: ThreadedWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.emulator.config.public_url

    @property
    def api_base(self) -> str:
        return f"{self.url}/cgi-bin/"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/connect/oauth2/authorize"

    def control(self, method: str, path: str, payload: dict | None = None, **params: Any) -> dict:
        """Call the control API; raises for a 4xx/5xx answer."""
        response = requests.request(
            method, f"{self.url}/control/{path.lstrip('/')}", json=payload, params=params or None, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.emulator.close()


def bind(host: str, port: int) -> ThreadedWSGIServer:
    return ThreadedWSGIServer((host, port), _RequestHandler)


def start_emulator(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Serve the emulator in a daemon thread (port 0 = a free port); the config's public_url is filled in."""
    server = bind(host, port)
    if not config.public_url:
        config.public_url = f"http://{host}:{server.server_address[1]}"
    emulator = Emulator(config)
    server.set_app(emulator)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="wecom-emulator", daemon=True
    )
    thread.start()
    return RunningEmulator(emulator=emulator, server=server, thread=thread)
