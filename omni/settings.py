"""Omni settings, read from the environment.

The embedded default (no DATABASE_URL, no REDIS_URL) is a complete development setup (DEBUG on): SQLite in WAL
mode, a database cache, and Celery over kombu's filesystem transport, so real workers run without any
server. Production sets DATABASE_URL (PostgreSQL), REDIS_URL and DJANGO_SECRET_KEY (without it a random key
is made once and kept in var/secret_key).
"""

import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("OMNI_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

EMBEDDED = "DATABASE_URL" not in env
DEBUG = env.bool("DJANGO_DEBUG", default=EMBEDDED)


def _local_secret_key() -> str:
    """A random key made once per installation, for setups that do not pass DJANGO_SECRET_KEY."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "omni",
    "wecom",
    "associates",
    "customers",
    "clientbook",
    "coupons",
    "suggestions",
    "communities",
    "campaigns",
    "insights",
    "sidebar",
    "demo",
    "bench",
]

MIDDLEWARE = [
    # Outermost, so that every error under /api/ (even one another middleware answers) is the JSON envelope.
    "omni.api.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "omni.api.ApiCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
    # The hottest hand-written statements (omni.rawsql, prepare=True) are prepared once per connection; the ORM's
    # queries never are (Django binds them client-side). Off (DATABASE_PREPARED_STATEMENTS=false) behind a
    # transaction-mode pooler that cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
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

# Celery. Redis when REDIS_URL is set; otherwise kombu's filesystem transport, which lets real
# worker and beat processes run with no server at all.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
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
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT}
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT
# A publish that cannot reach the broker gives up after one quick retry: the callback view answers WeCom within its
# 5 s and the stored event is queued by the requeue job once the broker is back (wecom.services).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "bulk"
# Real-time work (callbacks, welcome messages within WeCom's 20 s) never waits behind bulk jobs.
CELERY_TASK_ROUTES = {
    "wecom.tasks.callback_event_process_task": {"queue": "realtime"},
    "clientbook.tasks.welcome_message_send_task": {"queue": "realtime"},
}
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
# Seconds a callback's timestamp may be away from now.
WECOM_CALLBACK_MAX_AGE = env.int("WECOM_CALLBACK_MAX_AGE", default=300)
# Seconds after which a callback event still pending is queued again by the every-minute requeue job, whatever kept
# it (a web process that died between storing and queueing, a task that gave up). Longer than the processing task's
# own retries (~9 minutes). An event whose queueing failed (the broker was down) is queued by the next run instead.
WECOM_CALLBACK_REQUEUE_AFTER = env.int("WECOM_CALLBACK_REQUEUE_AFTER", default=15 * 60)
WECOM_OAUTH_AUTHORIZE_URL = env.str(
    "WECOM_OAUTH_AUTHORIZE_URL", default="https://open.weixin.qq.com/connect/oauth2/authorize"
)
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("OMNI_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
