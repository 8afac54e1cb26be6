"""Variables in a quick reply's text, filled server-side for the chat's customer when the reply is sent.

Syntax: a variable is its Chinese name in single braces, `{客户称呼}`; every `{…}` in a text must be one of
VARIABLES (an unknown name is refused when the reply is saved, code `reply_variable_unknown`); a brace that is
not part of a variable is written doubled, `{{` or `}}`, as in Python's str.format.
"""

import re
from collections.abc import Mapping

from omni.errors import ApplicationError

VARIABLES = {
    "客户称呼": "按性别称呼客户，如「陈女士」「王先生」；不知道性别时为姓名，没有姓名时为「您」",
    "客户名": "客户姓名（没有时为「您」）",
    "导购": "发送的导购的姓名",
    "门店": "导购所在门店",
    "券包金额": "客户手中可用优惠券的合计面额（元），如 80",
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def reply_text_variables(text: str) -> list[str]:
    """The variables a text uses, in order; refuses an unknown variable or a lone brace."""
    used = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise ApplicationError(
                "reply_brace_unmatched", "话术中的花括号不成对：变量写作 {客户称呼}，花括号本身写作 {{ 或 }}。"
            )
        if name.strip() not in VARIABLES:
            raise ApplicationError(
                "reply_variable_unknown",
                f"未知变量 {{{name}}}。可用变量：{'、'.join('{' + v + '}' for v in VARIABLES)}。",
                details={"variable": name, "known": list(VARIABLES)},
            )
        used.append(name.strip())
    return used


def reply_text_fill(text: str, values: Mapping[str, str]) -> str:
    """The text with every variable replaced by its value (and doubled braces made single)."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return values.get(name.strip(), "") if name is not None else token

    return _TOKEN.sub(replace, text)
