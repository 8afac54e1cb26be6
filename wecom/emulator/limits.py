"""WeCom's limits and error codes as the emulator enforces them (../shared/WECOM.md), in one place.

Every number here is WeCom's documented value; the few the emulator lets a test change at run time
(token TTL, per-minute limit, monthly cap, callback timing) are defaults for `state.Faults`.
"""

# Tokens and tickets (Doc 91039, 90506).
TOKEN_TTL_SECONDS = 7200
TICKET_TTL_SECONDS = 7200
JSAPI_TICKET_PER_HOUR = 400  # per corp
AGENT_TICKET_PER_HOUR = 100  # per app

# Rate limit (Doc 90454): per API per corp; exceeding the minute's blocks that API for a minute, the hour's for an
# hour.
RATE_LIMIT_PER_MINUTE = 10_000
RATE_LIMIT_BLOCK_SECONDS = 60
RATE_LIMIT_PER_HOUR = 150_000
RATE_LIMIT_HOUR_BLOCK_SECONDS = 3600

# OAuth (Doc 91023, 91335): a code is single-use and lives five minutes.
OAUTH_CODE_TTL_SECONDS = 300

# WeChat Official Account web authorization (网页授权, OA docs): a code is single-use and lives five minutes;
# the web access token two hours, its refresh token 30 days.
OA_CODE_TTL_SECONDS = 300
OA_ACCESS_TOKEN_TTL_SECONDS = 7200
OA_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600

# Welcome messages (Doc 92137): within 20 s of the add_external_contact callback, once.
WELCOME_CODE_TTL_SECONDS = 20

# Media (Doc 90253): temporary media live three days.
MEDIA_TTL_SECONDS = 3 * 24 * 3600
MEDIA_MIN_BYTES = 5
MEDIA_MAX_BYTES = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}

# Customer contact requests.
BATCH_GET_BY_USER_MAX_USERIDS = 100
BATCH_GET_BY_USER_MAX_LIMIT = 100
BATCH_GET_BY_USER_DEFAULT_LIMIT = 50
STATE_MAX_CHARS = 30
CONTACT_WAY_REMARK_MAX_CHARS = 30
CORP_TAG_MAX = 3000
MARK_TAG_MAX = 100
# Contact me (Doc 92228): at most 100 members in one multi-member code, 500,000 codes made through the API a corp.
CONTACT_WAY_MAX_USERS = 100
CONTACT_WAY_MAX = 500_000

# Acquisition links (获客助手, Doc 97297, 97298): a link name of at most 30 characters, at most 500 members in its
# range, list_link pages of at most 100, customer_channel (the State of the add) at most 64 bytes; each new
# customer added through a link uses one unit of the corp's quota (customer_acquisition_quota).
ACQUISITION_LINK_NAME_MAX_CHARS = 30
ACQUISITION_LINK_MAX_USERS = 500
ACQUISITION_LIST_MAX_LIMIT = 100
ACQUISITION_CUSTOMER_MAX_LIMIT = 1000
ACQUISITION_CHANNEL_MAX_BYTES = 64
ACQUISITION_QUOTA_DEFAULT = 1000
ACQUISITION_QUOTA_VALID_DAYS = 365

# Mass messages (Doc 92135, 93338).
MSG_TEMPLATE_MAX_RECIPIENTS = 10_000
MSG_TEMPLATE_MAX_TEXT_BYTES = 4000
MSG_TEMPLATE_MAX_ATTACHMENTS = 9
GROUPMSG_LIST_MAX_LIMIT = 100
GROUPMSG_LIST_DEFAULT_LIMIT = 50
GROUPMSG_LIST_MAX_SPAN_SECONDS = 31 * 24 * 3600
GROUPMSG_TASK_MAX_LIMIT = 1000
GROUPMSG_TASK_DEFAULT_LIMIT = 500
# Per customer per natural month; None means "the number of days in the month" (WeCom's default).
MONTHLY_RECEIVE_CAP = None

# Customer groups (Doc 92120, 92122, 92229).
GROUPCHAT_LIST_MAX_LIMIT = 1000
GROUPCHAT_OWNER_FILTER_MAX = 100
JOIN_WAY_MAX_CHAT_IDS = 5
GROUP_MAX_MEMBERS = 500

# Customer transfer (Doc 92125, 94081).
TRANSFER_MAX_CUSTOMERS = 100
TRANSFER_SUCCESS_MSG_MAX_CHARS = 200

# Callbacks (Doc 90930): WeCom waits 5 s for an answer and retries three times.
CALLBACK_TIMEOUT_SECONDS = 5.0
CALLBACK_RETRIES = 3
CALLBACK_RETRY_DELAY_SECONDS = 1.0

# Error codes (Doc 90313) and the errmsg text WeCom sends with them.
OK = 0
SYSTEM_BUSY = -1
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_MEDIA_TYPE = 40004
INVALID_TYPE = 40005
INVALID_FILE_SIZE = 40006
INVALID_MEDIA_ID = 40007
INVALID_IMAGE_SIZE = 40009
INVALID_CORPID = 40013
INVALID_ACCESS_TOKEN = 40014
INVALID_OAUTH_CODE = 40029
INVALID_CHAT_ID = 40050
INVALID_AGENTID = 40056
INVALID_PARAMETER = 40058
INVALID_TAG_ID = 40068
TAG_NAME_EXISTS = 40071
INVALID_EXTERNAL_USERID = 40096
ACCESS_TOKEN_MISSING = 41001
CORPID_MISSING = 41002
SECRET_MISSING = 41004
MEDIA_DATA_MISSING = 41005
WELCOME_ALREADY_SENT = 41051
ACCESS_TOKEN_EXPIRED = 42001
FREQUENCY_LIMIT = 45009
EMPTY_POST_DATA = 44002
DATA_FORMAT_ERROR = 47001
API_FORBIDDEN = 48002  # the app may not call this API (客户联系 → 可调用接口的应用)
NO_PRIVILEGE = 60011  # a member or department outside the app's visible range
IP_NOT_ALLOWED = 60020  # the caller's address is not in the app's 企业可信IP
NO_RELATIONSHIP = 84061
NO_CONTACT_PRIVILEGE = 84074  # the member has no customer-contact permission (客户联系 → 权限配置)

ERRMSG = {
    OK: "ok",
    SYSTEM_BUSY: "system busy",
    INVALID_SECRET: "invalid credential",
    INVALID_USERID: "invalid userid",
    INVALID_MEDIA_TYPE: "invalid media type",
    INVALID_TYPE: "invalid type",
    INVALID_FILE_SIZE: "invalid file size",
    INVALID_MEDIA_ID: "invalid media_id",
    INVALID_IMAGE_SIZE: "invalid image size",
    INVALID_CORPID: "invalid corpid",
    INVALID_ACCESS_TOKEN: "invalid access_token",
    INVALID_OAUTH_CODE: "invalid code",
    INVALID_CHAT_ID: "chatid not found",
    INVALID_AGENTID: "invalid agentid",
    INVALID_PARAMETER: "invalid Request Parameter",
    INVALID_TAG_ID: "invalid tagid",
    TAG_NAME_EXISTS: "UserTag Name Already Exist",
    INVALID_EXTERNAL_USERID: "invalid external userid",
    ACCESS_TOKEN_MISSING: "access_token missing",
    CORPID_MISSING: "corpid missing",
    SECRET_MISSING: "secret missing",
    MEDIA_DATA_MISSING: "media data missing",
    WELCOME_ALREADY_SENT: "externaluser has started chatting",
    ACCESS_TOKEN_EXPIRED: "access_token expired",
    FREQUENCY_LIMIT: "api freq out of limit",
    EMPTY_POST_DATA: "empty post data",
    DATA_FORMAT_ERROR: "data format error",
    API_FORBIDDEN: "api forbidden",
    NO_PRIVILEGE: "no privilege to access/modify contact/party/agent ",
    IP_NOT_ALLOWED: "not allow to access from your ip",
    NO_RELATIONSHIP: "not external contact",
    NO_CONTACT_PRIVILEGE: "user has no external contact privilege",
}

# WeChat's own error codes for the OA's /sns/ API (the global error code list), with their errmsg text.
OA_INVALID_CREDENTIAL = 40001
OA_INVALID_GRANT_TYPE = 40002
OA_INVALID_OPENID = 40003
OA_INVALID_APPID = 40013
OA_INVALID_CODE = 40029
OA_INVALID_APPSECRET = 40125
OA_CODE_USED = 40163
OA_ACCESS_TOKEN_MISSING = 41001
OA_APPID_MISSING = 41002
OA_APPSECRET_MISSING = 41004
OA_CODE_MISSING = 41008
OA_OPENID_MISSING = 41009
OA_ACCESS_TOKEN_EXPIRED = 42001
OA_API_UNAUTHORIZED = 48001

OA_ERRMSG = {
    SYSTEM_BUSY: "system error",
    FREQUENCY_LIMIT: "api freq out of limit",
    OA_INVALID_CREDENTIAL: "invalid credential, access_token is invalid or not latest",
    OA_INVALID_GRANT_TYPE: "invalid grant_type",
    OA_INVALID_OPENID: "invalid openid",
    OA_INVALID_APPID: "invalid appid",
    OA_INVALID_CODE: "invalid code",
    OA_INVALID_APPSECRET: "invalid appsecret",
    OA_CODE_USED: "code been used",
    OA_ACCESS_TOKEN_MISSING: "access_token missing",
    OA_APPID_MISSING: "appid missing",
    OA_APPSECRET_MISSING: "appsecret missing",
    OA_CODE_MISSING: "missing code",
    OA_OPENID_MISSING: "missing openid",
    OA_ACCESS_TOKEN_EXPIRED: "access_token expired",
    OA_API_UNAUTHORIZED: "api unauthorized",
}

# App messages to members (应用消息, Doc 90236 `message/send`, 90372 template cards): at most 1000 members a call;
# a textcard's title 128 bytes, description 512 bytes, url 2048 bytes, button text 4 characters; a template card's
# main title 36 bytes, description 44 bytes, url 2048 bytes. An app may send a member at most 30 messages a minute
# and 1000 an hour (the excess answers 45009), and the whole app at most 200 × the members in its range a day.
APP_MESSAGE_MAX_USERS = 1000
APP_MESSAGE_TEXTCARD_TITLE_MAX_BYTES = 128
APP_MESSAGE_TEXTCARD_DESCRIPTION_MAX_BYTES = 512
APP_MESSAGE_URL_MAX_BYTES = 2048
APP_MESSAGE_BTNTXT_MAX_CHARS = 4
APP_MESSAGE_CARD_TITLE_MAX_BYTES = 36
APP_MESSAGE_CARD_DESC_MAX_BYTES = 44
APP_MESSAGE_PER_USER_PER_MINUTE = 30
APP_MESSAGE_PER_USER_PER_HOUR = 1000
APP_MESSAGE_PER_MEMBER_PER_DAY = 200
APP_MESSAGE_KEEP = 500  # the emulator keeps each member's last 500
ALL_TOUSER_INVALID = 81013  # user & party & tag all invalid
ERRMSG[ALL_TOUSER_INVALID] = "user & party & tag all invalid"
