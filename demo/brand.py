"""The demo brand 栖木 QIMU as a demo shows it: its name, six stores with their staff, the published logins
(`demo_logins`, listed on the demo's / page), and the frame every seed of it draws in: the seed of its random
generators, Asia/Shanghai, and the HISTORY_DAYS (the last COUPON_DAYS of them with coupons) that end at the
reference, the first instant of the seeding day (`demo_reference`)."""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

BRAND_NAME = "栖木 QIMU"
DEMO_SEED = 20261101
DEMO_TZ = ZoneInfo("Asia/Shanghai")
HISTORY_DAYS = 548

# The coupon packs came in this many days before the reference: since then every new WeCom contact got the welcome
# pack, and every contact the birthday pack on their birthday.
COUPON_DAYS = 60

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "omni-admin"
HQ_USERNAME = "hq"
DEMO_PASSWORD = "omni-demo"


# In the brand's WeCom, each store is a department under the corp (the root, 1), numbered from 2 in DEMO_STORES' order.
FIRST_STORE_DEPARTMENT_ID = 2


def demo_department_id(index: int) -> int:
    """The WeCom department of the store at `index` of DEMO_STORES."""
    return FIRST_STORE_DEPARTMENT_ID + index


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
    opening_hours: str = "10:00–22:00"

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


def demo_reference(today: date) -> datetime:
    """Where the demo's history ends when seeded on `today`: that day's first instant in Asia/Shanghai."""
    return datetime.combine(today, time.min, tzinfo=DEMO_TZ)
