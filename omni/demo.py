"""The demo brand 栖木 QIMU: a deterministic, realistic data set for demos, manual testing and benchmarks.

`demo_seed` writes six stores with their associates, the logins a demo needs, a fashion and skincare catalog
with stock, and customers with identities in every channel, tags, notes and about 18 months of orders whose
baskets follow `COMPLEMENTS` (a dress sells with a belt or a scarf) and whose skincare buyers replenish their
routine every 60-90 days; customers with a WeCom id are their associate's contacts, and the last COUPON_DAYS days
of coupon sends and redemptions go through the coupon service (coupon codes stay random: they are secrets).

Every random draw comes from numpy generators with fixed seeds ((DEMO_SEED, 0) for stores and catalog,
(DEMO_SEED, 0, 1) for online stock, (DEMO_SEED, k + 1) for customer chunk k), every time is an offset from
the reference day's midnight in Asia/Shanghai (`today`, the seeding day unless given), and rows are written in
array order: the same day, customer count and chunk size on an empty database give the same rows, on SQLite and
PostgreSQL alike. History ends at the reference: the demo shows live figures whenever it is seeded, and nothing
lies in the future. Customers are generated and written a chunk at a time with
`omni.bulk`, so memory stays flat however many are asked for.

A return is the whole order with status "returned" and its lines as sold, so spend and basket figures
exclude returned and cancelled orders by status; no line is ever negative here.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from associates.models import Associate, FollowRelation, Store
from campaigns.demo import campaigns_demo_seed
from communities.demo import COMMUNITY_MANAGER_PERMISSIONS, communities_demo_seed
from customers.categories import CATEGORY_LABELS
from customers.models import (
    Channel,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Order,
    OrderLine,
    Product,
    StoreStock,
    Tag,
)
from omni.bulk import bulk_copy, is_postgres, next_ids
from omni.errors import ApplicationError
from suggestions.models import ComplementRule

BRAND_NAME = "栖木 QIMU"
DEMO_SEED = 20261101
DEMO_TZ = ZoneInfo("Asia/Shanghai")
HISTORY_DAYS = 548
# The coupon packs came in this many days before the reference: since then every new WeCom contact got the welcome
# pack, and every contact the birthday pack on their birthday.
COUPON_DAYS = 60
CUSTOMERS_PER_SCALE = 2_000
CHUNK_SIZE = 50_000
# The identity and phone bijections below stay unique up to this many customers.
MAX_CUSTOMERS = 100_000_000
MAX_ACTIVITY = 10.0

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "omni-admin"
HQ_USERNAME = "hq"
DEMO_PASSWORD = "omni-demo"
MANAGER_GROUP = "店长"
SKU_PREFIX = "QM-"

SKINCARE_ROUTINE = ("cleanser", "toner", "serum", "moisturizer", "sunscreen")
SKINCARE_CATEGORIES = (*SKINCARE_ROUTINE, "mask")
# What sells with what: for a basket anchored on the key category, the categories added to it. Baskets are
# generated from this, and the add-on recommendation is evaluated against it.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "dress": ("belt", "scarf", "shoes", "bag"),
    "skirt": ("knitwear", "belt", "shoes"),
    "shirt": ("tie", "trousers", "belt"),
    "suit": ("shirt", "tie", "shoes"),
    "trousers": ("shirt", "belt", "shoes"),
    "knitwear": ("scarf", "skirt", "trousers"),
    "coat": ("scarf", "knitwear", "bag"),
    "shoes": ("socks",),
    "bag": ("scarf",),
    **{step: (following,) for step, following in pairwise(SKINCARE_ROUTINE)},
    "mask": ("serum",),
}
# The complement rules a merchandiser would write in admin (suggestions.ComplementRule): fewer than the
# baskets follow, so that what the model learns from orders shows beside what the rules say.
DEMO_COMPLEMENT_RULES: dict[str, tuple[str, ...]] = {
    "dress": ("belt", "scarf"),
    "suit": ("shirt", "tie"),
    "coat": ("scarf",),
    "shoes": ("socks",),
    "cleanser": ("toner",),
}


@dataclass(frozen=True)
class DemoStore:
    code: str
    name: str
    city: str
    address: str
    opened: str
    member_share: float
    # (name, wecom_userid); the first is the store manager.
    staff: tuple[tuple[str, str], ...]

    @property
    def manager_username(self) -> str:
        return f"manager_{self.code.lower()}"


DEMO_STORES = (
    DemoStore(
        "SH01",
        "栖木 QIMU 上海静安嘉里中心店",
        "上海",
        "上海市静安区南京西路1515号静安嘉里中心南区 L1-12",
        "2019-09-20",
        0.24,
        (
            ("陈静", "chenjing"),
            ("张敏", "zhangmin"),
            ("王丽娜", "wanglina"),
            ("李婷", "liting"),
            ("刘洋", "liuyang"),
            ("周颖", "zhouying"),
        ),
    ),
    DemoStore(
        "BJ01",
        "栖木 QIMU 北京三里屯太古里店",
        "北京",
        "北京市朝阳区三里屯路19号三里屯太古里南区 S3-21",
        "2020-04-28",
        0.20,
        (("赵雪", "zhaoxue"), ("孙悦", "sunyue"), ("马骁", "maxiao"), ("胡佳", "hujia"), ("郭倩", "guoqian")),
    ),
    DemoStore(
        "HZ01",
        "栖木 QIMU 杭州湖滨银泰 in77 店",
        "杭州",
        "杭州市上城区延安路258号湖滨银泰 in77 C2区 1F",
        "2021-05-01",
        0.14,
        (("何晓燕", "hexiaoyan"), ("林晨", "linchen"), ("吴佩", "wupei"), ("沈怡", "shenyi")),
    ),
    DemoStore(
        "CD01",
        "栖木 QIMU 成都远洋太古里店",
        "成都",
        "成都市锦江区中纱帽街8号成都远洋太古里 L1-1512",
        "2021-09-30",
        0.14,
        (("杨帆", "yangfan"), ("罗丹", "luodan"), ("唐欣", "tangxin"), ("邓琳", "denglin"), ("黄诗雨", "huangshiyu")),
    ),
    DemoStore(
        "SZ01",
        "栖木 QIMU 深圳万象天地店",
        "深圳",
        "深圳市南山区深南大道9668号华润万象天地 L1-128",
        "2022-06-18",
        0.14,
        (("郑凯", "zhengkai"), ("许诺", "xunuo"), ("谢婉", "xiewan"), ("梁洁", "liangjie"), ("韩冰", "hanbing")),
    ),
    DemoStore(
        "GZ01",
        "栖木 QIMU 广州天河太古汇店",
        "广州",
        "广州市天河区天河路383号太古汇 L2-208",
        "2023-03-25",
        0.14,
        (("冯慧", "fenghui"), ("曾静怡", "zengjingyi"), ("彭丽", "pengli"), ("蔡欣", "caixin"), ("苏晴", "suqing")),
    ),
)

# What a store manager works with in admin. Identities and the audit log are evidence, so they are view-only.
MANAGER_PERMISSIONS = (
    "associates.view_store",
    "associates.view_associate",
    "associates.change_associate",
    "customers.view_customer",
    "customers.change_customer",
    "customers.view_identity",
    # Associates' identity claims for their stores' contacts come to the manager to review (One ID).
    "customers.view_identityconflict",
    "customers.change_identityconflict",
    "customers.view_auditlog",
    "customers.view_order",
    "customers.change_order",
    "customers.view_orderline",
    "customers.view_product",
    "customers.view_storestock",
    "customers.change_storestock",
    "customers.view_tag",
    "customers.add_tag",
    "customers.change_tag",
    "customers.view_customertag",
    "customers.add_customertag",
    "customers.delete_customertag",
    "customers.view_customernote",
    "customers.add_customernote",
    "customers.change_customernote",
    "suggestions.view_complementrule",
    "suggestions.view_suggestionmodel",
    "suggestions.view_outreach",
    # Coupons: managers send and run packs for their own stores; what a coupon is worth is HQ's (templates).
    "coupons.view_coupontemplate",
    "coupons.view_couponpack",
    "coupons.add_couponpack",
    "coupons.change_couponpack",
    "coupons.view_couponpackitem",
    "coupons.add_couponpackitem",
    "coupons.change_couponpackitem",
    "coupons.delete_couponpackitem",
    "coupons.view_coupon",
    "coupons.change_coupon",
    "coupons.view_issuerequest",
    "coupons.view_redemption",
    *COMMUNITY_MANAGER_PERMISSIONS,
    # Campaigns: a manager drafts, submits and approves (never their own) campaigns for their stores.
    "campaigns.view_campaign",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.view_campaignrecipient",
    "campaigns.view_journeyconfig",
    "campaigns.change_journeyconfig",
    # Results and handovers of their stores; the attribution rule is HQ's.
    "insights.view_dailystats",
    "insights.view_attribution",
    "insights.view_attributionconfig",
    "insights.view_handover",
    "insights.add_handover",
    "insights.view_handoveritem",
)
HQ_PERMISSION = "associates.view_all_stores"
# Complement rules are brand-wide: HQ writes them (and may rebuild the model), store managers only read them.
HQ_EXTRA_PERMISSIONS = (
    "suggestions.add_complementrule",
    "suggestions.change_complementrule",
    "suggestions.delete_complementrule",
    "suggestions.rebuild_suggestionmodel",
    "coupons.add_coupontemplate",
    "coupons.change_coupontemplate",
    "insights.change_attributionconfig",
    # Claims and conflicts that name two stores' customers are HQ's to settle, and merges HQ's to undo.
    "customers.view_customermerge",
    "customers.change_customermerge",
)

COLOUR_CODES = {
    "黑色": "BK",
    "白色": "WH",
    "米白": "IV",
    "藏青": "NV",
    "驼色": "CM",
    "灰色": "GY",
    "酒红": "WN",
    "雾蓝": "BL",
    "卡其": "KH",
    "燕麦": "OT",
    "棕色": "BR",
    "肤色": "NU",
}
_WOMEN_SIZES = ("S", "M", "L")
_MEN_SIZES = ("M", "L", "XL")
_WOMEN_SHOE_SIZES = ("35", "36", "37", "38", "39")
_MEN_SHOE_SIZES = ("40", "41", "42", "43", "44")


@dataclass(frozen=True)
class Style:
    """One design; each colour × size is its own SKU."""

    code: str
    category: str
    name: str
    wardrobe: str  # "women", "men" or "all"
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    prices: tuple[str, ...]  # one per size


def _apparel(code: str, category: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    sizes = _WOMEN_SIZES if wardrobe == "women" else _MEN_SIZES
    return Style(code, category, name, wardrobe, colours, sizes, (price,) * len(sizes))


def _shoes(code: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    sizes = _WOMEN_SHOE_SIZES if wardrobe == "women" else _MEN_SHOE_SIZES
    return Style(code, "shoes", name, wardrobe, colours, sizes, (price,) * len(sizes))


def _accessory(code: str, category: str, name: str, wardrobe: str, price: str, colours: tuple[str, ...]) -> Style:
    return Style(code, category, name, wardrobe, colours, ("",), (price,))


def _skincare(code: str, category: str, name: str, *volumes: tuple[str, str]) -> Style:
    # The first volume is the full size; a second one is the travel size.
    return Style(code, category, name, "all", ("",), tuple(v for v, _ in volumes), tuple(p for _, p in volumes))


STYLES = (
    _apparel("DR01", "dress", "真丝连衣裙", "women", "1699.00", ("黑色", "藏青")),
    _apparel("DR02", "dress", "针织连衣裙", "women", "1099.00", ("燕麦", "黑色")),
    _apparel("DR03", "dress", "法式碎花连衣裙", "women", "1299.00", ("雾蓝", "米白")),
    _apparel("DR04", "dress", "西装连衣裙", "women", "1899.00", ("黑色", "驼色")),
    _apparel("SK01", "skirt", "百褶半身裙", "women", "899.00", ("黑色", "卡其")),
    _apparel("SK02", "skirt", "羊毛A字半身裙", "women", "999.00", ("灰色", "驼色")),
    _apparel("SH01", "shirt", "真丝衬衫", "women", "999.00", ("白色", "米白")),
    _apparel("SH02", "shirt", "廓形棉质衬衫", "women", "599.00", ("白色", "雾蓝")),
    _apparel("SH03", "shirt", "商务免烫衬衫", "men", "599.00", ("白色", "雾蓝")),
    _apparel("SH04", "shirt", "牛津纺衬衫", "men", "499.00", ("白色", "卡其")),
    _apparel("SU01", "suit", "羊毛西装套装", "men", "3999.00", ("藏青", "灰色")),
    _apparel("SU02", "suit", "修身单排扣西装", "men", "2999.00", ("黑色", "藏青")),
    _apparel("TR01", "trousers", "西装阔腿裤", "women", "799.00", ("黑色", "卡其")),
    _apparel("TR02", "trousers", "商务西裤", "men", "899.00", ("黑色", "藏青")),
    _apparel("KN01", "knitwear", "羊绒圆领毛衣", "women", "1599.00", ("燕麦", "灰色")),
    _apparel("KN02", "knitwear", "羊毛V领开衫", "men", "1299.00", ("藏青", "灰色")),
    _apparel("KN03", "knitwear", "短款针织开衫", "women", "899.00", ("米白", "雾蓝")),
    _apparel("CT01", "coat", "双面羊绒大衣", "women", "3599.00", ("驼色", "黑色")),
    _apparel("CT02", "coat", "羊毛大衣", "men", "3299.00", ("藏青", "灰色")),
    _apparel("CT03", "coat", "经典风衣", "women", "2599.00", ("卡其", "黑色")),
    _shoes("SO01", "尖头高跟鞋", "women", "1299.00", ("黑色",)),
    _shoes("SO02", "乐福鞋", "women", "1099.00", ("黑色",)),
    _shoes("SO03", "德比皮鞋", "men", "1599.00", ("黑色",)),
    _shoes("SO04", "牛津皮鞋", "men", "1699.00", ("棕色",)),
    _accessory("BT01", "belt", "细款真皮腰带", "women", "499.00", ("黑色", "驼色")),
    _accessory("BT02", "belt", "针扣牛皮腰带", "men", "599.00", ("黑色", "棕色")),
    _accessory("BT03", "belt", "编织腰带", "women", "399.00", ("米白", "卡其")),
    _accessory("SF01", "scarf", "真丝方巾", "women", "599.00", ("雾蓝", "酒红")),
    _accessory("SF02", "scarf", "羊绒围巾", "all", "899.00", ("驼色", "灰色")),
    _accessory("SF03", "scarf", "印花长丝巾", "women", "699.00", ("米白", "黑色")),
    _accessory("TI01", "tie", "真丝领带", "men", "399.00", ("藏青", "酒红", "灰色")),
    _accessory("TI02", "tie", "针织领带", "men", "299.00", ("藏青", "黑色")),
    _accessory("SX01", "socks", "中筒棉袜", "all", "59.00", ("黑色", "白色")),
    _accessory("SX02", "socks", "羊毛商务袜", "men", "99.00", ("灰色", "藏青")),
    _accessory("SX03", "socks", "超薄丝袜", "women", "79.00", ("黑色", "肤色")),
    _accessory("BG01", "bag", "真皮托特包", "women", "2599.00", ("黑色", "驼色")),
    _accessory("BG02", "bag", "腋下包", "women", "1899.00", ("黑色", "米白")),
    _accessory("BG03", "bag", "链条小方包", "women", "1599.00", ("黑色", "酒红")),
    _accessory("BG04", "bag", "商务公文包", "men", "2999.00", ("黑色",)),
    _skincare("CL01", "cleanser", "氨基酸温和洁面乳", ("120ml", "168.00"), ("50ml", "78.00")),
    _skincare("CL02", "cleanser", "净澈洁面慕斯", ("150ml", "198.00")),
    _skincare("CL03", "cleanser", "舒缓卸妆油", ("200ml", "238.00")),
    _skincare("TN01", "toner", "玻尿酸保湿水", ("200ml", "228.00"), ("50ml", "78.00")),
    _skincare("TN02", "toner", "清透平衡爽肤水", ("200ml", "198.00")),
    _skincare("TN03", "toner", "舒缓修护精华水", ("150ml", "268.00")),
    _skincare("SM01", "serum", "烟酰胺焕亮精华", ("30ml", "498.00"), ("10ml", "188.00")),
    _skincare("SM02", "serum", "玻色因紧致精华", ("30ml", "598.00")),
    _skincare("SM03", "serum", "积雪草修护精华", ("30ml", "398.00")),
    _skincare("MO01", "moisturizer", "神经酰胺修护面霜", ("50g", "428.00"), ("15g", "168.00")),
    _skincare("MO02", "moisturizer", "清爽保湿乳液", ("100ml", "298.00")),
    _skincare("MO03", "moisturizer", "夜间修护晚霜", ("50g", "468.00")),
    _skincare("SS01", "sunscreen", "轻透防晒乳 SPF50+", ("50ml", "258.00")),
    _skincare("SS02", "sunscreen", "敏感肌物理防晒霜", ("40ml", "238.00")),
    _skincare("SS03", "sunscreen", "清爽防晒喷雾", ("150ml", "198.00")),
    _skincare("MK01", "mask", "补水修护面膜 5片装", ("5片", "198.00")),
    _skincare("MK02", "mask", "清洁泥膜", ("100g", "238.00")),
    _skincare("MK03", "mask", "睡眠面膜", ("80ml", "268.00")),
)

TAGS = (
    ("客户价值", "VIP"),
    ("客户价值", "高潜客户"),
    ("客户价值", "新客"),
    ("肤质", "敏感肌"),
    ("肤质", "干皮"),
    ("肤质", "油皮"),
    ("肤质", "混合肌"),
    ("风格偏好", "职场通勤"),
    ("风格偏好", "法式优雅"),
    ("风格偏好", "简约基础"),
    ("风格偏好", "休闲度假"),
    ("兴趣", "护肤达人"),
    ("兴趣", "会员日常客"),
)


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    category: str
    size: str  # clothing and shoe sizes; skincare volumes are not a size
    price: Decimal
    style: str


def demo_catalog() -> list[CatalogItem]:
    """Every SKU of the demo catalog, in a fixed order: style, then colour, then size."""
    items = []
    for style in STYLES:
        for colour in style.colours:
            for size, price in zip(style.sizes, style.prices, strict=True):
                code_parts = ("QM", style.code, COLOUR_CODES.get(colour, ""), size.upper())
                items.append(
                    CatalogItem(
                        sku="-".join(part for part in code_parts if part),
                        name=" ".join(part for part in (style.name, colour, size) if part),
                        category=style.category,
                        size=size if style.category not in SKINCARE_CATEGORIES else "",
                        price=Decimal(price),
                        style=style.code,
                    )
                )
    return items


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


def demo_logins() -> list[DemoLogin]:
    """The demo's published admin logins: the superuser, HQ, and each store's manager."""
    return [
        DemoLogin(ADMIN_USERNAME, ADMIN_PASSWORD, "超级管理员"),
        DemoLogin(HQ_USERNAME, DEMO_PASSWORD, "总部（全部门店）"),
        *(
            DemoLogin(store.manager_username, DEMO_PASSWORD, f"店长 {store.staff[0][0]}（{store.code}）")
            for store in DEMO_STORES
        ),
    ]


@dataclass
class DemoSummary:
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)

    def add(self, label: str, count: int) -> None:
        self.counts[label] = self.counts.get(label, 0) + count


def demo_data_present() -> list[str]:
    """What of the demo brand the database already holds; empty when seeding can start."""
    found = []
    codes = list(Store.objects.filter(code__in=[s.code for s in DEMO_STORES]).values_list("code", flat=True))
    if codes:
        found.append(f"门店 {'、'.join(codes)}")
    usernames = [HQ_USERNAME, *(s.manager_username for s in DEMO_STORES)]
    users = list(get_user_model().objects.filter(username__in=usernames).values_list("username", flat=True))
    if users:
        found.append(f"账号 {'、'.join(sorted(users))}")
    userids = [userid for s in DEMO_STORES for _, userid in s.staff]
    associates = Associate.objects.filter(wecom_userid__in=userids).count()
    if associates:
        found.append(f"导购 {associates} 位")
    products = Product.objects.filter(sku__startswith=SKU_PREFIX).count()
    if products:
        found.append(f"商品 {products} 个")
    return found


def demo_seed(
    *,
    customers: int,
    activity: float = 1.0,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int, int], None] | None = None,
    today: date | None = None,
) -> DemoSummary:
    """Write the demo brand with `customers` customers in one transaction; refuse if any of it exists.

    The history ends where `today` (by default the current day in Asia/Shanghai) begins, so the dashboard's last
    30 days, journeys and coupon expiries are live on the day of seeding; the same day gives the same data.

    `activity` scales how often customers buy: 1 gives the brand's usual mix (about 4 orders each),
    2.5 about 10 (the sidebar benchmark's data set). `progress(done, total)` is called after each chunk
    of customers is written.
    """
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ApplicationError("demo_size_invalid", f"客户数须在 1 到 {MAX_CUSTOMERS} 之间。")
    if not 0.1 <= activity <= MAX_ACTIVITY:
        raise ApplicationError("demo_activity_invalid", f"购买频次倍数须在 0.1 到 {MAX_ACTIVITY} 之间。")
    summary = DemoSummary()
    with transaction.atomic():
        present = demo_data_present()
        if present:
            raise ApplicationError(
                "demo_exists",
                f"数据库中已有演示数据（{'；'.join(present)}），未写入任何数据。"
                "如需重建，请先清空数据库（python manage.py flush）再运行。",
            )
        world = _world_create(summary=summary, reference=demo_reference(today or timezone.localdate(timezone=DEMO_TZ)))
        orders_written = 0
        with _foreign_keys_suspended(Customer, Identity, Order, OrderLine, CustomerTag, CustomerNote, FollowRelation):
            for chunk_no, first in enumerate(range(0, customers, chunk_size)):
                count = min(chunk_size, customers - first)
                orders_written += _chunk_write(
                    rng=np.random.default_rng([DEMO_SEED, chunk_no + 1]),
                    world=world,
                    first_index=first,
                    count=count,
                    first_order_no=orders_written + 1,
                    activity=activity,
                    summary=summary,
                )
                if progress:
                    progress(first + count, customers)
        _coupons_write(world=world, summary=summary)
        if is_postgres():
            # Freshly loaded tables have no statistics until autovacuum gets to them, and the first pages
            # would be planned as if they were empty.
            with connection.cursor() as cursor:
                for model in (
                    Customer,
                    Identity,
                    Order,
                    OrderLine,
                    CustomerTag,
                    CustomerNote,
                    StoreStock,
                    FollowRelation,
                ):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return summary


@contextmanager
def _foreign_keys_suspended(*models: type[Model]) -> Iterator[None]:
    """On PostgreSQL, drop the foreign keys of `models` while they are loaded and add them back after.

    A foreign key checks each inserted row with its own query, which was half the time of a large seed; adding
    it back checks all rows in one join, as PostgreSQL's "Populating a Database" advises. The keys come back
    with their exact definitions and names, inside the caller's transaction, so a failure leaves them as they
    were. The tables stay locked for everyone else until the transaction ends.
    """
    if not is_postgres():
        yield
        return
    # PostgreSQL will not alter a table whose deferred checks are pending (the associates just written).
    connection.check_constraints()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [[model._meta.db_table for model in models]],
        )
        keys = cursor.fetchall()
        for table, name, _ in keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")


# ---------------------------------------------------------------------------------------------------------
# Fixed part: logins, stores, associates, catalog, stock, tags.


@dataclass(frozen=True)
class _Catalog:
    """The catalog as lookup arrays, so baskets can be drawn for a whole chunk at once."""

    items: list[CatalogItem]
    price_fen: np.ndarray  # product → price in fen
    variant: np.ndarray  # (style, colour, size) → product, -1 where absent
    style_colours: np.ndarray  # style → number of colours
    style_volumes: np.ndarray  # style → number of sizes
    style_size_kind: np.ndarray  # style → 0 one size, 1 clothing, 2 shoes, 3 skincare volume
    category_styles: np.ndarray  # (category, wardrobe, k) → style
    category_style_count: np.ndarray  # (category, wardrobe) → number of styles


@dataclass(frozen=True)
class _World:
    catalog: _Catalog
    product_ids: np.ndarray
    prices: np.ndarray  # product → Decimal price (objects, shared by every line)
    discount_fen: np.ndarray  # (product, level) → discount per unit in fen
    discounts: np.ndarray  # (product, level, quantity - 1) → Decimal discount of the line
    store_ids: np.ndarray
    store_codes: np.ndarray
    store_cum: np.ndarray  # cumulative member share per store
    associate_ids: np.ndarray
    store_staff: np.ndarray  # (store, k) → associate index, -1 padded
    staff_cum: np.ndarray  # (store, k) cumulative chance a member is assigned to staff k
    tag_ids: dict[tuple[str, str], int]
    pack_ids: dict[str, int]  # the demo's coupon packs by name
    reference: datetime  # where the history ends: midnight starting the reference day, Asia/Shanghai
    reference_epoch: int
    window_start_epoch: int  # HISTORY_DAYS before the reference: day 0 of the orders
    day_strings: np.ndarray  # history day → "YYYYMMDD", for order numbers


CATEGORIES = tuple(CATEGORY_LABELS)
_CATEGORY_INDEX = {name: i for i, name in enumerate(CATEGORIES)}
_WARDROBES = ("women", "men")
_DISCOUNT_PERCENT = np.array([0, 10, 20])
_MAX_QUANTITY = 3


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def demo_reference(today: date) -> datetime:
    """Where the demo's history ends when seeded on `today`: that day's first instant in Asia/Shanghai."""
    return datetime.combine(today, time.min, tzinfo=DEMO_TZ)


_DAY = 86_400


def _catalog_build() -> _Catalog:
    items = demo_catalog()
    price_fen = np.array([int(item.price * 100) for item in items], dtype=np.int64)
    n_styles = len(STYLES)
    variant = np.full((n_styles, 3, 5), -1, dtype=np.int64)
    size_kind = np.zeros(n_styles, dtype=np.int64)
    product = 0
    for s, style in enumerate(STYLES):
        for c in range(len(style.colours)):
            for z in range(len(style.sizes)):
                variant[s, c, z] = product
                product += 1
        if style.category in SKINCARE_CATEGORIES:
            size_kind[s] = 3
        elif style.category == "shoes":
            size_kind[s] = 2
        elif len(style.sizes) == 3:
            size_kind[s] = 1
    category_styles = np.zeros((len(CATEGORIES), 2, 4), dtype=np.int64)
    category_style_count = np.zeros((len(CATEGORIES), 2), dtype=np.int64)
    for s, style in enumerate(STYLES):
        for w, wardrobe in enumerate(_WARDROBES):
            if style.wardrobe in (wardrobe, "all"):
                cat = _CATEGORY_INDEX[style.category]
                category_styles[cat, w, category_style_count[cat, w]] = s
                category_style_count[cat, w] += 1
    return _Catalog(
        items=items,
        price_fen=price_fen,
        variant=variant,
        style_colours=np.array([len(s.colours) for s in STYLES]),
        style_volumes=np.array([len(s.sizes) for s in STYLES]),
        style_size_kind=size_kind,
        category_styles=category_styles,
        category_style_count=category_style_count,
    )


def _money(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _db_datetimes(epoch_seconds: np.ndarray) -> list:
    """Aware datetimes in the form the backend's own ORM writes (SQLite keeps naive UTC text)."""
    aware = pd.to_datetime(epoch_seconds, unit="s", utc=True).to_pydatetime()
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(moment) for moment in aware]


def _nullable(ids: np.ndarray, index: np.ndarray) -> list:
    """`ids[index]` as Python ints, None where index is -1."""
    lookup = np.array([None, *ids.tolist()], dtype=object)
    return lookup[index + 1].tolist()


def _world_create(*, summary: DemoSummary, reference: datetime) -> _World:
    rng = np.random.default_rng([DEMO_SEED, 0])
    managers = _logins_create(summary=summary, reference=reference)
    reference_epoch = _epoch(reference)
    window_start_epoch = _epoch(reference - timedelta(days=HISTORY_DAYS))

    store_ids = np.asarray(next_ids(Store, len(DEMO_STORES)), dtype=np.int64)
    opened = np.array([_epoch(datetime.fromisoformat(s.opened).replace(hour=10, tzinfo=DEMO_TZ)) for s in DEMO_STORES])
    summary.add(
        "门店",
        bulk_copy(
            Store,
            ("id", "code", "name", "city", "address", "is_active", "created_at"),
            zip(
                store_ids.tolist(),
                [s.code for s in DEMO_STORES],
                [s.name for s in DEMO_STORES],
                [s.city for s in DEMO_STORES],
                [s.address for s in DEMO_STORES],
                [True] * len(DEMO_STORES),
                _db_datetimes(opened),
                strict=True,
            ),
        ),
    )
    through = Store.managers.through
    through.objects.bulk_create(
        through(store_id=store_id, user_id=managers[s.code].pk)
        for store_id, s in zip(store_ids.tolist(), DEMO_STORES, strict=True)
    )

    staff = [(i, k, name, userid) for i, s in enumerate(DEMO_STORES) for k, (name, userid) in enumerate(s.staff)]
    associate_ids = np.asarray(next_ids(Associate, len(staff)), dtype=np.int64)
    associate_store = np.array([i for i, _, _, _ in staff])
    hired = opened[associate_store] + (
        rng.random(len(staff)) * (reference_epoch - 30 * _DAY - opened[associate_store])
    ).astype(np.int64)
    summary.add(
        "导购",
        bulk_copy(
            Associate,
            ("id", "wecom_userid", "name", "store_id", "role", "user_id", "is_active", "created_at"),
            zip(
                associate_ids.tolist(),
                [userid for _, _, _, userid in staff],
                [name for _, _, name, _ in staff],
                store_ids[associate_store].tolist(),
                [Associate.Role.STORE_MANAGER if k == 0 else Associate.Role.ASSOCIATE for _, k, _, _ in staff],
                [managers[DEMO_STORES[i].code].pk if k == 0 else None for i, k, _, _ in staff],
                [True] * len(staff),
                _db_datetimes(hired),
                strict=True,
            ),
        ),
    )
    max_staff = max(len(s.staff) for s in DEMO_STORES)
    store_staff = np.full((len(DEMO_STORES), max_staff), -1, dtype=np.int64)
    for index, (i, k, _, _) in enumerate(staff):
        store_staff[i, k] = index
    # A store manager looks after half as many customers as an associate.
    staff_cum = np.array(
        [_cumulative(0.5, *[1.0] * (len(s.staff) - 1), *[0.0] * (max_staff - len(s.staff))) for s in DEMO_STORES]
    )

    catalog = _catalog_build()
    product_ids = np.asarray(next_ids(Product, len(catalog.items)), dtype=np.int64)
    style_of = {style.code: s for s, style in enumerate(STYLES)}
    launched = window_start_epoch - rng.integers(30, 400, len(STYLES)) * _DAY
    product_created = launched[[style_of[item.style] for item in catalog.items]]
    summary.add(
        "商品",
        bulk_copy(
            Product,
            (
                "id",
                "sku",
                "name",
                "category",
                "size",
                "style_code",
                "price",
                "image_url",
                "is_active",
                "online_stock",
                "created_at",
            ),
            zip(
                product_ids.tolist(),
                [item.sku for item in catalog.items],
                [item.name for item in catalog.items],
                [item.category for item in catalog.items],
                [item.size for item in catalog.items],
                [item.style for item in catalog.items],
                [item.price for item in catalog.items],
                [""] * len(catalog.items),
                [True] * len(catalog.items),
                _online_stock(catalog),
                _db_datetimes(product_created),
                strict=True,
            ),
        ),
    )
    summary.add(
        "门店库存",
        _stock_write(
            rng=rng, catalog=catalog, store_ids=store_ids, product_ids=product_ids, reference_epoch=reference_epoch
        ),
    )
    summary.add("搭配规则", _complement_rules_write())
    pack_ids = _coupon_packs_write()
    summary.add("券包", len(pack_ids))
    summary.add("社群", communities_demo_seed())
    # Drafts to go out at 10:00 the day after the reference.
    drafts = campaigns_demo_seed(creator=managers[DEMO_STORES[0].code], send_at=reference + timedelta(days=1, hours=10))
    summary.add("群发活动（草稿）", drafts["campaigns"])

    tag_ids = {(group, name): Tag.objects.get_or_create(group=group, name=name)[0].pk for group, name in TAGS}
    summary.add("标签", len(tag_ids))

    discount_fen = (catalog.price_fen[:, None] * _DISCOUNT_PERCENT[None, :] + 5_000) // 10_000 * 100
    quantities = np.arange(1, _MAX_QUANTITY + 1)
    discounts = np.array(
        [_money(v) for v in (discount_fen[:, :, None] * quantities).ravel().tolist()], dtype=object
    ).reshape(*discount_fen.shape, _MAX_QUANTITY)
    return _World(
        catalog=catalog,
        product_ids=product_ids,
        prices=np.array([item.price for item in catalog.items], dtype=object),
        discount_fen=discount_fen,
        discounts=discounts,
        store_ids=store_ids,
        store_codes=np.array([s.code for s in DEMO_STORES]),
        store_cum=_cumulative(*(s.member_share for s in DEMO_STORES)),
        associate_ids=associate_ids,
        store_staff=store_staff,
        staff_cum=staff_cum,
        tag_ids=tag_ids,
        pack_ids=pack_ids,
        reference=reference,
        reference_epoch=reference_epoch,
        window_start_epoch=window_start_epoch,
        day_strings=np.array(
            [(reference.date() - timedelta(days=HISTORY_DAYS - day)).strftime("%Y%m%d") for day in range(HISTORY_DAYS)]
        ),
    )


def _logins_create(*, summary: DemoSummary, reference: datetime) -> dict[str, AbstractBaseUser]:
    """The admin, HQ and per-store manager accounts; returns the manager's user per store code."""
    User = get_user_model()
    joined = reference - timedelta(days=HISTORY_DAYS + 30)
    logins = {login.username: login for login in demo_logins()}
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        summary.logins.append(DemoLogin(ADMIN_USERNAME, "（已存在，密码未改动）", logins[ADMIN_USERNAME].role))
    else:
        User.objects.create_superuser(ADMIN_USERNAME, "admin@qimu.example", ADMIN_PASSWORD, date_joined=joined)
        summary.logins.append(logins[ADMIN_USERNAME])
        summary.add("后台账号", 1)

    group, _ = Group.objects.get_or_create(name=MANAGER_GROUP)
    group.permissions.add(*_permissions(MANAGER_PERMISSIONS))
    # The demo accounts share one published password: hashing it once saves seconds of PBKDF2 per seed.
    demo_hash = make_password(DEMO_PASSWORD)

    def staff_user(username: str, name: str, email: str) -> AbstractBaseUser:
        user = User.objects.create(
            username=username,
            password=demo_hash,
            first_name=name[1:],
            last_name=name[0],
            email=email,
            is_staff=True,
            date_joined=joined,
        )
        user.groups.add(group)
        summary.add("后台账号", 1)
        return user

    hq = staff_user(HQ_USERNAME, "总部运营", "hq@qimu.example")
    hq.user_permissions.add(*_permissions((HQ_PERMISSION, *HQ_EXTRA_PERMISSIONS)))
    summary.logins.append(logins[HQ_USERNAME])
    managers = {}
    for store in DEMO_STORES:
        name, userid = store.staff[0]
        managers[store.code] = staff_user(store.manager_username, name, f"{userid}@qimu.example")
        summary.logins.append(logins[store.manager_username])
    return managers


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    """Permissions by "app_label.codename", in the order given."""
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.filter(codename__in=[n.split(".")[1] for n in names]).select_related("content_type")
    }
    missing = [name for name in names if name not in found]
    if missing:
        raise ApplicationError("demo_permissions_missing", f"缺少权限 {', '.join(missing)}：请先运行 migrate。")
    return [found[name] for name in names]


def _stock_write(
    *,
    rng: np.random.Generator,
    catalog: _Catalog,
    store_ids: np.ndarray,
    product_ids: np.ndarray,
    reference_epoch: int,
) -> int:
    stores, products = np.meshgrid(np.arange(len(store_ids)), np.arange(len(product_ids)), indexing="ij")
    stores, products = stores.ravel(), products.ravel()
    skincare = np.array([item.category in SKINCARE_CATEGORIES for item in catalog.items])
    # Clothing is stocked a few per size, skincare by the carton; about one line in ten is sold out.
    quantity = np.where(skincare[products], rng.integers(6, 61, len(products)), rng.integers(1, 13, len(products)))
    quantity[rng.random(len(products)) < 0.09] = 0
    updated = reference_epoch - rng.integers(600, 3 * _DAY, len(products))
    return bulk_copy(
        StoreStock,
        ("id", "store_id", "product_id", "quantity", "updated_at"),
        zip(
            next_ids(StoreStock, len(products)),
            store_ids[stores].tolist(),
            product_ids[products].tolist(),
            quantity.tolist(),
            _db_datetimes(updated),
            strict=True,
        ),
    )


def _online_stock(catalog: _Catalog) -> list[int | None]:
    """Units in the online warehouse per product: None for the few styles sold only in stores, about one
    SKU in eight sold out. A generator of its own, so that the store stock drawn after it stays as it was."""
    rng = np.random.default_rng([DEMO_SEED, 0, 1])
    store_only = rng.random(len(STYLES)) < 0.06
    style_of = {style.code: s for s, style in enumerate(STYLES)}
    skincare = np.array([item.category in SKINCARE_CATEGORIES for item in catalog.items])
    quantity = np.where(skincare, rng.integers(20, 501, len(skincare)), rng.integers(1, 41, len(skincare)))
    quantity[rng.random(len(skincare)) < 0.12] = 0
    return [
        None if store_only[style_of[item.style]] else units
        for item, units in zip(catalog.items, quantity.tolist(), strict=True)
    ]


def _complement_rules_write() -> int:
    """The demo's complement rules; a category the brand already has a rule for keeps its own."""
    existing = set(ComplementRule.objects.values_list("category", flat=True))
    rules = [
        ComplementRule(category=category, complements="、".join(complements))
        for category, complements in DEMO_COMPLEMENT_RULES.items()
        if category not in existing
    ]
    return len(ComplementRule.objects.bulk_create(rules))


def _coupon_packs_write() -> dict[str, int]:
    """The demo's coupon templates and the packs associates send from the sidebar (one goes with the welcome);
    returns the packs' ids by name."""
    from coupons.models import CouponPack, CouponPackItem, CouponTemplate

    gift = Product.objects.filter(category="serum").order_by("price", "sku").first()
    templates = {
        key: CouponTemplate.objects.create(status=CouponTemplate.Status.RUNNING, **fields)
        for key, fields in {
            "300-50": dict(name="满300减50", kind="threshold", value=50, threshold=300, valid_days=30),
            "20": dict(name="20元无门槛券", kind="amount_off", value=20, valid_days=14, per_customer_limit=4),
            "85": dict(name="全场85折券", kind="percent_off", value=15, max_discount=200, valid_days=14),
            "gift": dict(
                name="满500赠精华小样", kind="gift", threshold=500, gift_product=gift, valid_days=30, channels="store"
            ),
        }.items()
        for fields in [{"total_stock": 1_000_000, **fields}]
    }
    packs = {
        ("新客礼包", "欢迎来到栖木：满300减50 + 20元无门槛", True): [("300-50", 1), ("20", 1)],
        ("老客回购礼", "好久不见，85折 + 2张20元无门槛券", False): [("85", 1), ("20", 2)],
        ("生日礼", "生日快乐！到店消费满500元赠精华小样", False): [("gift", 1), ("20", 1)],
    }
    pack_ids = {}
    for (name, description, welcome), items in packs.items():
        pack = CouponPack.objects.create(
            name=name, description=description, budget=1_000_000, daily_quota=30, welcome=welcome
        )
        CouponPackItem.objects.bulk_create(
            CouponPackItem(pack=pack, template=templates[key], quantity=quantity) for key, quantity in items
        )
        pack_ids[name] = pack.pk
    return pack_ids


# ---------------------------------------------------------------------------------------------------------
# Customers, a chunk at a time.

_SURNAMES = np.array(
    list(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许邓韩冯曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
        "姚卢钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛段雷龙黎史陶贺顾毛郝龚邵万钱严戴莫孔向常汤"
    )
)
_FEMALE_CHARS = np.array(
    list("静敏丽婷雪琳颖晶欣怡佳倩婉璐瑶萱悦雯妍蕾洁慧娜芳燕莉薇菲晓梦诗雨馨思嘉婧露瑾彤岚璇晴宁玥珊茜楠钰月")
)
_MALE_CHARS = np.array(list("伟磊强军杰涛明超勇鹏浩宇轩睿博文俊凯航帆翔斌辉鑫晨阳峰泽昊哲然毅坤彬晖林川远卓源"))
_GENDERS = np.array([Customer.Gender.FEMALE, Customer.Gender.MALE, Customer.Gender.UNKNOWN])
_SKIN_TAGS = ("敏感肌", "干皮", "油皮", "混合肌")
_OTHER_STYLE_TAGS = ("法式优雅", "简约基础", "休闲度假")
# All 32 prefixes are valid mainland mobile ranges for every following digit (checked against phonenumbers).
_PHONE_PREFIXES = np.array(
    [*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190), 176, 177, 178]
)
_CHANNELS = np.array([Channel.STORE_POS, Channel.MINI_PROGRAM, Channel.ONLINE_MALL, Channel.MARKETPLACE])
_STORE_POS, _MINI_PROGRAM = 0, 1
_FULFILMENTS = np.array([Order.Fulfilment.IN_STORE, Order.Fulfilment.DELIVERY, Order.Fulfilment.STORE_PICKUP])
_STATUSES = np.array([Order.Status.COMPLETED, Order.Status.PAID, Order.Status.CANCELLED, Order.Status.RETURNED])
_COMPLETED, _PAID, _CANCELLED, _RETURNED = range(4)
# Marketplace buyers return the most, store buyers (who tried it on) the least: about 4% overall.
_RETURN_RATE = np.array([0.025, 0.045, 0.06, 0.08])
_CANCEL_RATE = np.array([0.0, 0.015, 0.015, 0.02])
_SKINCARE_STEPS = np.array([_CATEGORY_INDEX[c] for c in SKINCARE_CATEGORIES])
_WORKWEAR = np.array([_CATEGORY_INDEX[c] for c in ("suit", "shirt", "trousers")])

_NOTES_WOMEN = (
    "常穿{size}码，偏爱{colour}，{category}上新时优先通知。",
    "上次试穿{style}很满意，{colour}补货后联系。",
    "周末常来店，喜欢真丝和羊绒面料，对价格不太敏感。",
    "在准备婚礼宾客着装，想要一条{colour}连衣裙，预算两千左右。",
    "肩宽偏窄，外套建议{size}码并改短袖长。",
)
_NOTES_MEN = (
    "商务场合穿着为主，衬衫{size}码，喜欢{colour}西装。",
    "下个月出差多，推荐免烫衬衫和领带搭配。",
    "一般和太太一起来挑选，周末下午到店。",
)
_NOTES_BEAUTY = (
    "{skin}，对酒精和香精敏感，推荐温和洁面和修护精华。",
    "护肤步骤完整，精华大概两个月用完，到时提醒回购。",
    "喜欢小程序下单到店自提，下班后来取。",
    "夏天要清爽型防晒，偏好喷雾。",
)
_NOTE_STYLES = tuple(s.name for s in STYLES if s.wardrobe == "women" and s.category in ("dress", "coat", "knitwear"))
_NOTES_ANY = (
    "不喜欢频繁推送，一个月联系一次即可。",
    "会员日活动参与积极，喜欢提前锁定优惠。",
    "生日前一周发生日券包，很在意仪式感。",
)


def _cumulative(*weights: float) -> np.ndarray:
    cumulative = np.cumsum(weights) / np.sum(weights)
    # Exactly 1.0 from the last option that can happen on, so rounding never lets a draw land on an
    # option of weight zero.
    cumulative[np.flatnonzero(weights)[-1] :] = 1.0
    return cumulative


def _pick(rng: np.random.Generator, cumulative: np.ndarray, size: int | None = None) -> np.ndarray:
    """Option indices drawn from cumulative probabilities: one row for `size` draws, or one row per draw."""
    if cumulative.ndim == 1:
        return np.searchsorted(cumulative, rng.random(size), side="right")
    return (rng.random(len(cumulative))[:, None] >= cumulative).sum(axis=1)


_SURNAME_CUM = _cumulative(*(1 / (rank + 4) for rank in range(len(_SURNAMES))))
_PERSONA_CUM = np.array([_cumulative(0.42, 0.23, 0.35), _cumulative(0.78, 0.07, 0.15)])  # fashion, beauty, both
# The garment a clothing basket is built around, by wardrobe.
_ANCHOR_WEIGHTS = (
    {"dress": 26, "skirt": 10, "shirt": 12, "knitwear": 14, "coat": 10, "trousers": 8, "bag": 10, "shoes": 10},
    {"suit": 22, "shirt": 28, "knitwear": 14, "coat": 12, "trousers": 12, "shoes": 12},
)
_ANCHOR_CUM = np.array([_cumulative(*(weights.get(c, 0) for c in CATEGORIES)) for weights in _ANCHOR_WEIGHTS])
# (skincare order?, channel profile) → store_pos, mini_program, online_mall, marketplace.
_CHANNEL_CUM = np.array(
    [
        [_cumulative(0.80, 0.12, 0.05, 0.03), _cumulative(0.50, 0.28, 0.12, 0.10), _cumulative(0.10, 0.35, 0.30, 0.25)],
        [_cumulative(0.55, 0.30, 0.08, 0.07), _cumulative(0.30, 0.40, 0.15, 0.15), _cumulative(0.05, 0.35, 0.30, 0.30)],
    ]
)
_DISCOUNT_CUM = np.array(
    [
        _cumulative(0.72, 0.20, 0.08),
        _cumulative(0.60, 0.30, 0.10),
        _cumulative(0.60, 0.30, 0.10),
        _cumulative(0.40, 0.40, 0.20),
    ]
)
_COMPLEMENT_TABLE = np.full((len(CATEGORIES), 4), -1, dtype=np.int64)
for _anchor, _addons in COMPLEMENTS.items():
    _COMPLEMENT_TABLE[_CATEGORY_INDEX[_anchor], : len(_addons)] = [_CATEGORY_INDEX[c] for c in _addons]
# Chances of one, two or three units on a line: socks and masks come in multiples.
_UNITS = {"socks": (0.60, 0.30, 0.10), "mask": (0.70, 0.30, 0.0), **{c: (0.92, 0.08, 0.0) for c in SKINCARE_ROUTINE}}
_UNITS_CUM = np.array([_cumulative(*_UNITS.get(c, (1.0, 0.0, 0.0))) for c in CATEGORIES])


@dataclass(frozen=True)
class _People:
    index: np.ndarray  # the customer's number across the whole seed
    name: list[str]
    gender: np.ndarray  # index into _GENDERS
    birthday: np.ndarray  # ISO dates, None where unknown
    consent: np.ndarray
    opted_out: np.ndarray
    wardrobe: np.ndarray  # 0 womenswear, 1 menswear
    fashion: np.ndarray  # buys clothing and accessories
    beauty: np.ndarray  # buys skincare
    store: np.ndarray
    associate: np.ndarray  # -1 without a dedicated associate
    joined_at: np.ndarray  # epoch seconds
    start_day: np.ndarray  # first day of the history window the customer buys on
    end_day: np.ndarray  # day after the last; earlier for customers who lapse
    profile: np.ndarray  # channel habits: 0 store-loyal, 1 omnichannel, 2 online
    size: np.ndarray  # clothing size 0..2
    shoe_size: np.ndarray  # 0..4
    favourite: np.ndarray  # picks the styles a customer keeps coming back to
    regimen: np.ndarray  # (customers, 6) skincare steps in use: the routine, then mask
    skin: np.ndarray  # index into _SKIN_TAGS


@dataclass(frozen=True)
class _Orders:
    customer: np.ndarray  # index into the chunk's people
    day: np.ndarray
    placed_at: np.ndarray
    skincare: np.ndarray
    opening: np.ndarray  # a skincare buyer's first order: the whole regimen
    channel: np.ndarray
    store: np.ndarray  # -1 for none
    associate: np.ndarray  # -1 for none
    fulfilment: np.ndarray
    status: np.ndarray
    discount_level: np.ndarray


@dataclass(frozen=True)
class _Lines:
    order: np.ndarray  # index into the chunk's orders, ascending
    line_no: np.ndarray
    category: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    order_total_fen: np.ndarray  # per order


def _people_draw(*, rng: np.random.Generator, world: _World, first_index: int, count: int) -> _People:
    n = count
    gender = _pick(rng, _cumulative(0.78, 0.17, 0.05), n)
    wardrobe = np.where(gender == 2, rng.random(n) < 0.3, gender == 1).astype(np.int64)
    # Prospects were added in WeCom by an associate and have not bought yet.
    prospect = rng.random(n) < 0.05
    persona = _pick(rng, _PERSONA_CUM[wardrobe])
    store = _pick(rng, world.store_cum, n)
    has_associate = prospect | (rng.random(n) < 0.9)
    staff = world.store_staff[store, _pick(rng, world.staff_cum[store])]
    before_window = rng.random(n) < 0.55
    joined_day = np.where(before_window, -rng.integers(1, 3 * 365, n), rng.integers(0, HISTORY_DAYS - 7, n))
    # Members sign up in the morning, before the first order of that day can be placed.
    joined_at = world.window_start_epoch + joined_day * _DAY + rng.integers(6 * 3600, 10 * 3600, n)
    start_day = np.maximum(joined_day, 0)
    lapsed = rng.random(n) < 0.2
    lapse_day = start_day + 1 + ((HISTORY_DAYS - start_day) * rng.uniform(0.3, 0.9, n)).astype(np.int64)
    routine_steps = 1 + _pick(rng, _cumulative(0.15, 0.20, 0.25, 0.20, 0.20), n)
    uses_mask = (routine_steps >= 3) & (rng.random(n) < 0.35)
    age_days = (np.clip(rng.normal(33, 8, n), 19, 62) * 365.25).astype(np.int64)
    born = np.datetime64(world.reference.date()) - age_days
    opted_out = rng.random(n) < 0.02
    return _People(
        index=np.arange(first_index, first_index + n, dtype=np.int64),
        name=_names(rng, gender),
        gender=gender,
        birthday=np.where(rng.random(n) < 0.85, np.datetime_as_string(born), None),
        # Someone who opted out never counts as consenting, whatever they once agreed to.
        consent=~opted_out & (rng.random(n) < 0.9),
        opted_out=opted_out,
        wardrobe=wardrobe,
        fashion=~prospect & (persona != 1),
        beauty=~prospect & (persona != 0),
        store=store,
        associate=np.where(has_associate, staff, -1),
        joined_at=joined_at,
        start_day=start_day,
        end_day=np.where(lapsed, np.minimum(lapse_day, HISTORY_DAYS), HISTORY_DAYS),
        profile=_pick(rng, _cumulative(0.55, 0.30, 0.15), n),
        size=_pick(rng, _cumulative(0.30, 0.45, 0.25), n),
        shoe_size=_pick(rng, _cumulative(0.10, 0.25, 0.30, 0.25, 0.10), n),
        favourite=rng.integers(0, 1 << 30, n),
        regimen=np.column_stack([np.arange(5)[None, :] < routine_steps[:, None], uses_mask]),
        skin=_pick(rng, _cumulative(0.30, 0.25, 0.20, 0.25), n),
    )


def _orders_draw(*, rng: np.random.Generator, world: _World, people: _People, activity: float) -> _Orders:
    n = len(people.index)
    span = people.end_day - people.start_day
    # Clothing: a long tail of visits, fewer for recent members, and a few big spenders.
    visits = (1 + rng.negative_binomial(1.5, 0.42, n)) * (0.4 + 0.6 * span / HISTORY_DAYS) * activity
    visits *= np.where(rng.random(n) < 0.03, 3, 1)
    fashion_count = np.where(people.fashion, np.clip(np.rint(visits), 1, 60 * activity), 0).astype(np.int64)
    fashion_customer = np.repeat(np.arange(n), fashion_count)
    fashion_day = people.start_day[fashion_customer] + (
        rng.random(len(fashion_customer)) * span[fashion_customer]
    ).astype(np.int64)

    # Skincare: the routine runs out every 60-90 days; some refills are bought elsewhere.
    cadence = np.maximum(rng.integers(60, 91, n) / activity, 14).astype(np.int64)
    first = (rng.random(n) * np.minimum(cadence, span)).astype(np.int64)
    refills = np.where(people.beauty, (span - 1 - first) // cadence + 1, 0)
    skin_customer = np.repeat(np.arange(n), refills)
    step = np.arange(len(skin_customer)) - np.repeat(np.cumsum(refills) - refills, refills)
    skin_day = (
        people.start_day[skin_customer]
        + first[skin_customer]
        + step * cadence[skin_customer]
        + rng.integers(-6, 7, len(skin_customer))
    )
    skin_day = np.clip(skin_day, people.start_day[skin_customer], people.end_day[skin_customer] - 1)
    keep = (step == 0) | (rng.random(len(step)) < np.where(people.fashion, 0.6, 0.8)[skin_customer])

    customer = np.concatenate([fashion_customer, skin_customer[keep]])
    day = np.concatenate([fashion_day, skin_day[keep]])
    skincare = np.concatenate([np.zeros(len(fashion_customer), bool), np.ones(int(keep.sum()), bool)])
    opening = np.concatenate([np.zeros(len(fashion_customer), bool), (step == 0)[keep]])
    by_time = np.lexsort((day, customer))
    customer, day, skincare, opening = customer[by_time], day[by_time], skincare[by_time], opening[by_time]
    m = len(customer)

    channel = _pick(rng, _CHANNEL_CUM[skincare.astype(np.int64), people.profile[customer]])
    in_store = channel == _STORE_POS
    home = people.store[customer]
    own = people.associate[customer]
    travelling = rng.random(m) < 0.1
    store = np.where(in_store, np.where(travelling, _pick(rng, world.store_cum, m), home), -1)
    mini_program = channel == _MINI_PROGRAM
    pickup = mini_program & (rng.random(m) < 0.35)
    # A mini-program delivery bought from a product card the associate sent is credited to them and the store.
    shared = mini_program & ~pickup & (own >= 0) & (rng.random(m) < 0.45)
    store = np.where(pickup | shared, home, store)
    serving = world.store_staff[np.maximum(store, 0), _pick(rng, world.staff_cum[np.maximum(store, 0)])]
    served_by_own = (store == home) & (own >= 0) & (rng.random(m) < 0.75)
    associate = np.where(in_store, np.where(served_by_own, own, serving), -1)
    associate = np.where(shared | (pickup & (own >= 0) & (rng.random(m) < 0.5)), own, associate)

    draw = rng.random(m)
    returned = draw < _RETURN_RATE[channel]
    cancelled = ~returned & (draw < _RETURN_RATE[channel] + _CANCEL_RATE[channel])
    in_transit = ~in_store & (day >= HISTORY_DAYS - 2)
    status = np.select([returned, cancelled, in_transit], [_RETURNED, _CANCELLED, _PAID], _COMPLETED)
    time_of_day = np.where(in_store, rng.integers(10 * 3600, 22 * 3600, m), rng.integers(10 * 3600, 24 * 3600, m))
    return _Orders(
        customer=customer,
        day=day,
        placed_at=world.window_start_epoch + day * _DAY + time_of_day,
        skincare=skincare,
        opening=opening,
        channel=channel,
        store=store,
        associate=associate,
        fulfilment=np.where(in_store, 0, np.where(pickup, 2, 1)),
        status=status,
        discount_level=_pick(rng, _DISCOUNT_CUM[channel]),
    )


def _lines_draw(*, rng: np.random.Generator, world: _World, people: _People, orders: _Orders) -> _Lines:
    """Baskets: an anchor and its complements for clothing, the regimen's refills for skincare."""
    m = len(orders.customer)
    wardrobe = people.wardrobe[orders.customer]
    anchor = _pick(rng, _ANCHOR_CUM[wardrobe])
    candidates = _COMPLEMENT_TABLE[anchor]
    shuffle = np.where(candidates >= 0, rng.random((m, 4)), 2.0)
    addons = np.take_along_axis(candidates, np.argsort(shuffle, axis=1)[:, :2], axis=1)
    addon_count = _pick(rng, _cumulative(0.35, 0.45, 0.20), m)
    addons = np.where(np.arange(2)[None, :] < addon_count[:, None], addons, -1)
    # Now and then something unrelated goes in the bag too.
    stray = np.where(rng.random(m) < 0.05, rng.integers(0, len(CATEGORIES), m), -1)
    stray = np.where((stray == anchor) | (stray == addons[:, 0]) | (stray == addons[:, 1]), -1, stray)
    clothing = np.column_stack([anchor, addons, stray, np.full((m, 2), -1)])

    refill = people.regimen[orders.customer] & (orders.opening[:, None] | (rng.random((m, 6)) < 0.7))
    # A refill order buys at least one step: the one that ran out first.
    empty = ~refill.any(axis=1)
    ran_out = np.argmax(people.regimen[orders.customer] * rng.random((m, 6)), axis=1)
    refill[empty, ran_out[empty]] = True
    skincare = np.where(refill, _SKINCARE_STEPS[None, :], -1)
    slots = np.where(orders.skincare[:, None], skincare, clothing)

    order, slot = np.nonzero(slots >= 0)
    category = slots[order, slot]
    customer = orders.customer[order]
    style_wardrobe = people.wardrobe[customer]
    style_count = world.catalog.category_style_count[category, style_wardrobe]
    # A complement with no style for this wardrobe (a tie for a womenswear shopper) is simply not added.
    sold = style_count > 0
    order, category, customer, style_wardrobe, style_count = (
        order[sold], category[sold], customer[sold], style_wardrobe[sold], style_count[sold]
    )  # fmt: skip
    count = len(order)
    loyal = rng.random(count) < 0.7
    choice = np.where(
        loyal,
        (people.favourite[customer] + 7 * category) % style_count,
        (rng.random(count) * style_count).astype(np.int64),
    )
    style = world.catalog.category_styles[category, style_wardrobe, choice]
    colour = (rng.random(count) * world.catalog.style_colours[style]).astype(np.int64)
    kind = world.catalog.style_size_kind[style]
    travel_size = (rng.random(count) < 0.15) & (world.catalog.style_volumes[style] > 1)
    size = np.select(
        [kind == 1, kind == 2, kind == 3], [people.size[customer], people.shoe_size[customer], travel_size], 0
    )
    product = world.catalog.variant[style, colour, size]
    quantity = 1 + _pick(rng, _UNITS_CUM[category])

    # Every order keeps its anchor or a refill, so each has at least one line and `first_line` ascends.
    per_order = np.bincount(order, minlength=m)
    first_line = np.cumsum(per_order) - per_order
    level = orders.discount_level[order]
    amount_fen = quantity * (world.catalog.price_fen[product] - world.discount_fen[product, level])
    return _Lines(
        order=order,
        line_no=np.arange(count) - first_line[order] + 1,
        category=category,
        product=product,
        quantity=quantity,
        order_total_fen=np.add.reduceat(amount_fen, first_line) if m else np.zeros(0, np.int64),
    )


_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_BASE36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_ONLINE_ORDER_PREFIXES = np.array(["", "MP", "QM", "TM"])


def _phones(index: np.ndarray) -> list[str]:
    """Distinct, valid mainland mobiles in E.164: an affine bijection spreads customer numbers over the ranges."""
    space = len(_PHONE_PREFIXES) * 10**8
    number = (index * 2_654_435_761 + 982_451_653) % space
    national = _PHONE_PREFIXES[number // 10**8] * 10**8 + number % 10**8
    return [f"+86{value}" for value in national.tolist()]


def _opaque_ids(
    rng: np.random.Generator,
    index: np.ndarray,
    *,
    prefix: str,
    length: int,
    alphabet: np.ndarray,
    multiplier: int,
    offset: int,
) -> list[str]:
    """Ids shaped like the platform's own and unique by construction: random characters, then six that encode the
    customer number through a bijection of [0, len(alphabet) ** 6) (`multiplier` is coprime to that)."""
    base = len(alphabet)
    scrambled = (index * multiplier + offset) % base**6
    digits = np.empty((len(index), 6), dtype=np.int64)
    for position in range(5, -1, -1):
        digits[:, position] = scrambled % base
        scrambled //= base
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(index), len(prefix)))
    body = alphabet[rng.integers(0, base, (len(index), length - len(prefix) - 6))]
    raw = np.ascontiguousarray(np.column_stack([head, body, alphabet[digits]]))
    return raw.view(f"S{length}").ravel().astype(f"U{length}").tolist()


def _member_numbers(index: np.ndarray) -> list[str]:
    number = (index * 374_761_393 + 5_772_156_649) % 10**10
    return [f"QM{value:010d}" for value in number.tolist()]


def _names(rng: np.random.Generator, gender: np.ndarray) -> list[str]:
    n = len(gender)
    surname = _SURNAMES[_pick(rng, _SURNAME_CUM, n)]
    feminine = np.where(gender == 2, rng.random(n) < 0.7, gender == 0)
    given = [
        np.where(
            feminine,
            _FEMALE_CHARS[rng.integers(0, len(_FEMALE_CHARS), n)],
            _MALE_CHARS[rng.integers(0, len(_MALE_CHARS), n)],
        )
        for _ in range(2)
    ]
    second = np.where(rng.random(n) < 0.72, given[1], "")
    return [a + b + c for a, b, c in zip(surname.tolist(), given[0].tolist(), second.tolist(), strict=True)]


def _chunk_write(
    *,
    rng: np.random.Generator,
    world: _World,
    first_index: int,
    count: int,
    first_order_no: int,
    activity: float,
    summary: DemoSummary,
) -> int:
    """Draw and write `count` customers with everything that hangs off them; returns how many orders."""
    # Each part draws from its own stream, so changing how one is drawn leaves the others as they were.
    people_rng, orders_rng, lines_rng, identities_rng, tags_rng, notes_rng, follows_rng = rng.spawn(7)
    people = _people_draw(rng=people_rng, world=world, first_index=first_index, count=count)
    orders = _orders_draw(rng=orders_rng, world=world, people=people, activity=activity)
    lines = _lines_draw(rng=lines_rng, world=world, people=people, orders=orders)

    customer_ids = np.asarray(next_ids(Customer, count), dtype=np.int64)
    joined = _db_datetimes(people.joined_at)
    summary.add(
        "客户",
        bulk_copy(
            Customer,
            (
                "id", "name", "gender", "birthday", "phone", "primary_store_id", "primary_associate_id",
                "marketing_consent", "opted_out", "merged_into_id", "created_at", "updated_at",
            ),
            zip(
                customer_ids.tolist(),
                people.name,
                _GENDERS[people.gender].tolist(),
                people.birthday.tolist(),
                _phones(people.index),
                world.store_ids[people.store].tolist(),
                _nullable(world.associate_ids, people.associate),
                people.consent.tolist(),
                people.opted_out.tolist(),
                [None] * count,
                joined,
                joined,
                strict=True,
            ),
        ),
    )  # fmt: skip
    wecom_holders, external_userids = _identities_write(
        rng=identities_rng, people=people, orders=orders, customer_ids=customer_ids, joined=joined, summary=summary
    )
    _follows_write(
        rng=follows_rng,
        world=world,
        people=people,
        customer_ids=customer_ids,
        holders=wecom_holders,
        external_userids=external_userids,
        summary=summary,
    )

    m = len(orders.customer)
    order_ids = np.asarray(next_ids(Order, m), dtype=np.int64)
    prefixes = np.where(
        orders.channel == _STORE_POS,
        world.store_codes[np.maximum(orders.store, 0)],
        _ONLINE_ORDER_PREFIXES[orders.channel],
    )
    external_ids = [
        f"{prefix}{day}{number:09d}"
        for prefix, day, number in zip(
            prefixes.tolist(),
            world.day_strings[orders.day].tolist(),
            range(first_order_no, first_order_no + m),
            strict=True,
        )
    ]
    placed = _db_datetimes(orders.placed_at)
    updated = list(placed)
    returned = np.flatnonzero(orders.status == _RETURNED)
    # A return is recorded a few days after the sale.
    returned_at = np.minimum(
        orders.placed_at[returned] + orders_rng.integers(2, 15, len(returned)) * _DAY, world.reference_epoch - 1
    )
    for position, moment in zip(returned.tolist(), _db_datetimes(returned_at), strict=True):
        updated[position] = moment
    summary.add(
        "订单",
        bulk_copy(
            Order,
            (
                "id", "channel", "external_id", "store_id", "customer_id", "associate_id", "placed_at", "status",
                "fulfilment", "currency", "total_amount", "created_at", "updated_at",
            ),
            zip(
                order_ids.tolist(),
                _CHANNELS[orders.channel].tolist(),
                external_ids,
                _nullable(world.store_ids, orders.store),
                customer_ids[orders.customer].tolist(),
                _nullable(world.associate_ids, orders.associate),
                placed,
                _STATUSES[orders.status].tolist(),
                _FULFILMENTS[orders.fulfilment].tolist(),
                ["CNY"] * m,
                [_money(fen) for fen in lines.order_total_fen.tolist()],
                placed,
                updated,
                strict=True,
            ),
        ),
    )  # fmt: skip
    summary.add("退货订单", len(returned))

    level = orders.discount_level[lines.order]
    summary.add(
        "订单行",
        bulk_copy(
            OrderLine,
            ("id", "order_id", "line_no", "product_id", "quantity", "unit_price", "discount"),
            zip(
                next_ids(OrderLine, len(lines.order)),
                order_ids[lines.order].tolist(),
                lines.line_no.tolist(),
                world.product_ids[lines.product].tolist(),
                lines.quantity.tolist(),
                world.prices[lines.product].tolist(),
                world.discounts[lines.product, level, lines.quantity - 1].tolist(),
                strict=True,
            ),
        ),
    )
    _tags_write(
        rng=tags_rng, world=world, people=people, orders=orders, lines=lines, customer_ids=customer_ids, summary=summary
    )
    _notes_write(rng=notes_rng, world=world, people=people, customer_ids=customer_ids, summary=summary)
    return m


def _identities_write(
    *,
    rng: np.random.Generator,
    people: _People,
    orders: _Orders,
    customer_ids: np.ndarray,
    joined: list,
    summary: DemoSummary,
) -> tuple[np.ndarray, list[str]]:
    """Every customer's identities; returns the customers with a WeCom external_userid (positions) and those ids."""
    n = len(people.index)
    bought_in = np.zeros((n, len(_CHANNELS)), dtype=bool)
    bought_in[orders.customer, orders.channel] = True
    prospect = ~people.fashion & ~people.beauty
    has_pos = bought_in[:, 0] | (~prospect & (rng.random(n) < 0.3))
    has_openid = bought_in[:, 1] | (rng.random(n) < 0.2)
    has_mall = bought_in[:, 2] | (rng.random(n) < 0.04)
    has_wecom = (people.associate >= 0) & (prospect | (rng.random(n) < 0.8))
    has_unionid = rng.random(n) < np.where(has_openid | has_wecom, 0.9, 0.25)
    # Only marketplace buyers who joined the brand's membership there share their buyer id.
    has_marketplace = bought_in[:, 3] & (rng.random(n) < 0.7)

    opaque = partial(_opaque_ids, rng)
    kinds = (
        (Identity.Kind.PHONE, "pos", np.ones(n, dtype=bool), _phones),
        (Identity.Kind.POS_MEMBER_NO, "pos", has_pos, _member_numbers),
        (
            Identity.Kind.WECOM_EXTERNAL_USERID,
            "wecom",
            has_wecom,
            partial(opaque, prefix="wm", length=32, alphabet=_BASE62, multiplier=2_246_822_519, offset=31_415_926_535),
        ),
        (
            Identity.Kind.WECHAT_UNIONID,
            "wecom",
            has_unionid,
            partial(
                opaque, prefix="o6_bm", length=28, alphabet=_BASE62, multiplier=3_266_489_917, offset=27_182_818_284
            ),
        ),
        (
            Identity.Kind.MINI_PROGRAM_OPENID,
            "mini_program",
            has_openid,
            partial(opaque, prefix="oQm3v", length=28, alphabet=_BASE62, multiplier=668_265_263, offset=16_180_339_887),
        ),
        (
            Identity.Kind.MALL_ACCOUNT,
            "online_mall",
            has_mall,
            partial(opaque, prefix="qm_", length=15, alphabet=_BASE36, multiplier=2_654_435_761, offset=1_414_213_562),
        ),
        (
            Identity.Kind.MARKETPLACE_BUYER,
            "marketplace",
            has_marketplace,
            partial(opaque, prefix="AAH", length=24, alphabet=_BASE62, multiplier=1_597_334_677, offset=57_721_566_490),
        ),
    )
    customer, kind, value, source = [], [], [], []
    for identity_kind, identity_source, has, make in kinds:
        holders = np.flatnonzero(has)
        customer.append(holders)
        kind += [identity_kind.value] * len(holders)
        made = make(people.index[holders])
        value += made
        source += [identity_source] * len(holders)
        if identity_kind == Identity.Kind.WECOM_EXTERNAL_USERID:
            wecom = (holders, made)
    holders = np.concatenate(customer)
    joined_at = np.array(joined, dtype=object)[holders].tolist()
    summary.add(
        "身份标识",
        bulk_copy(
            Identity,
            ("id", "customer_id", "kind", "value", "source", "created_at"),
            zip(
                next_ids(Identity, len(holders)),
                customer_ids[holders].tolist(),
                kind,
                value,
                source,
                joined_at,
                strict=True,
            ),
        ),
    )
    return wecom


def _follows_write(
    *,
    rng: np.random.Generator,
    world: _World,
    people: _People,
    customer_ids: np.ndarray,
    holders: np.ndarray,
    external_userids: list[str],
    summary: DemoSummary,
) -> None:
    """Each customer with a WeCom id is their associate's WeCom contact, added at the till when they joined; those
    added since the welcome pack came in got the welcome message with it (see _coupons_write)."""
    followed_at = people.joined_at[holders] + rng.integers(60, 20 * 60, len(holders))
    welcomed = followed_at >= world.reference_epoch - COUPON_DAYS * _DAY
    summary.add(
        "企业微信好友",
        bulk_copy(
            FollowRelation,
            (
                "id", "associate_id", "customer_id", "external_userid", "add_way", "contact_type", "state", "remark",
                "followed_at", "ended_reason", "welcome",
            ),
            zip(
                next_ids(FollowRelation, len(holders)),
                world.associate_ids[people.associate[holders]].tolist(),
                customer_ids[holders].tolist(),
                external_userids,
                np.where(rng.random(len(holders)) < 0.8, 1, 2).tolist(),  # scanned the QR code, or searched the phone
                [FollowRelation.ContactType.WECHAT.value] * len(holders),
                [""] * len(holders),
                [""] * len(holders),
                _db_datetimes(followed_at),
                [""] * len(holders),
                np.where(welcomed, FollowRelation.Welcome.SENT.value, FollowRelation.Welcome.NONE.value).tolist(),
                strict=True,
            ),
        ),
    )  # fmt: skip


def _tags_write(
    *,
    rng: np.random.Generator,
    world: _World,
    people: _People,
    orders: _Orders,
    lines: _Lines,
    customer_ids: np.ndarray,
    summary: DemoSummary,
) -> None:
    n = len(people.index)
    kept = (orders.status == _COMPLETED) | (orders.status == _PAID)
    spend_fen = np.bincount(orders.customer[kept], weights=lines.order_total_fen[kept], minlength=n)
    kept_orders = np.bincount(orders.customer[kept], minlength=n)
    recent_orders = np.bincount(orders.customer[kept & (orders.day >= HISTORY_DAYS - 120)], minlength=n)
    discounted = np.bincount(orders.customer[kept & (orders.discount_level > 0)], minlength=n)
    bought = np.zeros((n, len(CATEGORIES)), dtype=bool)
    bought[orders.customer[lines.order], lines.category] = True

    vip = spend_fen >= 1_500_000
    workwear = people.fashion & bought[:, _WORKWEAR].any(axis=1) & (rng.random(n) < 0.8)
    other_style = people.fashion & ~workwear & (rng.random(n) < 0.45)
    skin_tagged = people.beauty & (rng.random(n) < 0.75)
    rules = (
        (vip, "客户价值", np.full(n, "VIP")),
        (~vip & (recent_orders >= 3), "客户价值", np.full(n, "高潜客户")),
        (people.joined_at >= world.reference_epoch - 90 * _DAY, "客户价值", np.full(n, "新客")),
        (skin_tagged, "肤质", np.array(_SKIN_TAGS)[people.skin]),
        (workwear, "风格偏好", np.full(n, "职场通勤")),
        (other_style, "风格偏好", np.array(_OTHER_STYLE_TAGS)[rng.integers(0, len(_OTHER_STYLE_TAGS), n)]),
        (people.beauty & people.regimen[:, :5].all(axis=1), "兴趣", np.full(n, "护肤达人")),
        ((kept_orders >= 3) & (3 * discounted >= 2 * kept_orders), "兴趣", np.full(n, "会员日常客")),
    )
    tagged, tag_ids = [], []
    for applies, group, names in rules:
        holders = np.flatnonzero(applies)
        tagged.append(holders)
        tag_ids += [world.tag_ids[group, name] for name in names[holders].tolist()]
    holders = np.concatenate(tagged)
    tagged_at = people.joined_at[holders] + (
        rng.random(len(holders)) * (world.reference_epoch - people.joined_at[holders])
    ).astype(np.int64)
    summary.add(
        "客户标签",
        bulk_copy(
            CustomerTag,
            ("id", "customer_id", "tag_id", "added_by_id", "created_at"),
            zip(
                next_ids(CustomerTag, len(holders)),
                customer_ids[holders].tolist(),
                tag_ids,
                _nullable(world.associate_ids, people.associate[holders]),
                _db_datetimes(tagged_at),
                strict=True,
            ),
        ),
    )


def _notes_write(
    *, rng: np.random.Generator, world: _World, people: _People, customer_ids: np.ndarray, summary: DemoSummary
) -> None:
    n = len(people.index)
    noted = (people.associate >= 0) & (rng.random(n) < 0.12)
    twice = noted & (rng.random(n) < 0.25)
    holders = np.sort(np.concatenate([np.flatnonzero(noted), np.flatnonzero(twice)]), kind="stable")
    colours = list(COLOUR_CODES)[:10]
    picks = rng.integers(0, 1 << 30, (len(holders), 4)).tolist()
    texts = []
    for holder, (template_pick, colour_pick, style_pick, category_pick) in zip(holders.tolist(), picks, strict=True):
        menswear = people.wardrobe[holder] == 1
        pool = _NOTES_ANY
        if people.fashion[holder]:
            pool += _NOTES_MEN if menswear else _NOTES_WOMEN
        if people.beauty[holder]:
            pool += _NOTES_BEAUTY
        sizes = _MEN_SIZES if menswear else _WOMEN_SIZES
        texts.append(
            pool[template_pick % len(pool)].format(
                size=sizes[people.size[holder]],
                colour=colours[colour_pick % len(colours)],
                style=_NOTE_STYLES[style_pick % len(_NOTE_STYLES)],
                category=("连衣裙", "大衣", "针织")[category_pick % 3],
                skin=_SKIN_TAGS[people.skin[holder]],
            )
        )
    written_at = people.joined_at[holders] + (
        rng.random(len(holders)) * (world.reference_epoch - people.joined_at[holders])
    ).astype(np.int64)
    summary.add(
        "客户备注",
        bulk_copy(
            CustomerNote,
            ("id", "customer_id", "author_id", "text", "created_at"),
            zip(
                next_ids(CustomerNote, len(holders)),
                customer_ids[holders].tolist(),
                world.associate_ids[people.associate[holders]].tolist(),
                texts,
                _db_datetimes(written_at),
                strict=True,
            ),
        ),
    )


def _coupons_write(*, world: _World, summary: DemoSummary) -> None:
    """The last COUPON_DAYS days of coupon sends, through the coupon service (counters, budgets and limits as in
    production): each day's new WeCom contacts got the welcome pack, and each contact whose birthday it was got the
    birthday pack from HQ in the associate's name. Customers used them on their next store visit: the first
    in-store purchase in a coupon's window that meets its threshold, one coupon per order (the templates do not
    stack). Coupons whose window has closed by the reference are expired."""
    from coupons.expiry import coupons_expire
    from coupons.models import Channels, Coupon, IssueRequest
    from coupons.redemption import OrderIn
    from coupons.sending_many import coupon_pack_send_many
    from coupons.till import coupon_redeem

    follows = FollowRelation.objects.filter(ended_at__isnull=True, customer__merged_into__isnull=True)
    for days_before in range(COUPON_DAYS, 0, -1):
        day = world.reference - timedelta(days=days_before)
        welcomed = follows.filter(
            welcome=FollowRelation.Welcome.SENT, followed_at__gte=day, followed_at__lt=day + timedelta(days=1)
        ).order_by("pk")
        sent = coupon_pack_send_many(
            pack_id=world.pack_ids["新客礼包"],
            recipients=list(welcomed.values_list("customer_id", "associate_id")),
            request_prefix=f"demo-welcome:{day:%Y%m%d}",
            source=IssueRequest.Source.WELCOME,
            # After the day's last contact was added (members join in the morning).
            now=day + timedelta(hours=11),
        )
        summary.add("欢迎礼包（份）", sent.issued)
        # One follow per customer in the demo: their own associate.
        birthdays = follows.filter(
            followed_at__lt=day,
            customer__birthday__month=day.month,
            customer__birthday__day=day.day,
            customer__marketing_consent=True,
            customer__opted_out=False,
        ).order_by("customer_id")
        sent = coupon_pack_send_many(
            pack_id=world.pack_ids["生日礼"],
            recipients=list(birthdays.values_list("customer_id", "associate_id")),
            request_prefix=f"demo-birthday:{day:%Y%m%d}",
            source=IssueRequest.Source.ADMIN,
            now=day + timedelta(hours=9),
        )
        summary.add("生日礼包（份）", sent.issued)

    held: dict[int, list[Coupon]] = {}
    for coupon in Coupon.objects.select_related("template").order_by("customer_id", "valid_until", "issued_at", "pk"):
        held.setdefault(coupon.customer_id, []).append(coupon)
    visits = Order.objects.filter(
        channel=Channel.STORE_POS,
        status=Order.Status.COMPLETED,
        placed_at__gte=world.reference - timedelta(days=COUPON_DAYS),
        customer_id__in=Coupon.objects.values("customer_id"),
    ).order_by("placed_at", "external_id")
    stores = {store.pk: store for store in Store.objects.filter(pk__in=world.store_ids.tolist())}
    redeemed = 0
    for order in visits:
        usable = (
            coupon
            for coupon in held[order.customer_id]
            if coupon.redeemed_at is None
            and coupon.valid_from <= order.placed_at < coupon.valid_until
            and coupon.template.threshold <= order.total_amount
            and coupon.template.channels != Channels.ONLINE
        )
        coupon = next(usable, None)
        if coupon is None:
            continue
        coupon_redeem(
            code=coupon.code,
            order=OrderIn(
                channel=Channels.STORE,
                store=stores[order.store_id],
                order_ref=order.external_id,
                amount=order.total_amount,
            ),
            request_no=f"demo:{order.external_id}",
            now=order.placed_at,
        )
        coupon.redeemed_at = order.placed_at
        redeemed += 1
    summary.add("优惠券核销（张）", redeemed)
    summary.add("优惠券过期（张）", coupons_expire(now=world.reference))
