"""seed_demo: the demo brand is complete and consistent, baskets follow COMPLEMENTS, and seeding is
deterministic and never writes twice."""

import hashlib
from collections import Counter, defaultdict
from datetime import date, timedelta
from io import StringIO
from itertools import combinations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from associates.models import Associate, Store
from campaigns.models import Campaign
from clientbook.models import FollowRelation
from coupons.models import Coupon, IssueRequest
from customers.categories import CATEGORY_LABELS
from customers.models import (
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
from customers.phones import phone_normalize
from demo import seed as demo
from demo.brand import HISTORY_DAYS, demo_reference
from demo.catalog import COMPLEMENTS, SKINCARE_CATEGORIES, demo_catalog
from demo.seed import demo_seed

pytestmark = pytest.mark.django_db

# The demo's history ends on the day it is seeded; these tests seed on this day (the digest below is this day's).
SEEDED_ON = date(2026, 11, 1)
REFERENCE = demo_reference(SEEDED_ON)


@pytest.fixture(autouse=True)
def seeding_day(time_machine):
    time_machine.move_to(REFERENCE + timedelta(hours=9, minutes=30), tick=False)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 at full strength would dominate these tests; the hasher is not what they are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(**options) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = (Store, Associate, Product, StoreStock, Tag, Customer, Identity, Order, OrderLine, CustomerTag)
    more = (CustomerNote, FollowRelation, IssueRequest, Coupon, get_user_model())
    return {model.__name__: model.objects.count() for model in (*models, *more)}


def wecom_and_coupons_digest() -> str:
    """A digest of the demo's draft campaigns, WeCom contacts and coupon sends by natural keys: request numbers end
    in a customer's primary key, so they count by their day's prefix and the customer's phone (coupon codes are
    random by design)."""
    follows = FollowRelation.objects.values_list(
        "external_userid", "associate__wecom_userid", "customer__phone", "add_way", "followed_at", "welcome"
    )
    requests = IssueRequest.objects.values_list(
        "request_no", "pack__name", "customer__phone", "associate__wecom_userid", "source", "cost", "created_at"
    )
    coupons = Coupon.objects.values_list(
        "issue_request__request_no", "customer__phone", "template__name", "valid_from", "valid_until", "status"
    )
    campaigns = Campaign.objects.values_list("name", "status", "send_at", "coupon_pack__name")
    rows = [
        sorted(campaigns),
        sorted(follows),
        sorted((no.rsplit(":", 1)[0], *rest) for no, *rest in requests),
        sorted((no.rsplit(":", 1)[0], *rest) for no, *rest in coupons),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def demo_digest() -> str:
    """A digest of every demo row by natural keys, so it does not depend on primary keys."""
    querysets = (
        Store.objects.order_by("code").values_list("code", "name", "city", "address", "created_at"),
        Associate.objects.order_by("wecom_userid").values_list(
            "wecom_userid", "name", "store__code", "role", "user__username", "created_at"
        ),
        Product.objects.order_by("sku").values_list("sku", "name", "category", "price", "created_at"),
        StoreStock.objects.order_by("store__code", "product__sku").values_list(
            "store__code", "product__sku", "quantity", "updated_at"
        ),
        Customer.objects.order_by("phone").values_list(
            "name",
            "gender",
            "birthday",
            "phone",
            "primary_store__code",
            "primary_associate__wecom_userid",
            "marketing_consent",
            "opted_out",
            "created_at",
        ),
        Identity.objects.order_by("kind", "value").values_list(
            "kind", "value", "source", "customer__phone", "created_at"
        ),
        Order.objects.order_by("channel", "external_id").values_list(
            "channel",
            "external_id",
            "store__code",
            "customer__phone",
            "associate__wecom_userid",
            "placed_at",
            "status",
            "fulfilment",
            "total_amount",
            "created_at",
            "updated_at",
        ),
        OrderLine.objects.order_by("order__channel", "order__external_id", "line_no").values_list(
            "order__external_id", "line_no", "product__sku", "quantity", "unit_price", "discount"
        ),
        CustomerTag.objects.order_by("customer__phone", "tag__group", "tag__name").values_list(
            "customer__phone", "tag__group", "tag__name", "added_by__wecom_userid", "created_at"
        ),
        CustomerNote.objects.order_by("customer__phone", "created_at", "text").values_list(
            "customer__phone", "author__wecom_userid", "text", "created_at"
        ),
    )
    digest = hashlib.sha256()
    for queryset in querysets:
        for row in queryset:
            digest.update(repr(row).encode())
    return digest.hexdigest()


def delete_demo() -> None:
    from campaigns.models import JourneyConfig
    from communities.models import Community
    from coupons.models import (
        AssociatePackDay,
        CouponPack,
        CouponPackItem,
        CouponTemplate,
        CustomerHolding,
        TemplateDay,
    )
    from library.models import Material, QuickReply, ReplyGroup, SentMessage

    for model in (
        SentMessage,
        QuickReply,
        ReplyGroup,
        Material,
        Coupon,
        IssueRequest,
        CustomerHolding,
        TemplateDay,
        AssociatePackDay,
        FollowRelation,
        Campaign,
        JourneyConfig,
        Community,
        CouponPackItem,
        CouponPack,
        CouponTemplate,
        OrderLine,
        Order,
        Identity,
        Customer,
        StoreStock,
        Product,
        Associate,
        Store,
        Tag,
    ):
        model.objects.all().delete()
    get_user_model().objects.all().delete()
    Group.objects.all().delete()


def test_seed_demo_writes_stores_associates_and_logins():
    # given an empty database
    # when the demo is seeded
    output = seed(customers=50)

    # then six stores have 4-6 associates each, exactly one of them the store manager
    stores = list(Store.objects.order_by("code").values_list("code", "city"))
    assert stores == [
        ("BJ01", "北京"),
        ("CD01", "成都"),
        ("GZ01", "广州"),
        ("HZ01", "杭州"),
        ("SH01", "上海"),
        ("SZ01", "深圳"),
    ]
    staff = Counter(Associate.objects.values_list("store__code", flat=True))
    assert staff == {"SH01": 6, "BJ01": 5, "HZ01": 4, "CD01": 5, "SZ01": 5, "GZ01": 5}
    managers = Associate.objects.filter(role=Associate.Role.STORE_MANAGER).select_related("store", "user")
    assert sorted((m.store.code, m.wecom_userid, m.user.username) for m in managers) == [
        ("BJ01", "zhaoxue", "manager_bj01"),
        ("CD01", "yangfan", "manager_cd01"),
        ("GZ01", "fenghui", "manager_gz01"),
        ("HZ01", "hexiaoyan", "manager_hz01"),
        ("SH01", "chenjing", "manager_sh01"),
        ("SZ01", "zhengkai", "manager_sz01"),
    ]
    assert Associate.objects.filter(role=Associate.Role.ASSOCIATE, user__isnull=False).count() == 0

    # and the logins work with the printed passwords and carry the right powers
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("omni-admin")
    hq = User.objects.get(username="hq")
    assert hq.is_staff and not hq.is_superuser and hq.check_password("omni-demo")
    assert hq.has_perm("associates.view_all_stores")
    manager = User.objects.get(username="manager_sh01")
    assert manager.is_staff and not manager.is_superuser and manager.check_password("omni-demo")
    assert list(manager.managed_stores.values_list("code", flat=True)) == ["SH01"]
    assert list(manager.groups.values_list("name", flat=True)) == ["店长"]
    assert not manager.has_perm("associates.view_all_stores")
    assert manager.has_perms(
        [
            "customers.view_customer",
            "customers.change_customer",
            "customers.change_order",
            "customers.change_storestock",
            "associates.change_associate",
            "customers.change_tag",
            "customers.add_customernote",
            "customers.view_identity",
            "customers.view_auditlog",
        ]
    )
    assert not manager.has_perm("customers.change_identity")
    assert not manager.has_perm("customers.change_auditlog")
    assert not manager.has_perm("customers.delete_customer")
    for line in ("admin          omni-admin", "hq             omni-demo", "manager_gz01   omni-demo"):
        assert line in output


def test_seed_demo_writes_the_catalog_and_stock_in_every_store():
    # when
    seed(customers=10)

    # then every SKU of the catalog is a product, sizes and colours as variants of one style
    catalog = demo_catalog()
    assert len(catalog) == 192
    assert Product.objects.count() == 192
    assert set(Product.objects.values_list("category", flat=True)) == set(CATEGORY_LABELS)
    dress = Product.objects.get(sku="QM-DR01-BK-M")
    assert (dress.name, dress.category, str(dress.price), dress.image_url) == (
        "真丝连衣裙 黑色 M",
        "dress",
        "1699.00",
        "",
    )
    assert Product.objects.filter(name__startswith="真丝连衣裙 ").count() == 6
    assert str(Product.objects.get(sku="QM-CL01-50ML").price) == "78.00"

    # and every store stocks every product, some of it sold out
    assert StoreStock.objects.count() == 6 * 192
    assert StoreStock.objects.filter(quantity=0).count() == 89
    assert StoreStock.objects.filter(quantity__lt=0).count() == 0


def test_seed_demo_writes_customers_with_identities_tags_and_notes():
    # when
    output = seed(customers=200)

    # then
    assert row_counts() == {
        "Store": 6,
        "Associate": 30,
        "Product": 192,
        "StoreStock": 1152,
        "Tag": 13,
        "Customer": 200,
        "Identity": 893,
        "Order": 783,
        "OrderLine": 1698,
        "CustomerTag": 241,
        "CustomerNote": 27,
        "FollowRelation": 138,
        "IssueRequest": 25,
        "Coupon": 50,
        "User": 8,
    }
    assert "客户：200" in output
    assert "订单行：1,698" in output

    # every customer has a valid, normalized mobile, the same as their phone identity, and shown masked
    phones = dict(Identity.objects.filter(kind=Identity.Kind.PHONE).values_list("customer_id", "value"))
    for customer in Customer.objects.all():
        assert customer.phone == phones[customer.pk]
        assert phone_normalize(customer.phone) == customer.phone
        assert customer.phone.startswith("+861") and len(customer.phone) == 14
        assert customer.phone_masked == f"{customer.phone[3:6]}****{customer.phone[-4:]}"
        assert customer.primary_associate is None or customer.primary_associate.store_id == customer.primary_store_id

    # identities look like each platform's ids and are unique
    assert Identity.objects.values("kind", "value").distinct().count() == Identity.objects.count()
    shapes = {
        Identity.Kind.WECOM_EXTERNAL_USERID: ("wm", 32),
        Identity.Kind.WECHAT_UNIONID: ("o6_bm", 28),
        Identity.Kind.MINI_PROGRAM_OPENID: ("oQm3v", 28),
        Identity.Kind.POS_MEMBER_NO: ("QM", 12),
        Identity.Kind.MALL_ACCOUNT: ("qm_", 15),
        Identity.Kind.MARKETPLACE_BUYER: ("AAH", 24),
    }
    for kind, (prefix, length) in shapes.items():
        values = list(Identity.objects.filter(kind=kind).values_list("value", flat=True))
        assert values, kind
        assert all(v.startswith(prefix) and len(v) == length for v in values), kind
    assert Counter(Identity.objects.values_list("kind", flat=True)) == {
        "phone": 200,
        "wechat_unionid": 166,
        "pos_member_no": 167,
        "wecom_external_userid": 138,
        "mini_program_openid": 129,
        "mall_account": 55,
        "marketplace_buyer": 38,
    }

    # most customers agreed to marketing, a few opted out, and those never count as consenting
    assert Customer.objects.filter(marketing_consent=True).count() == 181
    assert Customer.objects.filter(opted_out=True).count() == 3
    assert Customer.objects.filter(opted_out=True, marketing_consent=True).count() == 0
    assert set(Tag.objects.values_list("group", flat=True)) == {"客户价值", "肤质", "风格偏好", "兴趣"}
    assert CustomerNote.objects.filter(author__isnull=True).count() == 0


def test_every_order_total_is_the_exact_sum_of_its_lines():
    # given
    seed(customers=200)

    # then
    lines = defaultdict(list)
    for order_id, line_no, quantity, unit_price, discount in OrderLine.objects.values_list(
        "order_id", "line_no", "quantity", "unit_price", "discount"
    ):
        lines[order_id].append((line_no, quantity * unit_price - discount))
    for order in Order.objects.all():
        assert sorted(no for no, _ in lines[order.pk]) == list(range(1, len(lines[order.pk]) + 1))
        assert order.total_amount == sum(amount for _, amount in lines[order.pk])
        assert order.total_amount > 0


def test_orders_span_the_channels_with_consistent_store_associate_and_fulfilment():
    # given
    seed(customers=200)

    # then
    combos = Counter(Order.objects.values_list("channel", "fulfilment"))
    assert combos == {
        ("store_pos", "in_store"): 418,
        ("mini_program", "delivery"): 135,
        ("mini_program", "store_pickup"): 70,
        ("online_mall", "delivery"): 76,
        ("marketplace", "delivery"): 84,
    }
    in_store = Order.objects.filter(channel="store_pos").select_related("associate")
    assert all(o.store_id and o.associate and o.associate.store_id == o.store_id for o in in_store)
    assert Order.objects.filter(fulfilment="store_pickup", store__isnull=True).count() == 0
    assert Order.objects.filter(channel__in=["online_mall", "marketplace"], store__isnull=False).count() == 0
    window_start = REFERENCE - timedelta(days=HISTORY_DAYS)
    assert Order.objects.exclude(placed_at__gte=window_start, placed_at__lt=REFERENCE).count() == 0
    assert Order.objects.filter(external_id__startswith="SH01", channel="store_pos").exists()
    assert Order.objects.filter(currency="CNY").count() == Order.objects.count()


def test_returns_are_a_status_and_keep_their_lines():
    # given
    seed(customers=200)

    # then about 4% of orders are returned, as a status: nothing is deleted and no line is negative
    statuses = Counter(Order.objects.values_list("status", flat=True))
    assert statuses == {"completed": 741, "returned": 35, "cancelled": 7}
    assert OrderLine.objects.filter(order__status="returned").count() == 72
    assert OrderLine.objects.filter(quantity__lte=0).count() == 0


def test_baskets_pair_complements_far_more_often_than_unrelated_categories():
    # given
    seed(customers=600)
    baskets = defaultdict(set)
    for order_id, category in OrderLine.objects.values_list("order_id", "product__category"):
        baskets[order_id].add(category)
    together = Counter(frozenset(pair) for basket in baskets.values() for pair in combinations(sorted(basket), 2))

    # when the pairs in COMPLEMENTS are set against pairs nothing relates (skincare steps all relate)
    complementary = {frozenset((anchor, addon)) for anchor, addons in COMPLEMENTS.items() for addon in addons}
    unrelated = {
        frozenset(pair)
        for pair in combinations(CATEGORY_LABELS, 2)
        if frozenset(pair) not in complementary and not set(pair) <= set(SKINCARE_CATEGORIES)
    }
    per_complementary_pair = sum(together[pair] for pair in complementary) / len(complementary)
    per_unrelated_pair = sum(together[pair] for pair in unrelated) / len(unrelated)

    # then complements sell together over ten times as often, and most dresses leave with an add-on
    assert per_complementary_pair > 10 * per_unrelated_pair
    dress_baskets = [basket for basket in baskets.values() if "dress" in basket]
    with_addon = [basket for basket in dress_baskets if basket & set(COMPLEMENTS["dress"])]
    assert len(with_addon) / len(dress_baskets) > 0.5


def test_skincare_buyers_replenish_every_two_to_three_months():
    # given
    seed(customers=300)

    # when the gaps between a customer's consecutive skincare orders are measured
    skincare_orders = defaultdict(set)
    for customer_id, placed_at in OrderLine.objects.filter(product__category__in=SKINCARE_CATEGORIES).values_list(
        "order__customer_id", "order__placed_at"
    ):
        skincare_orders[customer_id].add(placed_at)
    gaps = sorted(
        (later - earlier).days
        for placed in skincare_orders.values()
        for earlier, later in zip(sorted(placed), sorted(placed)[1:], strict=False)
    )

    # then the typical gap is one 60-90 day cycle
    assert 55 <= gaps[len(gaps) // 2] <= 95


def test_seed_demo_is_deterministic():
    # given a seeded database, digested by natural keys
    seed(customers=150)
    first = demo_digest()
    first_coupons = wecom_and_coupons_digest()

    # when everything is deleted and the same size is seeded again
    delete_demo()
    seed(customers=150)

    # then every row is the same again, on either database
    assert demo_digest() == first
    assert wecom_and_coupons_digest() == first_coupons
    assert first_coupons == "cde8a4e3d4af10997f1c8656bf5f9e03c5ec2098a730f177c72aca653a547761"
    assert first == "07cc07db60bfa1347651f24512c0c9e9ea04018f3ddf77a948a7473369548614"


def test_seed_demo_in_several_chunks_keeps_identities_and_order_numbers_unique():
    # when
    summary = demo_seed(customers=300, chunk_size=128)

    # then
    assert summary.counts["客户"] == Customer.objects.count() == 300
    assert Identity.objects.values("kind", "value").distinct().count() == Identity.objects.count()
    assert Customer.objects.values("phone").distinct().count() == 300
    numbers = sorted(int(external_id[-9:]) for external_id in Order.objects.values_list("external_id", flat=True))
    assert numbers == list(range(1, Order.objects.count() + 1))


def test_seed_demo_refuses_to_write_twice():
    # given
    seed(customers=50)
    before = row_counts()

    # when
    with pytest.raises(CommandError, match="已有演示数据") as raised:
        seed(customers=50)

    # then nothing was written and the message says how to start again
    assert row_counts() == before
    assert "flush" in str(raised.value)


def test_seed_demo_keeps_an_existing_admin_account():
    # given an admin account somebody already made
    get_user_model().objects.create_superuser("admin", "ops@example.com", "their-own-password")

    # when
    output = seed(customers=20)

    # then it is left as it was, and the output says so
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("their-own-password")
    assert admin.email == "ops@example.com"
    assert "admin          （已存在，密码未改动）" in output
    assert get_user_model().objects.count() == 8


def test_a_seed_that_fails_midway_leaves_nothing_behind(monkeypatch):
    # given a seed whose second chunk of customers fails
    write_chunk = demo._chunk_write

    def fail_after_first_chunk(**kwargs) -> int:
        if kwargs["first_index"] > 0:
            raise RuntimeError("connection lost")
        return write_chunk(**kwargs)

    monkeypatch.setattr(demo, "_chunk_write", fail_after_first_chunk)

    # when
    with pytest.raises(RuntimeError):
        demo_seed(customers=100, chunk_size=50)

    # then not a row of it remains, and a later seed starts from scratch
    assert set(row_counts().values()) == {0}
    monkeypatch.undo()
    seed(customers=20)
    assert Customer.objects.count() == 20


def foreign_keys() -> list[tuple[str, str, str]]:
    tables = [model._meta.db_table for model in (Customer, Identity, Order, OrderLine, CustomerTag, CustomerNote)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [tables],
        )
        return cursor.fetchall()


@pytest.mark.postgres
def test_seed_demo_puts_every_foreign_key_back_as_it_was():
    # given the foreign keys the migrations made
    before = foreign_keys()
    assert len(before) == 17  # with a return's order and line, and an auto tag's rule
    assert all(definition.endswith("DEFERRABLE INITIALLY DEFERRED") for _, _, definition in before)

    # when the seed loads with them suspended
    seed(customers=20)

    # then they are back, same names and definitions, and enforced
    assert foreign_keys() == before
    with pytest.raises(IntegrityError), transaction.atomic():
        Identity.objects.create(customer_id=10**9, kind=Identity.Kind.POS_MEMBER_NO, value="QM-nobody")
        connection.check_constraints()


def test_seed_demo_rejects_a_scale_below_one():
    with pytest.raises(CommandError, match="--scale"):
        seed(scale=0)
    assert Store.objects.count() == 0


def test_seed_demo_writes_complete_running_coupon_packs_one_of_them_for_the_welcome():
    from coupons.managing import coupon_template_problems
    from coupons.models import CouponPack, CouponTemplate

    seed(customers=20)

    assert sorted(CouponPack.objects.values_list("name", "welcome")) == [
        ("新客礼包", True),
        ("生日礼", False),
        ("老客回购礼", False),
    ]
    templates = list(CouponTemplate.objects.all())
    assert {t.status for t in templates} == {"running"}
    assert [coupon_template_problems(template=t) for t in templates] == [[]] * 4
    assert sorted(t.rule_text for t in templates) == sorted(
        [
            "满300减50",
            "立减20元",
            "8.5折，最多减200元",
            "满500元赠" + CouponTemplate.objects.get(kind="gift").gift_product.name,
        ]
    )


def test_a_demo_store_manager_can_run_the_coupon_admin_and_hq_can_write_templates(client):
    from demo.brand import DEMO_STORES

    seed(customers=20)
    manager = get_user_model().objects.get(username=DEMO_STORES[0].manager_username)
    client.force_login(manager)

    for page in ("coupontemplate", "couponpack", "coupon", "issuerequest", "redemption"):
        assert client.get(f"/admin/coupons/{page}/").status_code == 200, page
    assert client.get("/admin/coupons/couponpack/add/").status_code == 200
    assert client.get("/admin/coupons/coupontemplate/add/").status_code == 403
    assert get_user_model().objects.get(username="hq").has_perm("coupons.add_coupontemplate")
