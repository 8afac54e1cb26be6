"""Omni settings, read from the environment.

The embedded default (no DATABASE_URL, no REDIS_URL) is a complete development setup (DEBUG on): SQLite in WAL
mode, a database cache, Celery over kombu's filesystem transport (real workers run without any server) and a
random secret key made once and kept in var/secret_key.

Production is any DATABASE_URL: it refuses to start, naming the variable, without DJANGO_SECRET_KEY,
DJANGO_ALLOWED_HOSTS and REDIS_URL; none of the embedded fallbacks applies there. A run on PostgreSQL that is not a
deployment (the test suite, a benchmark, the demo) sets OMNI_DEVELOPMENT, which keeps them.
"""

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from omni import logs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("OMNI_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

EMBEDDED = "DATABASE_URL" not in env
# Not a deployment, though on PostgreSQL: set by tests/settings.py, `./run demo`, the benchmarks' processes and CI's
# checks. It keeps the embedded default's fallbacks (a generated key, the filesystem broker when REDIS_URL is
# missing), plain static files (nothing to collect first) and cookies over plain HTTP. Never set in production.
DEVELOPMENT = env.bool("OMNI_DEVELOPMENT", default=False)
PRODUCTION = not EMBEDDED and not DEVELOPMENT
DEBUG = env.bool("DJANGO_DEBUG", default=EMBEDDED)


def _required(name: str) -> str:
    """A variable production cannot do without: its absence stops every process at start, with one line naming it
    (manage.py prints the line alone), instead of a per-node key or a broker on the local disk."""
    value = env.str(name, default="").strip()
    if PRODUCTION and not value:
        raise ImproperlyConfigured(
            f"{name} is not set: production (DATABASE_URL is set) needs it (README: Production)."
        )
    return value


def _local_secret_key() -> str:
    """A random key made once per installation, for setups that do not pass DJANGO_SECRET_KEY.

    Written to a temporary file and linked into place: processes starting together (uWSGI's workers) either create
    the key or read the one another created, never a file that is there but still empty."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        draft = path.with_name(f"secret_key.{os.getpid()}")
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):  # another process linked its key first: that one is the key
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _required("DJANGO_SECRET_KEY") or _local_secret_key()
# Key rotation: the new key in DJANGO_SECRET_KEY, the old ones here until the sessions and signed links made with
# them have expired (comma-separated).
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
_required("DJANGO_ALLOWED_HOSTS")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating load balancer: the addresses (IPs or CIDR networks) of the proxies that connect to Omni.
# Only a request from one of them keeps its X-Forwarded-Proto and X-Forwarded-For (omni.proxy strips them from any
# other), so a client cannot claim HTTPS or another address by sending the headers itself.
OMNI_TRUSTED_PROXIES = env.list("OMNI_TRUSTED_PROXIES", default=[])
if OMNI_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only, in production: the cookies never travel over plain HTTP, plain HTTP is redirected (when Omni can tell,
# i.e. behind trusted proxies; the probes are answered before, omni.health), and browsers are told to use HTTPS for a
# year. Each can be turned off for a deployment reached over plain HTTP on a private network.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION and bool(OMNI_TRUSTED_PROXIES))
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [
    # HSTS preloading is a request the brand makes for its registrable domain (and every subdomain) to the browsers'
    # list, which Omni, on one of its subdomains, cannot make for it: DJANGO_SECURE_HSTS_PRELOAD=true once it has.
    "security.W021",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Observability (omni/logs.py, omni/metrics.py): the request log and its Celery support.
    "django_structlog",
    "drf_spectacular_sidecar",
    "axes",
    "omni",
    "wecom",
    "associates",
    "notices",
    "customers",
    "clientbook",
    "coupons",
    "suggestions",
    "communities",
    "library",
    "fulfilment",
    "drafts",
    "appointments",
    "campaigns",
    "insights",
    "sidebar",
    "demo",
    "bench",
]

MIDDLEWARE = [
    # Before anything reads the scheme or the client's address: forwarded headers only from trusted proxies.
    "omni.proxy.ForwardedHeadersMiddleware",
    # /healthz and /readyz, answered before the Host header is checked.
    "omni.health.ProbeMiddleware",
    # Observability, outside everything else (they answer nothing themselves): the request's latency and count by
    # view and status (django-prometheus, paired with its After middleware at the end), then the request id and the
    # request's log line (omni/request_id.py).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "omni.request_id.RequestLogMiddleware",
    # /metrics, answered before the Host check and the HTTPS redirect: Prometheus scrapes a node by its address.
    "omni.metrics.MetricsMiddleware",
    # Outermost after that, so that every error under /api/ (even one another middleware answers) is the JSON
    # envelope.
    "omni.api.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself (hashed names, compressed, cached for a year), before the session.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "omni.api.ApiCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out admin sign-in into its lockout page.
    "axes.middleware.AxesMiddleware",
    # Observability: last, so it sees the view that answered (see PrometheusBeforeMiddleware above).
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "omni.urls"
WSGI_APPLICATION = "omni.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL when DATABASE_URL is set, otherwise SQLite in WAL mode so that the web
# process and the Celery worker can read while the other writes.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'omni.sqlite3'}")}
# What stands between the processes and PostgreSQL: nothing, or PgBouncer in transaction mode, where a server
# connection serves one transaction and then another client. Session state does not survive that: prepared
# statements (off unless DATABASE_PREPARED_STATEMENTS says otherwise, for a PgBouncer ≥ 1.21 that keeps them) and
# server-side cursors outside a transaction (Django's DISABLE_SERVER_SIDE_CURSORS: .iterator() fetches client-side).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer-transaction"):
    raise ImproperlyConfigured(f"DATABASE_POOLER={DATABASE_POOLER!r}: empty or pgbouncer-transaction")
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=not DATABASE_POOLER)


def postgres_database(
    url: str, *, replica: bool = False, pooler: str = DATABASE_POOLER, prepared: bool = DATABASE_PREPARED_STATEMENTS
) -> dict:
    """The DATABASES entry of a PostgreSQL URL: the primary's, or (`replica`) a streaming replica's; behind `pooler`,
    with or without `prepared` statements (this process's DATABASE_POOLER and DATABASE_PREPARED_STATEMENTS)."""
    database = env.db_url_config(url)
    database.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    database["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
    # The hottest hand-written statements (omni.rawsql, prepare=True) are prepared once per connection; the ORM's
    # queries never are (Django binds them client-side).
    database.setdefault("OPTIONS", {})["prepare_threshold"] = 5 if prepared else None
    database["DISABLE_SERVER_SIDE_CURSORS"] = bool(pooler)
    if replica:
        # An unreachable replica costs the request that finds out at most this long; then reads go to the primary.
        database["OPTIONS"].setdefault("connect_timeout", 2)
        # Tests read the primary's test database through it: no test database is made on a read-only server.
        database["TEST"] = {"MIRROR": "default"}
    return database


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
    }
    # Tests use a file, not SQLite's shared in-memory database: with that, Django hands the test's own connection
    # to live-server threads, and a WeCom callback arriving while a test's request is inside a transaction would
    # run on that same connection mid-transaction. A file gives every thread its own connection, as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_omni.sqlite3")}
else:
    DATABASES["default"] = postgres_database(env.str("DATABASE_URL"))
# A streaming replica of the primary for heavy reads that opt in (omni.replicas): the dashboard, exports, the
# audience preview, the suggestion build. The router (omni.routers) sends nothing else there, nor anything while it
# lags more than OMNI_REPLICA_MAX_LAG seconds or cannot be reached.
if env.str("DATABASE_REPLICA_URL", default=""):
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL is a PostgreSQL replica: DATABASE_URL must be PostgreSQL too.")
    DATABASES["replica"] = postgres_database(env.str("DATABASE_REPLICA_URL"), replica=True)
DATABASE_ROUTERS = ["omni.routers.ReplicaRouter"]
OMNI_REPLICA_MAX_LAG = env.float("OMNI_REPLICA_MAX_LAG", default=30.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _required("REDIS_URL")
# Seconds to wait for Redis (cache and broker) to accept a connection: an unreachable Redis must cost a request or
# a callback this long at most, not the kernel's minutes.
REDIS_CONNECT_TIMEOUT = env.float("OMNI_REDIS_CONNECT_TIMEOUT", default=1.0)
# Two faces of one store. "default" caches what can be fetched again (sessions, which cached_db also keeps in the
# database; WeCom tokens): Redis down reads as a miss, so pages keep serving. "locks" holds take-once keys and
# counters (omni.locks): there Redis down is an error, so a lock that cannot be taken is never taken by pretence.
if REDIS_URL:
    _redis = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("OMNI_CACHE_PREFIX", default="omni"),
    }
    _redis_timeouts = {
        "SOCKET_CONNECT_TIMEOUT": REDIS_CONNECT_TIMEOUT,
        "SOCKET_TIMEOUT": env.float("OMNI_REDIS_TIMEOUT", default=2.0),
    }
    CACHES = {
        "default": {
            **_redis,
            "OPTIONS": {**_redis_timeouts, "IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": True},
        },
        "locks": {**_redis, "OPTIONS": _redis_timeouts},
    }
else:
    # A database cache is shared by the web process and the worker (locmem would not be) and
    # gives an atomic add() for locks.
    _database_cache = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "omni_cache"}
    CACHES = {"default": _database_cache, "locks": _database_cache}

# Sessions are read from the cache (Redis in production) and written through to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# One language for every page and every browser: not negotiated from Accept-Language (no LocaleMiddleware), since
# Omni's own labels are Chinese and a page must not mix them with Django's in another language.
LANGUAGE_CODE = env.str("OMNI_LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Production serves what `collectstatic` (run by `./run serve`) put in STATIC_ROOT: names with the content's hash,
# gzip and brotli copies, and WhiteNoise's Cache-Control of a year on them. Development and the test run read the
# apps' folders directly (nothing to collect first), with WhiteNoise's finders.
# OMNI_STATIC_COLLECTED=1 serves them as production does in a run that is not a deployment (after collectstatic):
# `bench sidebar_phone` measures the page as production sends it.
STATIC_COLLECTED = env.bool("OMNI_STATIC_COLLECTED", default=not (DEBUG or DEVELOPMENT))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at every start when it is missing
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "omni.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "omni.api.api_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON through omni.api's one body parser (its nesting limit); forms as DRF reads them.
    "DEFAULT_PARSER_CLASSES": [
        "omni.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Omni API",
    "DESCRIPTION": "Brand-system ingestion (members, products, orders) and Omni's JSON APIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: no external CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


def _redis_next_db(url: str) -> str:
    """The same Redis server, the next database number (15 wraps to 0)."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


# Celery. Redis when REDIS_URL is set; otherwise kombu's filesystem transport, which lets real worker and beat
# processes run with no server at all (the embedded default only: production requires REDIS_URL). The broker is
# another database than the cache's (CELERY_BROKER_URL, by default REDIS_URL's server with the next database
# number): clearing the cache (Django's clear() is FLUSHDB) never drops queued tasks.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or (_redis_next_db(REDIS_URL) if REDIS_URL else "")
CELERY_BROKER_URL = CELERY_BROKER_URL or "filesystem://"
# On Redis, a message a worker took and has not acknowledged goes back to the queue after this long. It must outlast
# the longest hard time limit of an acks_late task (omni.celery.TASKS: 3 h 5 min, the order import) and the longest
# countdown or retry backoff (10 min, the WeCom sync's retry_backoff_max), or a task still running or waiting would be
# delivered a second time (tests/test_serve.py checks both).
CELERY_BROKER_VISIBILITY_TIMEOUT = 4 * 3600
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        # The folder is polled; kombu's default of once a second would let a backlog of welcome
        # messages outlive WeCom's 20-second window.
        "polling_interval": 0.05,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
# A publish that cannot reach the broker gives up after one quick retry: the callback view answers WeCom within its
# 5 s and the stored event is queued by the requeue job once the broker is back (wecom.services).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "bulk"
# Each task's queue and time limits: omni.celery.TASKS. One reserved message per worker process at a time: a bulk
# process holds no second campaign chunk while the first runs, and a realtime message waits for a free process
# only behind realtime work (`./run serve` runs one worker per queue).
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# WeCom (see ../shared/WECOM.md). Credentials only from the environment.
WECOM_API_BASE = env.str("WECOM_API_BASE", default="https://qyapi.weixin.qq.com/cgi-bin/")
WECOM_CORP_ID = env.str("WECOM_CORP_ID", default="")
WECOM_AGENT_ID = env.str("WECOM_AGENT_ID", default="")
WECOM_SECRET = env.str("WECOM_SECRET", default="")
WECOM_TOKEN = env.str("WECOM_TOKEN", default="")
WECOM_ENCODING_AES_KEY = env.str("WECOM_ENCODING_AES_KEY", default="")
OMNI_PUBLIC_URL = env.str("OMNI_PUBLIC_URL", default="http://127.0.0.1:8000")
# `./run demo` sets these: `/` then shows the demo's index page (its URLs and published logins) instead of going to
# the admin, and names the local WeCom emulator it runs.
OMNI_DEMO = env.bool("OMNI_DEMO", default=False)
WECOM_EMULATOR_URL = env.str("WECOM_EMULATOR_URL", default="")
# Where a product sent from the chat links to ({sku} is filled in): the brand's mall, or Omni's own page.
OMNI_PRODUCT_URL = env.str("OMNI_PRODUCT_URL", default=OMNI_PUBLIC_URL.rstrip("/") + "/p/{sku}/")
# A mini-program card instead of a news card, when the brand has a mini-program bound to WeCom.
WECOM_MINIPROGRAM_APPID = env.str("WECOM_MINIPROGRAM_APPID", default="")
WECOM_MINIPROGRAM_PAGE = env.str("WECOM_MINIPROGRAM_PAGE", default="pages/product/index?sku={sku}")
WECOM_TIMEOUT = env.float("WECOM_TIMEOUT", default=10.0)
WECOM_MAX_RETRIES = env.int("WECOM_MAX_RETRIES", default=3)
WECOM_RETRY_BACKOFF = env.float("WECOM_RETRY_BACKOFF", default=0.5)
# Our own budget per API per minute, under WeCom's 10,000 so other tools of the corp keep room.
WECOM_RATE_LIMIT_PER_MINUTE = env.int("WECOM_RATE_LIMIT_PER_MINUTE", default=8000)
# And per hour, under WeCom's 150,000 (Doc 90454): past it a call is refused here, before WeCom blocks the API for an
# hour; the nightly sync's tasks then wait for the next hour.
WECOM_RATE_LIMIT_PER_HOUR = env.int("WECOM_RATE_LIMIT_PER_HOUR", default=120_000)
# A full contacts sync fans out one task per associate; at most this many are queued or running at once, so the bulk
# queue keeps room for other work (campaigns) while the sync runs for an hour or two.
WECOM_SYNC_WINDOW = env.int("WECOM_SYNC_WINDOW", default=16)
# Seconds a callback's timestamp may be away from now.
WECOM_CALLBACK_MAX_AGE = env.int("WECOM_CALLBACK_MAX_AGE", default=300)
# Seconds after which a callback event still pending is queued again by the every-minute requeue job, whatever kept
# it (a web process that died between storing and queueing, a task that gave up). Longer than the processing task's
# own retries (~9 minutes). An event whose queueing failed (the broker was down) is queued by the next run instead.
WECOM_CALLBACK_REQUEUE_AFTER = env.int("WECOM_CALLBACK_REQUEUE_AFTER", default=15 * 60)
WECOM_OAUTH_AUTHORIZE_URL = env.str(
    "WECOM_OAUTH_AUTHORIZE_URL", default="https://open.weixin.qq.com/connect/oauth2/authorize"
)
# WeCom's web login (企业微信扫码登录) for store managers signing in to admin (associates.admin_login).
WECOM_WEB_LOGIN_URL = env.str("WECOM_WEB_LOGIN_URL", default="https://login.work.weixin.qq.com/wwlogin/sso/login")
# Origins allowed to show Omni's WeCom pages in a frame (the local emulator in the demo).
OMNI_FRAME_ANCESTORS = env.list("OMNI_FRAME_ANCESTORS", default=[])
WECOM_JSSDK_URL = env.str("WECOM_JSSDK_URL", default="https://wwcdn.weixin.qq.com/node/open/js/wecom-jssdk-2.0.2.js")

# The brand's WeChat Official Account (服务号): its web authorization (网页授权) tells a campaign's landing page
# which customer opened it. Unset: the landing page is the same for everyone.
WECHAT_OA_APPID = env.str("WECHAT_OA_APPID", default="")
WECHAT_OA_SECRET = env.str("WECHAT_OA_SECRET", default="")
WECHAT_OAUTH_AUTHORIZE_URL = env.str(
    "WECHAT_OAUTH_AUTHORIZE_URL", default="https://open.weixin.qq.com/connect/oauth2/authorize"
)
WECHAT_API_BASE = env.str("WECHAT_API_BASE", default="https://api.weixin.qq.com")
# A customer waits on this call in WeChat's webview.
WECHAT_TIMEOUT = env.float("WECHAT_TIMEOUT", default=5.0)

# The UCI Online Retail data set (Chen 2015, doi 10.24432/C5BW33, CC BY 4.0) as parquet: optional large data for the
# suggestion evaluation, the importer's real-file test and the ingest benchmark; outside the repository.
OMNI_ONLINE_RETAIL_FILE = Path(
    env.str("OMNI_ONLINE_RETAIL_FILE", default=str(BASE_DIR.parent / "shared" / "data" / "online_retail.parquet"))
)

# Ingestion limits.
OMNI_INGEST_MAX_BATCH = env.int("OMNI_INGEST_MAX_BATCH", default=1000)
# Campaigns: Omni's own cap on marketing mass messages per customer, across associates and campaigns, and
# WeCom's monthly receive cap when the corp's admin changed it (unset: the days of the month, WeCom's default).
CAMPAIGN_FREQUENCY_CAP = env.int("OMNI_CAMPAIGN_FREQUENCY_CAP", default=2)
CAMPAIGN_FREQUENCY_DAYS = env.int("OMNI_CAMPAIGN_FREQUENCY_DAYS", default=7)
CAMPAIGN_MONTHLY_CAP = env.int("OMNI_CAMPAIGN_MONTHLY_CAP", default=None)
OMNI_PHONE_DEFAULT_REGION = "CN"


# ---------------------------------------------------------------------------------------------------------------
# Safety: the client's address, admin sign-in lockout, throttles, the API docs' access, retention (issue 21).

# The client's address behind OMNI_TRUSTED_PROXIES (omni.proxy.client_ip), for the admin lockout as for the throttles
# and the audit log: one client, one address.
AXES_CLIENT_IP_CALLABLE = "omni.proxy.client_ip"

# Admin sign-in (django-axes): after OMNI_ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
# that username is refused from that address for OMNI_ADMIN_LOCKOUT_MINUTES (each further try starts the wait again),
# even with the right password. By the pair, not the username alone (anyone could lock HQ out) nor the address alone
# (a store's staff share one). Every failure is kept (AccessFailureLog); superusers see them in admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("OMNI_ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("OMNI_ADMIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_ENABLE_ADMIN = False  # omni.admin registers them for superusers only

# Throttles (omni.throttling), as DRF writes rates ("30/min"; "" turns one off), kept in the cache (Redis in
# production). Failures, not requests, are counted where a genuine caller never fails: a till redeeming real codes
# at any rate is never throttled; a key trying made-up codes is, and a visitor trying made-up coupon-page links.
OMNI_THROTTLE_RATES = {
    # unknown coupon codes per API key, across validate, redeem and return
    "coupon_codes_failed": env.str("OMNI_THROTTLE_COUPON_CODES_FAILED", default="30/min"),
    # forged, altered or expired coupon-page links (/c/…) per client address
    "coupon_page_failed": env.str("OMNI_THROTTLE_COUPON_PAGE_FAILED", default="30/min"),
    # ingestion batches per API key (each up to OMNI_INGEST_MAX_BATCH rows)
    "ingest": env.str("OMNI_THROTTLE_INGEST", default="600/min"),
}

# The OpenAPI schema and its docs (/api/schema/, /api/docs/, /api/redoc/): open to anyone when true; else only to
# staff signed in to the admin and to API keys. Unset: open exactly when DEBUG is on (the embedded default).
OMNI_API_DOCS_PUBLIC = env.bool("OMNI_API_DOCS_PUBLIC", default=None)


def _retention_days(name: str, default: int) -> int | None:
    """Days from the environment; "never" (or empty) keeps the kind for ever."""
    value = env.str(name, default=str(default)).strip().lower()
    return None if value in ("", "never") else int(value)


# Retention (omni.retention: `manage.py prune [--dry-run]`, and daily at 04:50 by beat): how many days each kind of
# row is kept after it is done with. Expired sessions always go. Campaign recipients go only with their campaign's
# counts kept on it, and no sooner than the longest attribution window allows (366 days). The audit log is kept
# three years by default.
OMNI_AUDIT_RETENTION_DAYS = _retention_days("OMNI_AUDIT_RETENTION_DAYS", 1096)
OMNI_RETENTION_DAYS = {
    "callback_events": _retention_days("OMNI_RETENTION_CALLBACK_EVENTS_DAYS", 30),  # processed WeCom callbacks
    "sync_runs": _retention_days("OMNI_RETENTION_SYNC_RUNS_DAYS", 90),  # finished (done or failed) full syncs
    "campaign_recipients": _retention_days("OMNI_RETENTION_CAMPAIGN_RECIPIENTS_DAYS", 400),  # after the campaign ended
    "audit_log": OMNI_AUDIT_RETENTION_DAYS,
    "drafts": _retention_days("OMNI_RETENTION_DRAFTS_DAYS", 180),  # drafts shown in the sidebar (drafts.models.Draft)
}

# ---------------------------------------------------------------------------------------------------------------
# Observability: structured logs, metrics, error reports (omni/logs.py, omni/request_id.py, omni/metrics.py,
# omni/sentry.py; docs/operations.md).

# Logs: one JSON line per request (django-structlog's request_finished) and per task run (task_succeeded, task_failed,
# task_retrying), and every `logging.getLogger(...)` line in the same shape, with the request id. "console" is for
# people: the embedded default's.
OMNI_LOG_FORMAT = env.str("OMNI_LOG_FORMAT", default="console" if EMBEDDED else "json")
LOGGING = logs.logging_config(log_format=OMNI_LOG_FORMAT, level=env.str("OMNI_LOG_LEVEL", default="INFO"))
logs.structlog_configure()
# The request id comes from omni.request_id.RequestLogMiddleware, which checks the proxy's X-Request-ID first.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
# The request id travels with each task queued during a request (a header of the message; the worker's boot step in
# omni/celery.py binds it again).
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# One line per request and per task: the "started" and "enqueued" lines only at DEBUG.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
DJANGO_STRUCTLOG_CELERY_TASK_START_LOG_LEVEL = logging.DEBUG
# Celery's workers log through LOGGING above, not a root handler of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Metrics at /metrics (omni/metrics.py): for these addresses (networks allowed), or with `Authorization: Bearer
# <OMNI_METRICS_TOKEN>` from anywhere. PROMETHEUS_MULTIPROC_DIR (read by prometheus-client itself) makes /metrics
# the sum of every web and worker process on the host.
OMNI_METRICS_ALLOWED_IPS = env.list("OMNI_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
for _network in OMNI_METRICS_ALLOWED_IPS:
    ipaddress.ip_network(_network, strict=False)  # a typo stops the start (ValueError naming it), not each scrape
OMNI_METRICS_TOKEN = env.str("OMNI_METRICS_TOKEN", default="")
if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
    Path(env.str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# Errors to Sentry when SENTRY_DSN is set; nothing is sent (sentry-sdk is not even started) otherwise.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from omni.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if EMBEDDED else "production"),
        release=env.str("SENTRY_RELEASE", default="") or None,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=None),
    )

# Drafts grounded in facts (drafts/): the template drafter always; a model through an OpenAI-compatible chat
# completions API only when OMNI_DRAFTS_API_URL is set. The URL is the API's base (…/v1: POST {base}/chat/completions)
# or the full …/chat/completions URL, used as given. Past OMNI_DRAFTS_TIMEOUT seconds, on any error or refusal, and
# whenever the fact checker refuses its text, the template draft is shown.
OMNI_DRAFTS_API_URL = env.str("OMNI_DRAFTS_API_URL", default="")
OMNI_DRAFTS_API_KEY = env.str("OMNI_DRAFTS_API_KEY", default="")
OMNI_DRAFTS_MODEL = env.str("OMNI_DRAFTS_MODEL", default="")
OMNI_DRAFTS_TIMEOUT = env.float("OMNI_DRAFTS_TIMEOUT", default=8.0)
# Days since the last purchase after which she counts as lapsed; products created within the last N days are new.
OMNI_DRAFTS_LAPSED_DAYS = env.int("OMNI_DRAFTS_LAPSED_DAYS", default=90)
OMNI_DRAFTS_NEW_DAYS = env.int("OMNI_DRAFTS_NEW_DAYS", default=30)
