"""The fact checker: a draft may name only what her facts hold.

Every product, SKU, price or amount, size, date, store and coupon a draft names must be one of her facts
(`drafts.facts.Facts`), and the only people it may name are her and the associate. What a draft names is found two
ways: by pattern (SKUs like the catalogue's QM-DR01-BK-M, money as ¥1,699 / 1699元 / 满300减50 / 85折, points,
dates as 2026-12-15 / 2026年12月15日 / 12月15日 / 明天 / 周六, sizes S–XXXL and 36码), and by the brand's own
names (the catalogue's products and their style names, the stores, the coupon templates, the associates, and the
customers of her store and the associate's), each compared with the facts. Any finding refuses the draft.
"""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import StrIndex, Substr

from associates.models import Associate, Store
from coupons.models import CouponTemplate
from customers.models import Customer, Product
from drafts.facts import Facts


@dataclass(frozen=True)
class Finding:
    kind: str  # sku, product, amount, points, size, date, store, coupon, person
    value: str


KIND_LABELS = {
    "sku": "SKU",
    "product": "商品",
    "amount": "金额",
    "points": "积分",
    "size": "尺码",
    "date": "日期",
    "store": "门店",
    "coupon": "优惠券",
    "person": "人名",
}

_HAN = "\u4e00-\u9fff"
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_SKU_LIKE = re.compile(r"(?<![A-Za-z0-9-])(?=[A-Za-z0-9-]*[A-Za-z])(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+-]{3,}")
_SKU_LABELLED = re.compile(r"(?i)sku\s*[:：]?\s*([A-Za-z0-9-]+)")
_THRESHOLD_OFF = re.compile(rf"满\s*({_NUMBER})\s*元?\s*减\s*({_NUMBER})\s*元?")
_MONEY = [
    re.compile(rf"[¥￥]\s*({_NUMBER})"),
    re.compile(rf"({_NUMBER})\s*(?:元|块)"),
    re.compile(rf"满\s*({_NUMBER})"),
    re.compile(rf"减\s*({_NUMBER})"),
    re.compile(rf"({_NUMBER})\s*折"),
]
_POINTS = [re.compile(rf"({_NUMBER})\s*(?:个)?积分"), re.compile(rf"积分\s*[:：]?\s*({_NUMBER})")]
_FULL_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_RELATIVE = {"明天": 1, "后天": 2}
_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_LETTER_SIZE = re.compile(r"(?<![A-Za-z])([2-5]XL|XXXL|XXL|XXS|XL|XS|S|M|L)(?![A-Za-z])")
_NUMBER_SIZE = [re.compile(r"(\d{2}(?:\.5)?)\s*码"), re.compile(r"尺码\s*[:：]?\s*(\d{2}(?:\.5)?)")]
_HONORIFIC = re.compile(rf"([{_HAN}])(?:女士|先生|小姐|太太)")
_DEAR = re.compile(rf"亲爱的([{_HAN}]{{2,3}})")
_HAN_RUN = re.compile(rf"[{_HAN}]+")


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def _mask(text: str, terms) -> str:
    """The text with each term blanked (longest first), so a shorter name inside a longer allowed one is not read."""
    for term in sorted((t for t in terms if t), key=len, reverse=True):
        text = text.replace(term, " " * len(term))
    return text


def _with_text(queryset, text: str):
    return queryset.annotate(draft_text=Value(text, output_field=CharField()))


class _Allowed:
    """What her facts let a draft name."""

    def __init__(self, facts: Facts):
        products = facts.products()
        self.skus = {p.sku.upper() for p in products}
        self.codes = {h.code.upper() for h in facts.holds}
        self.product_terms = {p.name for p in products} | {p.name.split()[0] for p in products if p.name.split()}
        amounts = {p.price for p in products} | {p.price for p in facts.purchases}
        for coupon in facts.coupons:
            amounts |= set(coupon.amounts)
        self.amounts = {amount.normalize() for amount in amounts}
        self.threshold_offs = {
            (pair[0].normalize(), pair[1].normalize()) for pair in (c.threshold_off for c in facts.coupons) if pair
        }
        loyalty = facts.loyalty
        self.points = {Decimal(loyalty.points), Decimal(loyalty.points_expiring)} if loyalty else set()
        self.sizes = {size.upper() for size in facts.sizes.values()} | {p.size.upper() for p in products if p.size}
        days = {facts.today} | {p.date for p in facts.purchases} | {c.expires_on for c in facts.coupons}
        days |= {h.expires_at.date() for h in facts.holds}
        days |= {day for day in (facts.birthday, facts.next_birthday) if day}
        if loyalty and loyalty.points_expire_on:
            days.add(loyalty.points_expire_on)
        self.days = days
        self.month_days = {(day.month, day.day) for day in days}
        self.today = facts.today
        self.stores = set(facts.stores_named)
        self.coupons = {c.name for c in facts.coupons}
        self.people = {name for name in (facts.name, facts.associate) if name}
        self.salutation = facts.salutation
        # Free text of the facts (addresses, opening hours): their numbers are not prices, sizes or dates.
        self.texts = {h.store_address for h in facts.holds} | {h.store_hours for h in facts.holds}
        if facts.store:
            self.texts |= {facts.store.address, facts.store.opening_hours}


def _skus(text: str, allowed: _Allowed) -> list[Finding]:
    candidates = {match.group(0).upper() for match in _SKU_LIKE.finditer(text)}
    candidates |= {match.group(1).upper() for match in _SKU_LABELLED.finditer(text)}
    tokens = {match.group(0).rstrip("+") for match in _TOKEN.finditer(text)}
    candidates |= {sku.upper() for sku in Product.objects.filter(sku__in=tokens).values_list("sku", flat=True)}
    return [Finding("sku", sku) for sku in sorted(candidates - allowed.skus - allowed.codes)]


def _products(text: str, allowed: _Allowed) -> list[Finding]:
    """Catalogue products named by their full name or their style's name (the name's first word)."""
    rest = _mask(text, allowed.product_terms)
    named = (
        _with_text(Product.objects.all(), rest)
        .annotate(space=StrIndex("name", Value(" ")))
        .annotate(stem=Case(When(space__gt=1, then=Substr("name", 1, F("space") - 1)), default=F("name")))
        .filter(draft_text__contains=F("stem"))
        .values_list("stem", flat=True)
        .distinct()
    )
    return [Finding("product", stem) for stem in sorted(set(named)) if len(stem) >= 2]


def _stores(text: str, allowed: _Allowed) -> list[Finding]:
    """Stores named in full, or without their city (上海静安店 → 静安店)."""
    rest = _mask(text, allowed.stores)
    findings = []
    for name, city in Store.objects.values_list("name", "city"):
        short = name[len(city) :] if city and name.startswith(city) and len(name) - len(city) >= 2 else name
        if name not in allowed.stores and (name in rest or short in rest):
            findings.append(Finding("store", name))
    return findings


def _coupons(text: str, allowed: _Allowed) -> list[Finding]:
    rest = _mask(text, allowed.coupons)
    named = _with_text(CouponTemplate.objects.all(), rest).filter(draft_text__contains=F("name"))
    return [Finding("coupon", name) for name in sorted(set(named.values_list("name", flat=True))) if len(name) >= 2]


def _amounts(text: str, allowed: _Allowed) -> list[Finding]:
    """Money as ¥1,699 / 1699元 / 85折, and 满300减50 as a pair, which must be one of her coupons'."""
    findings = []
    for match in _THRESHOLD_OFF.finditer(text):
        if (_amount(match.group(1)), _amount(match.group(2))) not in allowed.threshold_offs:
            findings.append(Finding("amount", match.group(0).strip()))
    text = _THRESHOLD_OFF.sub(lambda match: " " * len(match.group(0)), text)
    for pattern in _MONEY:
        for match in pattern.finditer(text):
            amount = _amount(match.group(1))
            if amount is not None and amount not in allowed.amounts:
                findings.append(Finding("amount", match.group(0).strip()))
    for pattern in _POINTS:
        for match in pattern.finditer(text):
            points = _amount(match.group(1))
            if points is not None and points not in allowed.points:
                findings.append(Finding("points", match.group(0).strip()))
    return findings


def _dates(text: str, allowed: _Allowed) -> list[Finding]:
    findings = []
    for match in _FULL_DATE.finditer(text):
        try:
            day = dt.date(*(int(part) for part in match.groups()))
        except ValueError:
            day = None
        if day not in allowed.days:
            findings.append(Finding("date", match.group(0).strip()))
    rest = _FULL_DATE.sub(" ", text)
    for match in _MONTH_DAY.finditer(rest):
        if (int(match.group(1)), int(match.group(2))) not in allowed.month_days:
            findings.append(Finding("date", match.group(0).strip()))
    for word, offset in _RELATIVE.items():
        if word in text and allowed.today + dt.timedelta(days=offset) not in allowed.days:
            findings.append(Finding("date", word))
    week = {allowed.today + dt.timedelta(days=n) for n in range(7)} & allowed.days
    for match in _WEEKDAY.finditer(text):
        if _WEEKDAYS[match.group(1)] not in {day.weekday() for day in week}:
            findings.append(Finding("date", match.group(0)))
    return findings


def _sizes(text: str, allowed: _Allowed) -> list[Finding]:
    found = {match.group(1).upper() for match in _LETTER_SIZE.finditer(text)}
    for pattern in _NUMBER_SIZE:
        found |= {match.group(1) for match in pattern.finditer(text)}
    return [Finding("size", size) for size in sorted(found - allowed.sizes)]


def _people(text: str, allowed: _Allowed, *, associate: Associate, customer: Customer) -> list[Finding]:
    """Anyone but her and the associate: by address (王女士, 亲爱的王芳), the brand's associates, and the customers of
    her store and the associate's (read by the candidate names in the text, through the store index)."""
    rest = _mask(text, allowed.people | {allowed.salutation} | allowed.stores | allowed.product_terms)
    surnames = {name[0] for name in allowed.people}
    findings = [
        Finding("person", match.group(0)) for match in _HONORIFIC.finditer(rest) if match.group(1) not in surnames
    ]
    findings += [Finding("person", match.group(1)) for match in _DEAR.finditer(rest)]
    others = _with_text(Associate.objects.exclude(pk=associate.pk), rest).filter(draft_text__contains=F("name"))
    findings += [Finding("person", name) for name in others.values_list("name", flat=True) if len(name) >= 2]
    candidates = set()
    for run in _HAN_RUN.findall(rest):
        for size in (2, 3, 4):
            candidates |= {run[i : i + size] for i in range(len(run) - size + 1)}
    stores = {store for store in (customer.primary_store_id, associate.store_id) if store}
    if candidates and stores:
        names = (
            Customer.objects.filter(primary_store__in=stores, name__in=candidates, merged_into__isnull=True)
            .exclude(pk=customer.pk)
            .values_list("name", flat=True)
        )
        findings += [Finding("person", name) for name in sorted(set(names))]
    return findings


def draft_check(*, text: str, facts: Facts, associate: Associate, customer: Customer) -> list[Finding]:
    """What the draft names that her facts do not hold (empty: the draft may be shown)."""
    allowed = _Allowed(facts)
    findings = _skus(text, allowed)
    # A SKU or pickup code is read once: its letters are not sizes, its digits not amounts.
    rest = _SKU_LIKE.sub(lambda match: " " * len(match.group(0)), text)
    rest = _mask(rest, {h.code for h in facts.holds} | allowed.texts)
    findings += _products(rest, allowed)
    findings += _stores(rest, allowed)
    findings += _coupons(rest, allowed)
    findings += _amounts(rest, allowed)
    findings += _dates(rest, allowed)
    findings += _sizes(_mask(rest, allowed.product_terms), allowed)
    findings += _people(rest, allowed, associate=associate, customer=customer)
    unique = []
    for finding in findings:
        if finding not in unique:
            unique.append(finding)
    return unique


def findings_text(findings: list[Finding]) -> str:
    """The findings in words, for the log and the operator: 草稿提到了客户资料之外的内容：SKU QM-X9、金额 ¥999."""
    named = "、".join(f"{KIND_LABELS[f.kind]} {f.value}" for f in findings)
    return f"草稿提到了客户资料之外的内容：{named}"
