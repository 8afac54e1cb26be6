"""The emulated corp's state: one JSON-shaped dict behind one lock, saved atomically to a file.

Everything WeCom would remember (members, customers, relationships, tags, groups, mass messages,
tokens, tickets, codes, media metadata) lives in `data` and survives a restart when a state file is
given. Logs and rate counters are kept in memory only. The clock is the wall clock plus an offset a
test can advance, so expiries (tokens, welcome codes, media) are real but testable without sleeping.
"""

import calendar
import json
import os
import secrets
import string
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from wecom.emulator import limits as L
from wecom.emulator.generated import GeneratedCorp

STATE_VERSION = 1
# WeCom's natural month (for the mass-message receive cap) is China's.
CORP_TZ = ZoneInfo("Asia/Shanghai")
CALL_LOG_SIZE = 10_000
DELIVERY_LOG_SIZE = 2_000
SAVE_DEBOUNCE_SECONDS = 0.2
_ID_ALPHABET = string.ascii_letters + string.digits + "_-"
# WeCom's root department, the corp itself; every member is in it unless placed in another.
ROOT_DEPARTMENT_ID = 1


@dataclass
class Faults:
    """What a test or the UI can change at run time; WeCom's own values are the defaults."""

    rate_limit_rate: float = 0.0  # share of API calls answered 45009
    busy_rate: float = 0.0  # share of API calls answered -1
    latency_ms: int = 0
    only_apis: list[str] = field(default_factory=list)  # the faults above hit only these APIs ([] = all)
    token_ttl: int = L.TOKEN_TTL_SECONDS
    per_minute_limit: int = L.RATE_LIMIT_PER_MINUTE
    per_hour_limit: int = L.RATE_LIMIT_PER_HOUR
    monthly_cap: int | None = L.MONTHLY_RECEIVE_CAP
    callbacks: str = "on"  # on | off | duplicate
    callback_timeout: float = L.CALLBACK_TIMEOUT_SECONDS
    callback_retry_delay: float = L.CALLBACK_RETRY_DELAY_SECONDS
    transfer_outcome: str = ""  # "" = wait for /control/transfers/resolve; success | refused | limit

    CALLBACK_MODES = ("on", "off", "duplicate")
    TRANSFER_OUTCOMES = ("", "success", "refused", "limit")

    def update(self, changes: dict) -> None:
        """Apply `changes` (a JSON object); ValueError names the first bad field and changes nothing."""
        known = {f.name: f for f in fields(self)}
        staged = asdict(self)
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            staged[name] = _fault_value(name, value)
        for name, value in staged.items():
            setattr(self, name, value)

    def applies_to(self, api: str) -> bool:
        return not self.only_apis or api in self.only_apis


def _fault_value(name: str, value: Any) -> Any:
    if name in ("rate_limit_rate", "busy_rate"):
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1")
        return float(value)
    if name in ("latency_ms", "token_ttl", "per_minute_limit", "per_hour_limit"):
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "latency_ms" else 1):
            raise ValueError(f"{name} must be a positive integer")
        return value
    if name == "monthly_cap":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValueError("monthly_cap must be a non-negative integer, or null for the days in the month")
        return value
    if name in ("callback_timeout", "callback_retry_delay"):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative number of seconds")
        return float(value)
    if name == "only_apis":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("only_apis must be a list of API paths such as 'externalcontact/get'")
        return value
    if name == "callbacks":
        if value not in Faults.CALLBACK_MODES:
            raise ValueError(f"callbacks must be one of {', '.join(Faults.CALLBACK_MODES)}")
        return value
    if name == "transfer_outcome":
        if value not in Faults.TRANSFER_OUTCOMES:
            raise ValueError("transfer_outcome must be '', 'success', 'refused' or 'limit'")
        return value
    raise ValueError(f"unknown fault {name!r}")


@dataclass
class CorpAdmin:
    """What the corp's admin sets in WeCom's console (管理后台) for the app; the defaults let everything through, as
    the demo needs. A test or the UI changes one to see Omni's `wecom_check` name the fault and where to fix it."""

    # 应用管理 → 自建应用 → 企业可信IP: addresses the app's API calls may come from ([] = any; gettoken is never
    # refused, as on WeCom: the calls made with its token are).
    ip_allowlist: list[str] = field(default_factory=list)
    # 应用管理 → 自建应用 → 可见范围: departments (with their sub-departments), members and member tags.
    visible_partys: list[int] = field(default_factory=lambda: [ROOT_DEPARTMENT_ID])
    visible_users: list[str] = field(default_factory=list)
    visible_tags: list[int] = field(default_factory=list)
    # 应用管理 → 自建应用 → 网页授权及JS-SDK → 可信域名, agent/get's redirect_domain ("" = the config's default:
    # its first trusted host, else the sidebar URL's host).
    trusted_domain: str = ""
    # 客户联系 → 权限配置 → 使用范围: members who may have customers (None = every member).
    contact_users: list[str] | None = None
    # 客户联系 → API → 可调用接口的应用: whether this app is one (False: customer-contact APIs answer 48002).
    contact_api: bool = True

    def update(self, changes: dict) -> None:
        """Apply `changes` (a JSON object); ValueError names the first bad field and changes nothing."""
        known = {f.name for f in fields(self)}
        staged = asdict(self)
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown admin setting {name!r}")
            staged[name] = _admin_value(name, value)
        for name, value in staged.items():
            setattr(self, name, value)

    def party_visible(self, department_id: int, departments: dict) -> bool:
        """Whether the department or one of its parents is in the visible range."""
        seen = set()
        current = department_id
        while current and current not in seen:
            if current in self.visible_partys:
                return True
            seen.add(current)
            current = departments.get(str(current), {}).get("parentid", 0)
        return False

    def member_visible(self, associate: dict, departments: dict) -> bool:
        return associate["userid"] in self.visible_users or any(
            self.party_visible(d, departments) for d in associate.get("department") or [ROOT_DEPARTMENT_ID]
        )

    def has_contact_permission(self, userid: str) -> bool:
        return self.contact_users is None or userid in self.contact_users


def _admin_value(name: str, value: Any) -> Any:
    if name in ("ip_allowlist", "visible_users"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name} must be a list of non-empty strings")
        return value
    if name in ("visible_partys", "visible_tags"):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name} must be a list of integer ids")
        return value
    if name == "trusted_domain":
        if not isinstance(value, str) or "/" in value:
            raise ValueError("trusted_domain must be a host name (with an optional :port), or ''")
        return value
    if name == "contact_users":
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ValueError("contact_users must be a list of userids, or null for every member")
        return value
    if name == "contact_api":
        if not isinstance(value, bool):
            raise ValueError("contact_api must be true or false")
        return value
    raise ValueError(f"unknown admin setting {name!r}")


def fresh_data() -> dict:
    return {
        "version": STATE_VERSION,
        "clock_offset": 0.0,
        "associates": {},  # userid -> {userid, name, store, department[], resigned, created_at}
        # str(id) -> {id, name, parentid, order}; the root (1) is the corp.
        "departments": {str(ROOT_DEPARTMENT_ID): {"id": ROOT_DEPARTMENT_ID, "name": "企业", "parentid": 0, "order": 1}},
        "customers": {},  # external_userid -> {external_userid, name, type, gender, avatar, unionid, created_at}
        "relations": {},  # "userid|external_userid" -> follow info
        "tag_groups": {},  # group_id -> {group_id, group_name, create_time, order, deleted}
        "tags": {},  # tag_id -> {id, name, create_time, order, group_id, deleted}
        "contact_ways": {},  # config_id -> add_contact_way body + config_id
        "join_ways": {},  # config_id -> add_join_way body + config_id
        # link_id -> {link_id, link_name, url, create_time, skip_verify, range{user_list, department_list},
        # priority_option, next, customers[{external_userid, userid, chat_status, state, create_time}], clicks}
        "acquisition_links": {},
        "acquisition_quota": None,  # {total, used, expire_date}; set on first use (ACQUISITION_QUOTA_DEFAULT)
        "group_chats": {},  # chat_id -> {chat_id, name, owner, create_time, notice, members[], dismissed}
        "transcripts": {},  # "single|userid|external_userid" or "group|chat_id" -> [message]
        "welcome_codes": {},  # code -> {userid, external_userid, expires_at, used}
        "mass_messages": {},  # msgid -> {... tasks{userid: {status, send_time, results{target: {...}}}}}
        "monthly_receipts": {},  # external_userid -> {"YYYY-MM": count}
        "media": {},  # media_id -> {type, filename, content_type, size, created_at}
        "tokens": {},  # access_token -> {expires_at}
        "tickets": {},  # ticket -> {type: jsapi | agent_config, expires_at}
        "oauth_codes": {},  # code -> {userid, expires_at, used}
        "jssdk_sessions": {},  # session -> {kind, url, expires_at}
        "oa_codes": {},  # code -> {appid, external_userid, scope, expires_at, used} (WeChat OA web authorization)
        "oa_tokens": {},  # web access_token -> {appid, external_userid, openid, scope, expires_at}
        "oa_consents": {},  # "appid|external_userid" -> when the customer allowed snsapi_userinfo
        "transfers": [],  # {kind, handover_userid, takeover_userid, external_userid, status, takeover_time}
        "app_messages": {},  # userid -> [{msgid, msgtype, title, description, url, btntxt, created_at, read}]
        "faults": asdict(Faults()),
        "corp_admin": asdict(CorpAdmin()),
        "ui": {"current": None},  # the chat the UI has open (fallback context for the JS-SDK stand-in)
    }


def relation_key(userid: str, external_userid: str) -> str:
    return f"{userid}|{external_userid}"


def single_chat_key(userid: str, external_userid: str) -> str:
    return f"single|{userid}|{external_userid}"


def group_chat_key(chat_id: str) -> str:
    return f"group|{chat_id}"


def new_id(prefix: str = "", length: int = 32, alphabet: str = _ID_ALPHABET) -> str:
    """A random id of exactly `length` characters that starts with `prefix` (WeCom's id shapes)."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length - len(prefix)))


class EmulatorState:
    def __init__(self, path: Path | None = None):
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self.data = self._load()
        self.faults = Faults(**self.data["faults"])
        self.admin = CorpAdmin(**self.data["corp_admin"])
        self.calls: deque[dict] = deque(maxlen=CALL_LOG_SIZE)
        self.call_totals: Counter[tuple[str, str]] = Counter()  # (api, errcode) -> calls since the last clear
        self.deliveries: deque[dict] = deque(maxlen=DELIVERY_LOG_SIZE)
        self.media_bytes: dict[str, bytes] = {}
        # (api, minute) -> calls; api -> blocked until; (ticket type, hour) -> ticket calls.
        self.rate_counts: dict[tuple[str, int], int] = {}
        self.hour_counts: dict[tuple[str, int], int] = {}
        self.blocked_until: dict[str, float] = {}
        self.ticket_counts: dict[tuple[str, int], int] = {}
        # The generated corp's shape (generated.py), beside the members and customers above; kept in memory only.
        self.generated: GeneratedCorp | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver = None
        if self.path:
            self._saver = threading.Thread(target=self._save_loop, name="wecom-emulator-saver", daemon=True)
            self._saver.start()

    # The API call log (GET /control/calls) ----------------------------------------------------------

    def call_record(
        self, *, api: str, method: str, query: dict, hidden: tuple[str, ...], body, errcode: int, started: float
    ) -> None:
        """One call as the log keeps it: the query without its `hidden` (secret) parameters, and the answer's
        errcode; `started` is the call's time.monotonic()."""
        entry = {
            "at": self.now(),
            "api": api,
            "method": method,
            "params": {k: v for k, v in query.items() if k not in hidden},
            "body": body,
            "errcode": errcode,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
        }
        with self.lock:
            self.calls.append(entry)
            self.call_totals[api, str(errcode)] += 1

    # Clock -------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.data["clock_offset"]

    def advance_clock(self, seconds: float) -> float:
        with self.change():
            self.data["clock_offset"] += seconds
        return self.now()

    def month_key(self, at: float | None = None) -> str:
        return datetime.fromtimestamp(self.now() if at is None else at, CORP_TZ).strftime("%Y-%m")

    def monthly_cap(self) -> int:
        if self.faults.monthly_cap is not None:
            return self.faults.monthly_cap
        today = datetime.fromtimestamp(self.now(), CORP_TZ)
        return calendar.monthrange(today.year, today.month)[1]

    # Access ------------------------------------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator[dict]:
        """Hold the lock to read and write `data`; the change is saved shortly after."""
        with self.lock:
            yield self.data
            self.data["faults"] = asdict(self.faults)
            self.data["corp_admin"] = asdict(self.admin)
            self._dirty.set()

    def reset(self) -> None:
        with self.change():
            self.data.clear()
            self.data.update(fresh_data())
            self.faults = Faults()
            self.admin = CorpAdmin()
            self.calls.clear()
            self.call_totals.clear()
            self.deliveries.clear()
            self.media_bytes.clear()
            self.rate_counts.clear()
            self.hour_counts.clear()
            self.blocked_until.clear()
            self.ticket_counts.clear()
            self.generated = None
        if self.media_dir and self.media_dir.exists():
            for item in self.media_dir.iterdir():
                item.unlink()

    # Media bytes live beside the state file (not inside the JSON) ------------------------------

    @property
    def media_dir(self) -> Path | None:
        return self.path.with_name(self.path.name + ".media") if self.path else None

    def media_put(self, media_id: str, content: bytes) -> None:
        with self.lock:
            self.media_bytes[media_id] = content
        if self.media_dir:
            self.media_dir.mkdir(parents=True, exist_ok=True)
            (self.media_dir / media_id).write_bytes(content)

    def media_read(self, media_id: str) -> bytes | None:
        with self.lock:
            if media_id in self.media_bytes:
                return self.media_bytes[media_id]
        if self.media_dir and (self.media_dir / media_id).is_file():
            return (self.media_dir / media_id).read_bytes()
        return None

    # Persistence -------------------------------------------------------------------------------

    def _load(self) -> dict:
        if not self.path or not self.path.exists():
            return fresh_data()
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"{self.path} holds emulator state version {data.get('version')}, not {STATE_VERSION}")
        merged = fresh_data()
        merged.update(data)
        return merged

    def flush(self) -> None:
        """Write the state now: to a temporary file in the same directory, then rename over the old one."""
        if not self.path:
            return
        with self.lock:
            self._dirty.clear()
            text = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _save_loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(timeout=0.5):
                time.sleep(SAVE_DEBOUNCE_SECONDS)
                self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._saver:
            self._saver.join(timeout=5)
        self.flush()
