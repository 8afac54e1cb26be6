"""The drafters: the template drafter (always there, deterministic) and the optional provider, a model the brand
configures behind an OpenAI-compatible chat completions API.

The provider is asked with her facts only (`Facts.prompt_json`) and the purpose; it is called with
`OMNI_DRAFTS_API_URL` (the API's base, e.g. https://api.example.com/v1, to which /chat/completions is added; or a URL
already ending in /chat/completions, used as given), the key as `Authorization: Bearer`, the model
`OMNI_DRAFTS_MODEL`, and a timeout of `OMNI_DRAFTS_TIMEOUT` seconds. Any failure — no answer in time, a refused
connection, a non-200 status, a body that is not a chat completion, a refusal, an empty text — raises
`ProviderFailed` with a short reason, and the caller shows the template draft.
"""

import json

import requests
from django.conf import settings

from drafts.facts import Facts
from drafts.purposes import Purpose

MAX_TOKENS = 300

SYSTEM_PROMPT = (
    "你是服装与美妆品牌门店导购的助手，为导购起草一条发给客户的企业微信消息，由导购修改后发送。"
    "只能使用用户消息里 facts 中的信息：不要提到 facts 里没有的商品、SKU、价格、尺码、日期、门店、优惠券或人名，"
    "不要编造活动、折扣或赠品。用中文，语气亲切自然，像导购本人在说话，80 字以内，不用表情符号，只输出消息正文。"
)


class ProviderFailed(Exception):
    """The provider gave no usable draft; `reason` says why, for the record."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def provider_configured() -> bool:
    return bool(settings.OMNI_DRAFTS_API_URL)


def provider_url() -> str:
    url = settings.OMNI_DRAFTS_API_URL.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def provider_messages(*, facts: Facts, purpose: Purpose) -> list[dict]:
    """The chat: the rules, then the purpose and her facts as JSON (nothing else about her)."""
    user = {"purpose": purpose.label, "task": purpose.instruction, "facts": facts.prompt_json()}
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(user, ensure_ascii=False)},
    ]


def template_draft(*, facts: Facts, purpose: Purpose) -> str:
    return purpose.template(facts)


def provider_draft(*, facts: Facts, purpose: Purpose) -> str:
    """The model's draft, or ProviderFailed."""
    headers = {"Content-Type": "application/json"}
    if settings.OMNI_DRAFTS_API_KEY:
        headers["Authorization"] = f"Bearer {settings.OMNI_DRAFTS_API_KEY}"
    body = {
        "model": settings.OMNI_DRAFTS_MODEL,
        "messages": provider_messages(facts=facts, purpose=purpose),
        "temperature": 0.3,
        "max_tokens": MAX_TOKENS,
    }
    try:
        response = requests.post(provider_url(), json=body, headers=headers, timeout=settings.OMNI_DRAFTS_TIMEOUT)
    except requests.Timeout:
        raise ProviderFailed("timeout") from None
    except requests.RequestException as error:
        raise ProviderFailed(f"connection: {type(error).__name__}") from None
    if response.status_code != 200:
        raise ProviderFailed(f"http {response.status_code}")
    try:
        choice = response.json()["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderFailed("malformed response") from None
    if message.get("refusal") or choice.get("finish_reason") == "content_filter":
        raise ProviderFailed("refusal")
    content = (message.get("content") or "").strip()
    if not content:
        raise ProviderFailed("empty")
    if choice.get("finish_reason") == "length":
        raise ProviderFailed("truncated")
    return content
