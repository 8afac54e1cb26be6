"""Add-on suggestions, served from a model built from the database: ranking rules (stock, recency, variants,
complement rules), reasons, orders counting at once, the nightly build and its failures, the per-process model
cache, outreach records, and a fixed number of queries per request."""

import pickle
import uuid
import zlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Order, Product
from demo.catalog import DEMO_COMPLEMENT_RULES, demo_catalog
from demo.seed import demo_seed
from omni.errors import ApplicationError
from suggestions import engine, selectors
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.selectors import addons_for, customer_suggestions, reason_text, suggestion_model_current
from suggestions.services import outreach_record, suggestion_model_build
from suggestions.tasks import suggestion_model_build_task
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)
from tests.threads import failures, run_concurrently

pytestmark = pytest.mark.django_db


def buy(customer, *products, days_ago: int, status=Order.Status.COMPLETED, quantity: int = 1):
    order = OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(days=days_ago), status=status)
    for line_no, product in enumerate(products, start=1):
        OrderLineFactory(order=order, line_no=line_no, product=product, quantity=quantity)
    return order


def product(sku: str, name: str, category: str, *, store, style: str = "", in_store: int = 10, online=None):
    item = ProductFactory(sku=sku, name=name, category=category, style_code=style, online_stock=online)
    StoreStockFactory(store=store, product=item, quantity=in_store)
    return item


@pytest.fixture
def shop():
    """A store whose customers buy a dress with a belt and a scarf, and a serum with a moisturizer."""
    store, other_store = StoreFactory(code="SH01"), StoreFactory(code="BJ01")
    catalog = {
        "dress_m": product("DR1-M", "真丝连衣裙 M", "dress", store=store, style="DR1"),
        "dress_l": product("DR1-L", "真丝连衣裙 L", "dress", store=store, style="DR1"),
        "belt": product("BT1", "牛皮腰带", "belt", store=store),
        "scarf": product("SF1", "真丝方巾", "scarf", store=store),
        "serum": product("SE1", "修护精华", "serum", store=store),
        "cream": product("MO1", "保湿面霜", "moisturizer", store=store),
    }
    for n in range(30):
        dress = catalog["dress_m"] if n % 2 else catalog["dress_l"]
        buy(CustomerFactory(primary_store=store), dress, catalog["belt"], catalog["scarf"], days_ago=100 + n)
    for n in range(20):
        buy(CustomerFactory(primary_store=store), catalog["serum"], catalog["cream"], days_ago=60 + n)
    return {
        "store": store,
        "other_store": other_store,
        "associate": AssociateFactory(store=store),
        "customer": CustomerFactory(name="陈静", primary_store=store),
        **catalog,
    }


def skus(result) -> list[str]:
    return [item.sku for item in result.products]


def reasons(result) -> dict[str, tuple[str, str]]:
    return {item.sku: (item.reason, item.reason_text) for item in result.products}


# ---------------------------------------------------------------------------------------------------------
# Ranking rules


def test_items_sold_out_in_the_store_and_not_online_are_never_suggested(shop):
    # given a belt sold out in the store and not sold online, a scarf sold out in the store but in stock online
    Product.objects.filter(pk=shop["belt"].pk).update(online_stock=None)
    shop["belt"].stock.update(quantity=0)
    Product.objects.filter(pk=shop["scarf"].pk).update(online_stock=5)
    shop["scarf"].stock.update(quantity=0)
    buy(shop["customer"], shop["dress_m"], days_ago=40)
    suggestion_model_build()

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"], k=10)

    # then the belt is left out; the scarf is offered, with its stock as it is
    assert "BT1" not in skus(result)
    scarf = next(item for item in result.products if item.sku == "SF1")
    assert (scarf.store_stock, scarf.online_stock) == (0, 5)
    assert (scarf.reason, scarf.reason_text) == ("complement", "常与 真丝连衣裙 M 一起购买")
    assert (scarf.name, scarf.price, scarf.category) == ("真丝方巾", Decimal("199.00"), "scarf")


def test_items_of_another_store_count_only_when_sold_online(shop):
    # given the belt stocked only in another store, and inactive scarves
    shop["belt"].stock.update(store=shop["other_store"])
    Product.objects.filter(pk=shop["scarf"].pk).update(is_active=False, online_stock=50)
    buy(shop["customer"], shop["dress_m"], days_ago=40)
    suggestion_model_build()

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"], k=10)

    # then neither is offered here
    assert {"BT1", "SF1"}.isdisjoint(skus(result))


def test_items_bought_too_recently_are_not_suggested_again_and_old_ones_are(shop):
    # given a serum bought 5 days ago and a moisturizer 200 days ago
    buy(shop["customer"], shop["serum"], days_ago=5)
    buy(shop["customer"], shop["cream"], days_ago=200)
    suggestion_model_build()

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])

    # then the serum is not due again; the moisturizer is, with when it was last bought
    assert "SE1" not in skus(result)
    assert reasons(result)["MO1"] == ("repeat", "您上次购买是 200 天前")


def test_two_sizes_of_one_style_are_never_both_suggested(shop):
    # given a customer who bought the belt that both sizes of the dress sell with
    buy(shop["customer"], shop["belt"], days_ago=20)
    suggestion_model_build()

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"], k=10)

    # then one size of the dress is offered, not both
    assert len({"DR1-M", "DR1-L"} & set(skus(result))) == 1


def test_a_complement_rule_seeds_a_product_nobody_has_bought_yet(shop):
    # given the rule "dress → shoes" and brand-new shoes that were never sold
    rule = ComplementRule(category="连衣裙", complements="鞋履")
    rule.full_clean()
    rule.save()
    product("SH9", "新款乐福鞋", "shoes", store=shop["store"])
    buy(shop["customer"], shop["dress_m"], days_ago=40)
    suggestion_model_build()

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])
    addons = addons_for(skus=["DR1-M"], associate=shop["associate"])

    # then the shoes are offered for the dress, with the rule as the reason
    assert reasons(result)["SH9"] == ("rule", "连衣裙 的搭配推荐")
    assert reasons(addons)["SH9"] == ("rule", "连衣裙 的搭配推荐")


def test_an_inactive_rule_seeds_nothing(shop):
    ComplementRule.objects.create(category="dress", complements="shoes", is_active=False)
    product("SH9", "新款乐福鞋", "shoes", store=shop["store"])
    buy(shop["customer"], shop["dress_m"], days_ago=40)
    suggestion_model_build()

    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])

    assert "rule" not in {item.reason for item in result.products}


def test_addons_for_a_look_are_its_complements_with_the_item_they_go_with(shop):
    suggestion_model_build()

    result = addons_for(skus=["DR1-M", "SE1"], associate=shop["associate"], k=3)

    assert result.products[0].reason == "complement"
    assert {"BT1", "SF1", "MO1"} >= set(skus(result))
    assert len(result.products) == 3
    texts = {item.reason_text for item in result.products}
    assert texts <= {"常与 真丝连衣裙 M 一起购买", "常与 修护精华 一起购买"}


def test_addons_for_an_unknown_sku_is_refused(shop):
    suggestion_model_build()

    with pytest.raises(ApplicationError) as raised:
        addons_for(skus=["DR1-M", "NOPE-1"], associate=shop["associate"])

    assert raised.value.code == "unknown_product"
    assert raised.value.details == {"unknown_skus": ["NOPE-1"]}


def test_a_new_order_changes_the_suggestions_at_once_without_a_rebuild(shop):
    # given a model built while the customer had bought nothing
    build = suggestion_model_build()
    before = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])
    assert {item.reason for item in before.products} == {"popular"}

    # when they buy the dress
    buy(shop["customer"], shop["dress_m"], days_ago=0)
    after = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])

    # then its belt and scarf are offered, the dress is not, and the model is the same one
    assert reasons(after)["BT1"] == ("complement", "常与 真丝连衣裙 M 一起购买")
    assert reasons(after)["SF1"] == ("complement", "常与 真丝连衣裙 M 一起购买")
    assert {"DR1-M", "DR1-L"}.isdisjoint(skus(after))
    assert after.model_built_at == before.model_built_at == build.built_at
    assert SuggestionModel.objects.count() == 1


def test_cancelled_returned_and_negative_lines_are_not_purchases(shop):
    # given a serum the customer returned, and a moisturizer whose order was cancelled
    buy(shop["customer"], shop["serum"], days_ago=3, status=Order.Status.RETURNED)
    buy(shop["customer"], shop["cream"], days_ago=3, status=Order.Status.CANCELLED)
    buy(shop["customer"], shop["dress_m"], days_ago=3, quantity=-1)
    suggestion_model_build()

    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"], k=10)

    # then none of them counts as bought
    assert "repeat" not in {item.reason for item in result.products}


def test_without_a_model_yet_the_recent_best_sellers_are_offered(shop):
    # given no model build, and recent sales: three belts, two scarves, two sizes of one dress
    for _ in range(3):
        buy(CustomerFactory(), shop["belt"], days_ago=2)
    for dress in (shop["dress_m"], shop["dress_l"]):
        buy(CustomerFactory(), shop["scarf"], dress, days_ago=3)
    shop["scarf"].stock.update(quantity=0)  # and not online: not sellable

    # when
    result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])

    # then
    assert result.model_built_at is None
    assert skus(result) in (["BT1", "DR1-L"], ["BT1", "DR1-M"])
    assert {item.reason_text for item in result.products} == {"近期热销"}


def test_without_a_model_yet_addons_are_best_sellers_other_than_the_products_asked_about(shop):
    for _ in range(2):
        buy(CustomerFactory(), shop["belt"], days_ago=2)
    buy(CustomerFactory(), shop["scarf"], days_ago=2)

    result = addons_for(skus=["BT1"], associate=shop["associate"])

    assert (skus(result), result.model_built_at) == (["SF1"], None)


def test_reason_texts():
    names = {7: "真丝连衣裙 黑色 M"}
    suggestion = engine.Suggestion

    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.REPEAT, days_since=62), names=names) == (
        "您上次购买是 62 天前"
    )
    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.REPEAT, days_since=0), names=names) == (
        "您上次购买是今天"
    )
    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.COMPLEMENT, anchor_item_id=7), names=names) == (
        "常与 真丝连衣裙 黑色 M 一起购买"
    )
    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.RULE, anchor_category="dress"), names=names) == (
        "连衣裙 的搭配推荐"
    )
    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.RULE, anchor_category="hats"), names=names) == (
        "hats 的搭配推荐"
    )
    assert reason_text(suggestion=suggestion(1, 0.5, engine.Reason.POPULAR), names=names) == "近期热销"


# ---------------------------------------------------------------------------------------------------------
# Queries


@pytest.mark.parametrize("orders", [1, 30])
def test_serving_takes_the_same_few_queries_however_long_the_history(shop, orders):
    # given a built model, and a customer with 1 or 30 orders
    for n in range(orders):
        buy(shop["customer"], shop["serum"] if n % 2 else shop["dress_m"], days_ago=10 + 7 * n)
    suggestion_model_build()

    # when the first request of a process reads the model and the store's sellable products, and a later one
    with CaptureQueriesContext(connection) as first:
        customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])
    with CaptureQueriesContext(connection) as later:
        result = customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"])

    # then: newest build + its payload + sellable + history + products; later only history + products
    assert len(first) == 5
    assert len(later) == 2
    assert {"BT1", "SF1"} <= set(skus(result))


def test_addons_take_three_queries_once_the_model_is_loaded(shop):
    suggestion_model_build()
    addons_for(skus=["DR1-M"], associate=shop["associate"])

    with CaptureQueriesContext(connection) as queries:
        addons_for(skus=["DR1-M", "SE1"], associate=shop["associate"])

    assert len(queries) == 2  # the given skus, the suggested products (sellable: cached)


# ---------------------------------------------------------------------------------------------------------
# Building the model


def test_a_build_reads_every_kept_line_and_every_catalog_product(shop):
    # given a cancelled order, a returned one, a negative line, and a product never sold
    buy(shop["customer"], shop["serum"], days_ago=3, status=Order.Status.CANCELLED)
    buy(shop["customer"], shop["serum"], days_ago=3, status=Order.Status.RETURNED)
    buy(shop["customer"], shop["serum"], days_ago=3, quantity=-1)
    ProductFactory(sku="NEW-1", category="bag")

    # when
    build = suggestion_model_build()

    # then 30 × 3 + 20 × 2 lines in 50 baskets; every product of the catalog is known to the model
    assert build.status == SuggestionModel.Status.READY
    assert (build.lines, build.baskets, build.items) == (130, 50, 7)
    assert build.built_at is not None and build.seconds > 0 and build.peak_mb > 0
    assert build.payload_bytes == len(bytes(SuggestionModel.objects.get().payload)) > 0
    model = suggestion_model_current().model
    assert set(model.items) == set(Product.objects.values_list("pk", flat=True))


def test_a_merged_customers_orders_count_as_the_surviving_customers(shop):
    # given a customer merged into another, an order of each on the same day
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    buy(survivor, shop["belt"], days_ago=3)
    buy(merged, shop["scarf"], days_ago=3)

    # when
    build = suggestion_model_build()

    # then the two orders are one basket: one person, one day
    assert (build.lines, build.baskets) == (132, 51)


def test_a_failed_build_is_recorded_and_the_previous_model_keeps_serving(shop, monkeypatch):
    # given a ready model
    first = suggestion_model_build()

    # when the next build fails
    def out_of_memory(*args, **kwargs):
        raise MemoryError("no room for the item-item matrix")

    monkeypatch.setattr(engine, "model_build_streamed", out_of_memory)
    failed = suggestion_model_build()

    # then the failure is recorded with its error and the first model still serves
    failed.refresh_from_db()
    assert failed.status == SuggestionModel.Status.FAILED
    assert "MemoryError: no room for the item-item matrix" in failed.error
    assert failed.payload is None
    selectors.suggestion_caches_clear()
    assert suggestion_model_current().pk == first.pk


def test_only_one_build_runs_at_a_time(shop):
    # given a build under way
    running = SuggestionModel.objects.create()

    # when another starts
    with pytest.raises(ApplicationError) as raised:
        suggestion_model_build()

    # then it is refused, and nothing else was written
    assert raised.value.code == "suggestion_build_running"
    assert list(SuggestionModel.objects.values_list("pk", flat=True)) == [running.pk]


def test_a_build_left_behind_by_a_dead_process_does_not_block_the_next(shop):
    dead = SuggestionModel.objects.create(started_at=timezone.now() - timedelta(hours=3))

    build = suggestion_model_build()

    dead.refresh_from_db()
    assert (dead.status, dead.error) == (SuggestionModel.Status.FAILED, "构建进程中途退出")
    assert build.status == SuggestionModel.Status.READY


def test_the_newest_three_ready_builds_are_kept(shop):
    builds = [suggestion_model_build() for _ in range(4)]

    assert list(SuggestionModel.objects.order_by("pk").values_list("pk", flat=True)) == [b.pk for b in builds[1:]]


def test_the_nightly_task_builds_the_model(shop):
    suggestion_model_build_task.delay()

    assert SuggestionModel.objects.get().status == SuggestionModel.Status.READY


def test_the_nightly_build_is_scheduled():
    from omni.celery import app

    entry = app.conf.beat_schedule["suggestion-model-nightly"]

    assert entry["task"] == "suggestions.tasks.suggestion_model_build_task"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({2}, {40})


# ---------------------------------------------------------------------------------------------------------
# The model in the serving process


def test_the_model_is_loaded_once_and_a_newer_build_picked_up_within_a_minute(shop, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(selectors, "_clock", lambda: clock[0])
    assert suggestion_model_current() is None

    # given a build, loaded by the first look after it
    clock[0] += 61
    first = suggestion_model_build()
    assert suggestion_model_current().pk == first.pk

    # when a newer build is made
    second = suggestion_model_build()

    # then within the minute the loaded one serves without a query; after it, the newer one
    with CaptureQueriesContext(connection) as queries:
        assert suggestion_model_current().pk == first.pk
    assert len(queries) == 0
    clock[0] += 61
    current = suggestion_model_current()
    assert (current.pk, current.built_at) == (second.pk, second.built_at)


@pytest.mark.parametrize(
    "payload",
    [
        b"not a model",
        # a model of another shape, as another version of the engine pickles
        zlib.compress(pickle.dumps(engine.Model.__new__(engine.Model))),
    ],
)
def test_a_model_that_cannot_be_used_leaves_the_one_in_use_and_is_not_tried_again(shop, monkeypatch, payload):
    # given a model in use
    clock = [1000.0]
    monkeypatch.setattr(selectors, "_clock", lambda: clock[0])
    first = suggestion_model_build()
    assert suggestion_model_current().pk == first.pk

    # when a newer build cannot be used
    SuggestionModel.objects.create(
        status=SuggestionModel.Status.READY, built_at=timezone.now() + timedelta(minutes=1), payload=payload
    )
    clock[0] += 61
    in_use = suggestion_model_current()
    clock[0] += 61
    with CaptureQueriesContext(connection) as queries:
        again = suggestion_model_current()

    # then the first one serves on, and the broken one is not read again
    assert in_use.pk == again.pk == first.pk
    assert len(queries) == 1
    buy(shop["customer"], shop["dress_m"], days_ago=1)
    assert "BT1" in skus(customer_suggestions(customer_id=shop["customer"].pk, associate=shop["associate"]))


# ---------------------------------------------------------------------------------------------------------
# Outreach


def test_an_outreach_is_recorded_once_however_often_it_is_retried(shop):
    request_id = uuid.uuid4()
    send = {
        "associate": shop["associate"],
        "customer_id": shop["customer"].pk,
        "sku": "BT1",
        "source": Outreach.Source.SUGGESTION,
        "reason": "常与 真丝连衣裙 M 一起购买",
        "request_id": request_id,
    }

    first = outreach_record(**send)
    retry = outreach_record(**send)

    assert (first.created, retry.created) == (True, False)
    assert retry.outreach.pk == first.outreach.pk
    outreach = Outreach.objects.get()
    assert (outreach.associate, outreach.store, outreach.customer, outreach.product) == (
        shop["associate"],
        shop["store"],
        shop["customer"],
        shop["belt"],
    )
    assert (outreach.source, outreach.reason, outreach.request_id) == ("suggestion", send["reason"], request_id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_outreach_record_it_once(shop):
    contenders, request_id = 6, uuid.uuid4()

    def send():
        recorded = outreach_record(
            associate=shop["associate"],
            customer_id=shop["customer"].pk,
            sku="BT1",
            source=Outreach.Source.SUGGESTION,
            reason="",
            request_id=request_id,
        )
        return recorded.outreach.pk, recorded.created

    results = run_concurrently(send, contenders=contenders)

    assert failures(results) == []
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (contenders - 1) + [True]
    assert Outreach.objects.count() == 1


def test_an_outreach_to_another_stores_customer_is_not_found_and_not_recorded(shop):
    stranger = CustomerFactory(primary_store=shop["other_store"])

    with pytest.raises(ApplicationError) as raised:
        outreach_record(
            associate=shop["associate"],
            customer_id=stranger.pk,
            sku="BT1",
            source=Outreach.Source.MANUAL,
            reason="",
            request_id=uuid.uuid4(),
        )

    assert (raised.value.code, raised.value.status_code) == ("customer_not_found", 404)
    assert Outreach.objects.count() == 0


def test_an_outreach_of_an_unknown_product_is_refused(shop):
    with pytest.raises(ApplicationError) as raised:
        outreach_record(
            associate=shop["associate"],
            customer_id=shop["customer"].pk,
            sku="NOPE-1",
            source=Outreach.Source.MANUAL,
            reason="",
            request_id=uuid.uuid4(),
        )

    assert (raised.value.code, raised.value.status_code) == ("unknown_product", 400)
    assert Outreach.objects.count() == 0


def test_a_request_id_reused_for_another_product_is_a_conflict(shop):
    request_id = uuid.uuid4()
    send = {"associate": shop["associate"], "customer_id": shop["customer"].pk, "source": "addon", "reason": ""}
    outreach_record(sku="BT1", request_id=request_id, **send)

    with pytest.raises(ApplicationError) as raised:
        outreach_record(sku="SF1", request_id=request_id, **send)

    assert (raised.value.code, raised.value.status_code) == ("request_id_reused", 409)
    assert Outreach.objects.get().product == shop["belt"]


# ---------------------------------------------------------------------------------------------------------
# Complement rules


def test_a_rule_reads_category_names_or_codes_in_any_separator():
    rule = ComplementRule(category="连衣裙", complements="腰带、scarf, 鞋履  bag，腰带")

    rule.full_clean()

    assert (rule.category, rule.complements) == ("dress", "belt、scarf、shoes、bag")
    assert rule.complement_codes == ["belt", "scarf", "shoes", "bag"]
    assert str(rule) == "连衣裙 → 腰带、围巾丝巾、鞋履、包袋"


def test_a_brands_own_category_slug_is_a_category():
    rule = ComplementRule(category="jumpsuit", complements="belt")

    rule.full_clean()

    assert str(rule) == "jumpsuit → 腰带"


@pytest.mark.parametrize(
    ("category", "complements", "field", "code"),
    [
        ("dress", "腰带 帽子", "complements", "category_unknown"),
        ("连衣裙!", "belt", "category", "category_unknown"),
        ("dress", " 、, ", "complements", "complements_empty"),
        ("dress", "belt dress", "complements", "complement_self"),
    ],
)
def test_a_rule_with_unknown_or_circular_categories_is_refused(category, complements, field, code):
    rule = ComplementRule(category=category, complements=complements)

    with pytest.raises(ValidationError) as raised:
        rule.full_clean()

    assert [error.code for error in raised.value.error_dict[field]] == [code]


def test_the_demo_catalog_has_styles_online_stock_and_complement_rules(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    demo_seed(customers=20)

    styles = {item.sku: item.style for item in demo_catalog()}
    assert dict(Product.objects.values_list("sku", "style_code")) == styles
    online = list(Product.objects.values_list("online_stock", flat=True))
    assert (sum(units is None for units in online), sum(units == 0 for units in online)) == (1, 21)
    assert sum(bool(units) for units in online) == 170
    rules = {rule.category: tuple(rule.complement_codes) for rule in ComplementRule.objects.all()}
    assert rules == DEMO_COMPLEMENT_RULES
