"""Who the demo's customers are, drawn as arrays a chunk at a time (`people_draw`): gender and name, birthday,
consent, wardrobe and persona (fashion, beauty or both), home store and associate, when they joined and whether
they lapse, sizes and skincare routine; and each one's distinct mainland mobile (`phones`)."""

from dataclasses import dataclass

import numpy as np

from customers.models import Customer
from demo.arrays import DAY, cumulative, pick
from demo.brand import HISTORY_DAYS
from demo.world import World

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

GENDERS = np.array([Customer.Gender.FEMALE, Customer.Gender.MALE, Customer.Gender.UNKNOWN])

SKIN_TAGS = ("敏感肌", "干皮", "油皮", "混合肌")

# All 32 prefixes are valid mainland mobile ranges for every following digit (checked against phonenumbers).
_PHONE_PREFIXES = np.array(
    [*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190), 176, 177, 178]
)

_SURNAME_CUM = cumulative(*(1 / (rank + 4) for rank in range(len(_SURNAMES))))
_PERSONA_CUM = np.array([cumulative(0.42, 0.23, 0.35), cumulative(0.78, 0.07, 0.15)])  # fashion, beauty, both


@dataclass(frozen=True)
class People:
    index: np.ndarray  # the customer's number across the whole seed
    name: list[str]
    gender: np.ndarray  # index into GENDERS
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
    skin: np.ndarray  # index into SKIN_TAGS


def people_draw(*, rng: np.random.Generator, world: World, first_index: int, count: int) -> People:
    n = count
    gender = pick(rng, cumulative(0.78, 0.17, 0.05), n)
    wardrobe = np.where(gender == 2, rng.random(n) < 0.3, gender == 1).astype(np.int64)
    # Prospects were added in WeCom by an associate and have not bought yet.
    prospect = rng.random(n) < 0.05
    persona = pick(rng, _PERSONA_CUM[wardrobe])
    store = pick(rng, world.store_cum, n)
    has_associate = prospect | (rng.random(n) < 0.9)
    staff = world.store_staff[store, pick(rng, world.staff_cum[store])]
    before_window = rng.random(n) < 0.55
    joined_day = np.where(before_window, -rng.integers(1, 3 * 365, n), rng.integers(0, HISTORY_DAYS - 7, n))
    # Members sign up in the morning, before the first order of that day can be placed.
    joined_at = world.window_start_epoch + joined_day * DAY + rng.integers(6 * 3600, 10 * 3600, n)
    start_day = np.maximum(joined_day, 0)
    lapsed = rng.random(n) < 0.2
    lapse_day = start_day + 1 + ((HISTORY_DAYS - start_day) * rng.uniform(0.3, 0.9, n)).astype(np.int64)
    routine_steps = 1 + pick(rng, cumulative(0.15, 0.20, 0.25, 0.20, 0.20), n)
    uses_mask = (routine_steps >= 3) & (rng.random(n) < 0.35)
    age_days = (np.clip(rng.normal(33, 8, n), 19, 62) * 365.25).astype(np.int64)
    born = np.datetime64(world.reference.date()) - age_days
    opted_out = rng.random(n) < 0.02
    return People(
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
        profile=pick(rng, cumulative(0.55, 0.30, 0.15), n),
        size=pick(rng, cumulative(0.30, 0.45, 0.25), n),
        shoe_size=pick(rng, cumulative(0.10, 0.25, 0.30, 0.25, 0.10), n),
        favourite=rng.integers(0, 1 << 30, n),
        regimen=np.column_stack([np.arange(5)[None, :] < routine_steps[:, None], uses_mask]),
        skin=pick(rng, cumulative(0.30, 0.25, 0.20, 0.25), n),
    )


def phones(index: np.ndarray) -> list[str]:
    """Distinct, valid mainland mobiles in E.164: an affine bijection spreads customer numbers over the ranges."""
    space = len(_PHONE_PREFIXES) * 10**8
    number = (index * 2_654_435_761 + 982_451_653) % space
    national = _PHONE_PREFIXES[number // 10**8] * 10**8 + number % 10**8
    return [f"+86{value}" for value in national.tolist()]


def _names(rng: np.random.Generator, gender: np.ndarray) -> list[str]:
    n = len(gender)
    surname = _SURNAMES[pick(rng, _SURNAME_CUM, n)]
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
