"""Why an associate writes to her, when each purpose applies, and the template draft for it (Chinese, short).

A purpose applies only when her facts hold what it speaks of: no "your hold is ready" without an open hold, no
birthday greeting a month early. The template drafter is deterministic: the same facts give the same text, and
every product, price, size, date, store and coupon it names comes from the facts (the checker's tests say so).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from coupons.models import yuan
from drafts.facts import Facts, ProductFact

COUPON_SOON_DAYS = 7
BIRTHDAY_SOON_DAYS = 7
POINTS_SOON_DAYS = 30


def day_text(day: dt.date) -> str:
    """A date as the drafts write it: 12月15日."""
    return f"{day.month}月{day.day}日"


def _hello(facts: Facts) -> str:
    return f"{facts.salutation}您好" if facts.salutation != "您" else "您好"


def _me(facts: Facts) -> str:
    store = facts.store.name if facts.store else ""
    return f"我是{store}的{facts.associate}" if store else f"我是{facts.associate}"


def _product_text(product: ProductFact) -> str:
    """真丝连衣裙（黑色 M码）: the style's name (the name's first word), then its colour and size."""
    words = product.name.split()
    details = " ".join(part for part in (product.colour, f"{product.size}码" if product.size else "") if part)
    if len(words) > 1 and details:
        return f"{words[0]}（{details}）"
    return product.name


def _coupon_soon(facts: Facts):
    limit = facts.today + dt.timedelta(days=COUPON_SOON_DAYS)
    return [c for c in facts.coupons if c.expires_on <= limit]


def _points_soon(facts: Facts) -> bool:
    loyalty = facts.loyalty
    return bool(
        loyalty
        and loyalty.points_expiring > 0
        and loyalty.points_expire_on
        and facts.today <= loyalty.points_expire_on <= facts.today + dt.timedelta(days=POINTS_SOON_DAYS)
    )


def _new_arrivals(facts: Facts) -> str:
    first = facts.arrivals[0].product
    text = f"{_hello(facts)}，{_me(facts)}。店里新到了{_product_text(first)}，¥{yuan(first.price)}"
    if len(facts.arrivals) > 1:
        text += f"，还有{_product_text(facts.arrivals[1].product)}"
    return text + f"，{'都是' if len(facts.arrivals) > 1 else '正是'}您的尺码，现在门店有货。有空来店里试试吗？"


def _hold_ready(facts: Facts) -> str:
    hold = facts.holds[0]
    deadline = f"{day_text(hold.expires_at.date())} {hold.expires_at:%H:%M}"
    text = (
        f"{_hello(facts)}，您在{hold.store}预留的{_product_text(hold.product)}已经为您留好了，"
        f"取货码 {hold.code}，请在{deadline}前到店领取。"
    )
    if hold.store_address:
        text += f"地址：{hold.store_address}"
        text += f"（营业时间 {hold.store_hours}）。" if hold.store_hours else "。"
    return text


def _coupon_expiring(facts: Facts) -> str:
    coupon = _coupon_soon(facts)[0]
    return (
        f"{_hello(facts)}，温馨提醒：您的「{coupon.name}」（{coupon.rule_text}）将在{day_text(coupon.expires_on)}到期，"
        "记得在到期前使用哦～"
    )


def _birthday(facts: Facts) -> str:
    day = facts.next_birthday
    if day == facts.today:
        text = f"{_hello(facts)}，今天是您的生日，{facts.associate}祝您生日快乐！"
    else:
        text = f"{_hello(facts)}，{day_text(day)}是您的生日，{facts.associate}提前祝您生日快乐！"
    if facts.store:
        text += f"有空来{facts.store.name}坐坐～"
    return text


def _lapsed(facts: Facts) -> str:
    text = f"{_hello(facts)}，好久不见，{_me(facts)}。"
    if facts.purchases:
        last = facts.purchases[0]
        text += f"您{day_text(last.date)}买的{_product_text(last.product)}穿着还合适吗？"
    return text + "最近店里上了不少新款，有空来看看，我帮您搭配。"


def _points_expiring(facts: Facts) -> str:
    loyalty = facts.loyalty
    return (
        f"{_hello(facts)}，提醒您：您有{loyalty.points_expiring}积分将在{day_text(loyalty.points_expire_on)}过期"
        f"（当前共{loyalty.points}积分），到店消费可以使用，别浪费了哦～"
    )


@dataclass(frozen=True)
class Purpose:
    key: str
    label: str
    instruction: str  # what the provider is asked to write, beside the facts
    applies: Callable[[Facts], bool]
    template: Callable[[Facts], str]


PURPOSES: dict[str, Purpose] = {
    purpose.key: purpose
    for purpose in (
        Purpose(
            "new_arrivals",
            "新品到店",
            "告诉她门店新到了她尺码的新品（arrivals），邀请她来店试穿",
            lambda facts: bool(facts.arrivals),
            _new_arrivals,
        ),
        Purpose(
            "hold_ready",
            "预留待取",
            "告诉她预留的商品（holds）已留好，写明门店、取货码和截止时间",
            lambda facts: bool(facts.holds),
            _hold_ready,
        ),
        Purpose(
            "coupon_expiring",
            "优惠券到期",
            "提醒她即将到期的优惠券（coupons）和到期日",
            lambda facts: bool(_coupon_soon(facts)),
            _coupon_expiring,
        ),
        Purpose(
            "birthday",
            "生日祝福",
            "祝她生日快乐（next_birthday）",
            lambda facts: bool(
                facts.next_birthday and facts.next_birthday <= facts.today + dt.timedelta(days=BIRTHDAY_SOON_DAYS)
            ),
            _birthday,
        ),
        Purpose(
            "lapsed",
            "久未到店",
            "她很久没有购买了（days_since_purchase），问候她并邀请她回来看看",
            lambda facts: (
                facts.days_since_purchase is not None and facts.days_since_purchase >= settings.OMNI_DRAFTS_LAPSED_DAYS
            ),
            _lapsed,
        ),
        Purpose(
            "points_expiring",
            "积分将过期",
            "提醒她即将过期的积分（loyalty.points_expiring）和过期日",
            _points_soon,
            _points_expiring,
        ),
    )
}


def purposes_applicable(*, facts: Facts) -> list[Purpose]:
    """The purposes her facts support, in PURPOSES' order."""
    return [purpose for purpose in PURPOSES.values() if purpose.applies(facts)]
