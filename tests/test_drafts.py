"""Drafts grounded in facts: her facts as the associate sees them, each purpose's template draft, the OpenAI-compatible
provider over HTTP against the local emulator (drafts/llm_emulator.py), the fact checker refusing each hostile draft
with the template draft shown instead and the reason recorded, the fallbacks on timeout, 500, refusal and a wrong
key, and the sidebar API's 404 for a customer the associate may not see."""

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from associates.auth import SESSION_KEY
from customers.models import Identity
from drafts.checker import Finding, draft_check
from drafts.facts import customer_facts_get
from drafts.llm_emulator import start_llm_emulator
from drafts.models import Draft
from drafts.purposes import PURPOSES, day_text
from tests.drafts_world import EXTERNAL_USERID, drafts_world_build
from tests.factories import CustomerFactory, IdentityFactory

API = "/api/v1/sidebar/drafts/"
KEY = "sk-omni-drafts-test-0001"


@pytest.fixture
def world(db):
    return drafts_world_build()


@pytest.fixture
def client(world):
    client = Client()
    session = client.session
    session[SESSION_KEY] = world.associate.pk
    session.save()
    return client


@pytest.fixture
def llm(settings):
    running = start_llm_emulator(api_key=KEY)
    settings.OMNI_DRAFTS_API_URL = running.api_base
    settings.OMNI_DRAFTS_API_KEY = KEY
    settings.OMNI_DRAFTS_MODEL = "qimu-drafts-1"
    settings.OMNI_DRAFTS_TIMEOUT = 2.0
    yield running
    running.stop()


def _facts(world):
    return customer_facts_get(associate=world.associate, customer=world.customer)


def _template(world, purpose: str) -> str:
    return PURPOSES[purpose].template(_facts(world))


def _check(world, text: str) -> list[Finding]:
    return draft_check(text=text, facts=_facts(world), associate=world.associate, customer=world.customer)


# --- facts -------------------------------------------------------------------------------------------------------


def test_her_facts_are_gathered_from_one_id(world):
    facts = _facts(world)
    today = world.today

    assert (facts.name, facts.salutation, facts.associate) == ("陈静", "陈女士", "林雨")
    assert facts.sizes == {"服装": "M", "鞋": "37"}
    assert [(p.product.sku, p.price, (today - p.date).days, p.store) for p in facts.purchases] == [
        ("QM-DR01-BK-M", Decimal("1699.00"), 100, "上海静安店"),
        ("QM-SH02-BG-37", Decimal("1299.00"), 130, "上海静安店"),
        ("QM-DR01-BK-M", Decimal("1599.00"), 160, "上海静安店"),
    ]
    assert [(c.name, c.rule_text, c.expires_on) for c in facts.coupons] == [
        ("秋季满300减50券", "满300减50", dt.date.fromisoformat(facts.coupons[0].expires_on.isoformat()))
    ]
    assert 4 <= (facts.coupons[0].expires_on - today).days <= 5
    (hold,) = facts.holds
    assert (hold.product.sku, hold.product.size, hold.product.colour, hold.store, hold.code) == (
        "QM-DR02-RD-M",
        "M",
        "酒红",
        "北京国贸店",
        "H7K2M9",
    )
    assert (hold.expires_at.date(), f"{hold.expires_at:%H:%M}") == (today + dt.timedelta(days=2), "20:00")
    assert (facts.store.name, facts.store.address, facts.store.opening_hours) == (
        "上海静安店",
        "上海市静安区南京西路1788号",
        "10:00-22:00",
    )
    assert facts.next_birthday == today + dt.timedelta(days=3)
    assert facts.days_since_purchase == 100
    assert (facts.loyalty.level, facts.loyalty.points, facts.loyalty.points_expiring) == ("金卡", 3200, 800)
    assert facts.loyalty.points_expire_on == today + dt.timedelta(days=10)
    # New, in her size, available at her store (3 on hand, 1 held): only the coat.
    assert [(a.product.sku, a.available) for a in facts.arrivals] == [("QM-CT05-CA-M", 2)]
    assert facts.stores_named == {"上海静安店", "北京国贸店"}


def test_the_prompt_holds_her_facts_and_nothing_else(world):
    prompt = json.dumps(_facts(world).prompt_json(), ensure_ascii=False)

    assert "H7K2M9" in prompt and "双面羊绒大衣 驼色 M" in prompt and "秋季满300减50券" in prompt
    for absent in ("13812345678", "王芳", "周婷", "杭州湖滨店", "尊享满1000减300券", "QM-SK07-NV-M", "QM-CT05-CA-L"):
        assert absent not in prompt


# --- purposes and their templates --------------------------------------------------------------------------------


def test_every_purpose_applies_to_her_and_each_template_names_only_her_facts(world):
    facts = _facts(world)
    hold_day, coupon_day = day_text(world.today + dt.timedelta(days=2)), day_text(facts.coupons[0].expires_on)
    birthday, points_day = day_text(world.today + dt.timedelta(days=3)), day_text(world.today + dt.timedelta(days=10))
    last = day_text(world.today - dt.timedelta(days=100))
    expected = {
        "new_arrivals": "陈女士您好，我是上海静安店的林雨。店里新到了双面羊绒大衣（驼色 M码），¥3999，正是您的尺码，"
        "现在门店有货。有空来店里试试吗？",
        "hold_ready": f"陈女士您好，您在北京国贸店预留的缎面吊带裙（酒红 M码）已经为您留好了，取货码 H7K2M9，"
        f"请在{hold_day} 20:00前到店领取。地址：北京市朝阳区建国门外大街1号（营业时间 10:00-21:30）。",
        "coupon_expiring": f"陈女士您好，温馨提醒：您的「秋季满300减50券」（满300减50）将在{coupon_day}到期，"
        "记得在到期前使用哦～",
        "birthday": f"陈女士您好，{birthday}是您的生日，林雨提前祝您生日快乐！有空来上海静安店坐坐～",
        "lapsed": f"陈女士您好，好久不见，我是上海静安店的林雨。您{last}买的真丝连衣裙（黑色 M码）穿着还合适吗？"
        "最近店里上了不少新款，有空来看看，我帮您搭配。",
        "points_expiring": f"陈女士您好，提醒您：您有800积分将在{points_day}过期（当前共3200积分），"
        "到店消费可以使用，别浪费了哦～",
    }

    assert {key: PURPOSES[key].template(facts) for key in PURPOSES if PURPOSES[key].applies(facts)} == expected
    for text in expected.values():
        assert _check(world, text) == []


def test_a_purpose_applies_only_when_her_facts_hold_it(world, client):
    plain = CustomerFactory(name="李娜", gender="female", primary_store=world.store)
    IdentityFactory(customer=plain, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmDraftsLiNa")

    body = client.get(API, {"external_userid": "wmDraftsLiNa"}).json()
    refused = client.get(API, {"external_userid": "wmDraftsLiNa", "purpose": "hold_ready"})
    unknown = client.get(API, {"external_userid": "wmDraftsLiNa", "purpose": "discount"})

    assert body == {"customer_id": plain.pk, "purposes": [], "purpose": None, "draft": None}
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "draft_purpose_not_applicable")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "draft_purpose_unknown")
    assert not Draft.objects.exists()


def test_without_a_provider_the_template_draft_is_shown_and_recorded(world, client):
    body = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "hold_ready"}).json()

    assert [p["key"] for p in body["purposes"]] == list(PURPOSES)
    assert body["purpose"] == "hold_ready"
    assert body["draft"]["text"] == _template(world, "hold_ready")
    assert (body["draft"]["drafter"], body["draft"]["outcome"], body["draft"]["reason"]) == ("template", "template", "")
    record = Draft.objects.get()
    assert (record.associate, record.store, record.customer, record.purpose, record.outcome) == (
        world.associate,
        world.store,
        world.customer,
        "hold_ready",
        "template",
    )


# --- the provider, over HTTP -------------------------------------------------------------------------------------


def test_the_providers_draft_is_shown_when_it_names_only_her_facts(world, client, llm):
    body = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "new_arrivals"}).json()

    assert (
        body["draft"]["text"]
        == "陈女士，好消息～双面羊绒大衣 驼色 M刚到上海静安店，¥3999，正好是您的尺码，要不要来试试？"
    )
    assert (body["draft"]["drafter"], body["draft"]["outcome"]) == ("provider", "accepted")
    (request,) = llm.requests
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "qimu-drafts-1"
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "只能使用" in system["content"]
    assert json.loads(user["content"]) == {
        "purpose": "新品到店",
        "task": PURPOSES["new_arrivals"].instruction,
        "facts": _facts(world).prompt_json(),
    }
    record = Draft.objects.get()
    assert (record.drafter, record.outcome, record.provider_text) == ("provider", "accepted", body["draft"]["text"])


def test_the_url_may_name_chat_completions_itself(world, client, llm, settings):
    settings.OMNI_DRAFTS_API_URL = f"{llm.api_base}/chat/completions"

    body = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "coupon_expiring"}).json()

    assert body["draft"]["drafter"] == "provider"
    assert len(llm.requests) == 1


HOSTILE = [
    ("invented SKU", {"mode": "invented_sku"}, "hold_ready", Finding("sku", "QM-ZZ99-XX-M")),
    ("wrong price", {"mode": "wrong_price"}, "new_arrivals", Finding("amount", "¥4099")),
    ("another customer", {"mode": "other_customer", "other": "王芳"}, "birthday", Finding("person", "王芳")),
    ("another store", {"mode": "other_store", "other": "杭州湖滨店"}, "new_arrivals", Finding("store", "杭州湖滨店")),
    (
        "a coupon she does not hold",
        {"mode": "foreign_coupon", "other": "尊享满1000减300券"},
        "coupon_expiring",
        Finding("coupon", "尊享满1000减300券"),
    ),
    ("a date not in her facts", {"mode": "wrong_date", "days": 23}, "points_expiring", None),
    ("another size", {"mode": "content", "content": "陈女士，给您留了L码，快来试试～"}, "lapsed", Finding("size", "L")),
    (
        "the store's other associate",
        {"mode": "content", "content": "陈女士您好，我是周婷，最近店里上新了～"},
        "lapsed",
        Finding("person", "周婷"),
    ),
    (
        "a product she has nothing to do with",
        {"mode": "content", "content": "陈女士，百褶半身裙到货了，您一定喜欢～"},
        "new_arrivals",
        Finding("product", "百褶半身裙"),
    ),
    (
        "someone else's surname",
        {"mode": "content", "content": "刘女士您好，好久不见～"},
        "lapsed",
        Finding("person", "刘女士"),
    ),
    (
        "points she does not have",
        {"mode": "content", "content": "陈女士，您有1000积分快过期了～"},
        "points_expiring",
        Finding("points", "1000积分"),
    ),
]


@pytest.mark.parametrize("reply,purpose,finding", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_hostile_draft_is_refused_and_the_template_shown_with_the_reason_recorded(
    world, client, llm, reply, purpose, finding
):
    llm.script(reply)
    if finding is None:  # the date is 23 days on, which no fact names
        day = world.today + dt.timedelta(days=23)
        finding = Finding("date", f"{day.month}月{day.day}日")

    body = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": purpose}).json()

    assert body["draft"]["text"] == _template(world, purpose)
    assert (body["draft"]["drafter"], body["draft"]["outcome"]) == ("template", "refused")
    assert finding.value in body["draft"]["reason"]
    record = Draft.objects.get()
    assert (record.outcome, record.text) == ("refused", body["draft"]["text"])
    assert {"kind": finding.kind, "value": finding.value} in record.findings
    assert finding.value in record.provider_text
    assert len(llm.requests) == 1


FAILURES = [
    ("timeout", {"mode": "slow", "seconds": 10}, "大模型调用失败：timeout"),
    ("500", {"mode": "error", "status": 500}, "大模型调用失败：http 500"),
    ("429", {"mode": "error", "status": 429}, "大模型调用失败：http 429"),
    ("refusal", {"mode": "refusal"}, "大模型调用失败：refusal"),
]


@pytest.mark.parametrize("reply,reason", [case[1:] for case in FAILURES], ids=[case[0] for case in FAILURES])
def test_a_failing_provider_falls_back_to_the_template(world, client, llm, settings, reply, reason):
    settings.OMNI_DRAFTS_TIMEOUT = 0.5
    llm.script(reply)

    body = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "hold_ready"}).json()

    assert body["draft"]["text"] == _template(world, "hold_ready")
    assert (body["draft"]["drafter"], body["draft"]["outcome"], body["draft"]["reason"]) == (
        "template",
        "failed",
        reason,
    )
    assert Draft.objects.get().outcome == "failed"


def test_a_wrong_key_or_an_unreachable_provider_falls_back_to_the_template(world, client, llm, settings):
    settings.OMNI_DRAFTS_API_KEY = "sk-wrong"
    wrong_key = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "birthday"}).json()
    settings.OMNI_DRAFTS_API_URL = "http://127.0.0.1:9/v1"
    unreachable = client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "birthday"}).json()

    assert wrong_key["draft"]["reason"] == "大模型调用失败：http 401"
    assert unreachable["draft"]["reason"] == "大模型调用失败：connection: ConnectionError"
    assert wrong_key["draft"]["text"] == unreachable["draft"]["text"] == _template(world, "birthday")


# --- the checker's readings ----------------------------------------------------------------------------------------


def test_the_checker_reads_her_facts_in_their_common_forms(world):
    facts = _facts(world)
    coupon_day, hold_day = facts.coupons[0].expires_on, world.today + dt.timedelta(days=2)
    weekday = "一二三四五六日"[hold_day.weekday()]
    allowed = [
        "陈女士，您买的真丝连衣裙 黑色 M（¥1,699）还合适吗？",
        "上次那条裙子 1599 元，这次的大衣 3999元。",
        f"券在{coupon_day:%Y年%m月%d日}到期，也就是{coupon_day.isoformat()}，{coupon_day.month}月{coupon_day.day}号。",
        f"满300减50，后天（周{weekday}）前来取，静安店等您，取货码 H7K2M9。",
        "您的尺码 M，鞋 37码，SKU QM-CT05-CA-M。",
        "林雨祝陈静生日快乐",
    ]
    refused = {
        "大衣只要¥3899": [Finding("amount", "¥3899")],
        "明天来店里吧": [Finding("date", "明天")],
        "2026-13-45 见": [Finding("date", "2026-13-45")],
        "给您留了 39码的鞋": [Finding("size", "39")],
        "到国贸店或者湖滨店都可以": [Finding("store", "杭州湖滨店")],
        "货号 QM-DR01-BK-XL 也有": [Finding("sku", "QM-DR01-BK-XL")],
        "再送您一张满1000减300": [Finding("amount", "满1000减300")],
        "满300减80也能用": [Finding("amount", "满300减80")],
        "亲爱的王芳，您好": [Finding("person", "王芳")],
    }

    assert [(text, _check(world, text)) for text in allowed] == [(text, []) for text in allowed]
    assert {text: _check(world, text) for text in refused} == refused


# --- who may ask -----------------------------------------------------------------------------------------------------


def test_another_stores_customer_answers_404_like_every_sidebar_api(world, client):
    stranger = CustomerFactory(name="赵敏", primary_store=world.hold_store)
    IdentityFactory(customer=stranger, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmDraftsBJ")

    by_contact = client.get(API, {"external_userid": "wmDraftsBJ"})
    by_id = client.get(API, {"customer_id": stranger.pk})
    unknown = client.get(API, {"external_userid": "wmNobody"})
    signed_out = Client().get(API, {"external_userid": EXTERNAL_USERID})

    assert [(r.status_code, r.json()["error"]["code"]) for r in (by_contact, by_id, unknown)] == [
        (404, "not_found")
    ] * 3
    assert signed_out.status_code in (401, 403)
    assert client.get(API, {"external_userid": "wm\x00"}).status_code == 400
    assert not Draft.objects.exists()


# --- retention -------------------------------------------------------------------------------------------------------


def test_drafts_are_pruned_past_their_period(world, client, settings):
    settings.OMNI_RETENTION_DAYS = {**settings.OMNI_RETENTION_DAYS, "drafts": 180}
    for _ in range(2):
        client.get(API, {"external_userid": EXTERNAL_USERID, "purpose": "birthday"})
    old, kept = Draft.objects.order_by("pk")
    Draft.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=181))
    out = io.StringIO()

    call_command("prune", stdout=out)

    assert list(Draft.objects.values_list("pk", flat=True)) == [kept.pk]
    assert "drafts: deleted 1 —" in out.getvalue()
