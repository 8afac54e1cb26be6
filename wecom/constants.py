"""WeCom's limits and error codes (../shared/WECOM.md), in one place so they can be changed together."""

# Access token / tickets.
TOKEN_TTL_SECONDS = 7200
# Refresh a cached token or ticket this long before WeCom says it expires.
TOKEN_REFRESH_MARGIN_SECONDS = 300

# Error codes.
ERR_INVALID_CREDENTIAL = 40001
ERR_INVALID_CORPID = 40013
ERR_INVALID_AGENTID = 40056
ERR_INVALID_ACCESS_TOKEN = 40014
ERR_ACCESS_TOKEN_MISSING = 41001
ERR_ACCESS_TOKEN_EXPIRED = 42001
ERR_FREQUENCY_LIMIT = 45009
ERR_CONCURRENCY_LIMIT = 45033
ERR_SYSTEM_BUSY = -1
ERR_INVALID_CODE = 40029
ERR_INVALID_EXTERNAL_USERID = 40096
ERR_NO_RELATIONSHIP = 84061
# The app may not call the API: for customer contact, it is not one of 客户联系's 可调用接口的应用.
ERR_API_FORBIDDEN = 48002
# The caller's address is not in the app's 企业可信IP.
ERR_IP_NOT_ALLOWED = 60020
# The member has no customer-contact permission (客户联系 → 权限配置 → 使用范围).
ERR_NO_CONTACT_PRIVILEGE = 84074
ERR_WELCOME_ALREADY_SENT = 41051
ERR_WELCOME_RETRY_ALLOWED = 41096

# Refetch the token once, then retry the call once.
TOKEN_ERRORS = frozenset({ERR_INVALID_ACCESS_TOKEN, ERR_ACCESS_TOKEN_MISSING, ERR_ACCESS_TOKEN_EXPIRED})
# Worth another try after a pause.
TRANSIENT_ERRORS = frozenset({ERR_FREQUENCY_LIMIT, ERR_CONCURRENCY_LIMIT, ERR_SYSTEM_BUSY})

# Per API per corp (Doc 90454).
RATE_LIMIT_PER_MINUTE = 10_000
RATE_LIMIT_PER_HOUR = 150_000

# Request sizes.
BATCH_GET_BY_USER_MAX_USERIDS = 100
BATCH_GET_BY_USER_MAX_LIMIT = 100
GROUPCHAT_LIST_MAX_LIMIT = 1000
GROUPCHAT_OWNER_FILTER_MAX = 100
MSG_TEMPLATE_MAX_RECIPIENTS = 10_000
MSG_TEMPLATE_MAX_TEXT_BYTES = 4000
MSG_TEMPLATE_MAX_ATTACHMENTS = 9
JOIN_WAY_MAX_CHAT_IDS = 5
STATE_MAX_CHARS = 30

# Welcome messages must be sent within this many seconds of the add_external_contact callback.
WELCOME_CODE_TTL_SECONDS = 20
# Uploaded media stay usable this long.
MEDIA_TTL_SECONDS = 3 * 24 * 3600
MEDIA_IMAGE_MAX_BYTES = 10 * 1024 * 1024
MEDIA_FILE_MAX_BYTES = 20 * 1024 * 1024
MEDIA_MIN_BYTES = 5
# OAuth codes are single-use and live this long.
OAUTH_CODE_TTL_SECONDS = 300

# wecom_check: WeCom wants the callback URL's echo answered within a second when the URL is saved.
CALLBACK_VERIFY_ANSWER_MS = 1000
# wecom_check: a clock this close to WeCom's (its Date header, to the second) is fine; beyond, a warning, and beyond
# WECOM_CALLBACK_MAX_AGE a failure (callbacks would be refused as stale).
CLOCK_SKEW_OK_SECONDS = 30
