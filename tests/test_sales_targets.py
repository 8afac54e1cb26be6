"""Monthly targets (月度目标): set by a store's manager in admin, one by one or as a CSV file that is saved whole or
not at all, with per-row errors by stable code; a store's targets are invisible to another store's manager."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from insights.models import SalesTarget
from insights.services import sales_target_import
from tests.factories import AssociateFactory, StoreFactory, UserFactory

DEC = dt.date(2026, 12, 1)


@pytest.fixture
def stores(db):
    a, b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    lin = AssociateFactory(store=a, wecom_userid="linyu", name="林雨")
    zhao = AssociateFactory(store=b, wecom_userid="zhaolei", name="赵磊")
    manager = UserFactory(username="manager_a")
    manager.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="insights",
            codename__in=["view_salestarget", "add_salestarget", "change_salestarget", "delete_salestarget"],
        )
    )
    a.managers.add(manager)
    return {"a": a, "b": b, "lin": lin, "zhao": zhao, "manager": manager}


def _csv(*rows: str) -> bytes:
    return ("month,store,associate,amount,new_customers\n" + "\n".join(rows) + "\n").encode()


def test_a_good_file_is_saved_whole_and_a_second_import_changes_nothing(stores):
    content = _csv("2026-12,SH01,,300000,60", "2026-12,SH01,linyu,80000.50,15")

    first = sales_target_import(content=content, store_ids=frozenset({stores["a"].pk}))
    again = sales_target_import(content=content, store_ids=frozenset({stores["a"].pk}))

    assert (first.ok, first.created, first.updated, first.unchanged) == (True, 2, 0, 0)
    assert (again.ok, again.created, again.updated, again.unchanged) == (True, 0, 0, 2)
    rows = SalesTarget.objects.order_by("associate_id").values_list("month", "associate_id", "amount", "new_customers")
    assert sorted(rows, key=lambda r: r[1] or 0) == [
        (DEC, None, Decimal("300000.00"), 60),
        (DEC, stores["lin"].pk, Decimal("80000.50"), 15),
    ]


def test_a_changed_figure_updates_the_same_row(stores):
    sales_target_import(content=_csv("2026-12,SH01,linyu,80000,"), store_ids=None)

    result = sales_target_import(content=_csv("2026-12,SH01,linyu,90000,20"), store_ids=None)

    assert (result.created, result.updated) == (0, 1)
    target = SalesTarget.objects.get()
    assert (target.amount, target.new_customers) == (Decimal("90000.00"), 20)


def test_one_bad_row_saves_nothing_and_every_error_is_listed_with_its_code(stores):
    content = _csv(
        "2026-12,SH01,linyu,80000,15",
        "2026-13,SH01,,1000,",
        "2026-12,BJ01,,1000,",
        "2026-12,NOPE,,1000,",
        "2026-12,SH01,zhaolei,1000,",
        "2026-12,SH01,,-5,",
        "2026-12,SH01,,1.234,",
        "2026-12,SH01,,100,x",
        ",SH01,,100,",
        "2026-12,SH01,linyu,70000,",
    )

    result = sales_target_import(content=content, store_ids=frozenset({stores["a"].pk}))

    assert not result.ok
    assert [(e.line, e.column, e.code) for e in result.errors] == [
        (3, "month", "bad_month"),
        # another store's code and a code nobody has answer alike to a manager
        (4, "store", "store_not_allowed"),
        (5, "store", "store_not_allowed"),
        # an associate of another store is not found in this one
        (6, "associate", "unknown_associate"),
        (7, "amount", "bad_amount"),
        (8, "amount", "bad_amount"),
        (9, "new_customers", "bad_new_customers"),
        (10, "month", "missing_column"),
        (11, "month", "duplicate_row"),
    ]
    assert SalesTarget.objects.count() == 0


def test_hq_is_told_a_store_code_does_not_exist(stores):
    result = sales_target_import(content=_csv("2026-12,NOPE,,1000,"), store_ids=None)

    assert [e.code for e in result.errors] == ["unknown_store"]


@pytest.mark.parametrize(
    "content,code",
    [
        (b"", "empty_file"),
        (b"month,store,associate,amount\n", "empty_file"),
        (b"month,associate\n2026-12,linyu\n", "missing_columns"),
        ("month,store,amount\n2026-12,上海,1\n".encode("gbk"), "not_utf8"),
    ],
)
def test_a_file_that_cannot_be_read_saves_nothing(stores, content, code):
    result = sales_target_import(content=content, store_ids=None)

    assert (result.ok, result.file_error) == (False, code)
    assert SalesTarget.objects.count() == 0


def test_the_manager_imports_in_admin_and_sees_only_their_stores_targets(client, stores):
    SalesTarget.objects.create(month=DEC, store=stores["b"], associate=stores["zhao"], amount=Decimal("77777"))
    client.force_login(stores["manager"])

    template = client.get("/admin/insights/salestarget/template.csv")
    upload = SimpleUploadedFile("t.csv", _csv("2026-12,SH01,linyu,80000,15"), content_type="text/csv")
    imported = client.post("/admin/insights/salestarget/import/", {"file": upload})
    listing = client.get("/admin/insights/salestarget/").content.decode()
    other = SalesTarget.objects.get(store=stores["b"])

    assert template.status_code == 200 and template.content.startswith(b"month,store,associate,amount")
    assert imported.status_code == 302
    assert "林雨" in listing and "赵磊" not in listing and "77,777" not in listing and "77777" not in listing
    assert client.get(f"/admin/insights/salestarget/{other.pk}/change/").status_code == 404


def test_a_rejected_upload_in_admin_lists_the_rows_and_saves_nothing(client, stores):
    client.force_login(stores["manager"])
    upload = SimpleUploadedFile("t.csv", _csv("2026-12,SH01,linyu,80000,", "2026-12,BJ01,,5,"))

    response = client.post("/admin/insights/salestarget/import/", {"file": upload})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-code="store_not_allowed"' in html and "没有保存任何一行" in html
    assert SalesTarget.objects.count() == 0


def test_the_admin_form_refuses_another_stores_associate_and_another_store(client, stores):
    client.force_login(stores["manager"])

    mixed = client.post(
        "/admin/insights/salestarget/add/",
        {"month": "2026-12", "store": stores["a"].pk, "associate": stores["zhao"].pk, "amount": "1000"},
    )
    foreign = client.post(
        "/admin/insights/salestarget/add/", {"month": "2026-12", "store": stores["b"].pk, "amount": "1"}
    )
    good = client.post(
        "/admin/insights/salestarget/add/",
        {"month": "2026-12", "store": stores["a"].pk, "associate": stores["lin"].pk, "amount": "1000"},
    )

    assert mixed.status_code == 200 and foreign.status_code == 200
    assert good.status_code == 302
    assert list(SalesTarget.objects.values_list("month", "store_id", "associate_id")) == [
        (DEC, stores["a"].pk, stores["lin"].pk)
    ]


def test_the_demo_sets_this_months_targets_above_last_months_pace_once(stores):
    from demo.targets import targets_seed
    from insights.models import DailyStats

    today = dt.date(2026, 12, 7)
    DailyStats.objects.create(
        day=dt.date(2026, 11, 20), store=stores["a"], associate=stores["lin"], gmv=Decimal("30000")
    )

    written = targets_seed(today=today)
    again = targets_seed(today=today)

    assert written == again == 4  # two stores, one associate each, and each store's own
    lin = SalesTarget.objects.get(associate=stores["lin"])
    # 30,000 in 30 days → 31,000 for December's 31 days, × 1.15 = 35,650 → rounded up to 36,000
    assert (lin.month, lin.amount) == (DEC, Decimal("36000.00"))
    assert SalesTarget.objects.get(associate=stores["zhao"]).amount == Decimal("5000.00")
    assert SalesTarget.objects.count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_by_four_at_once_writes_each_target_once():
    from tests.threads import failures, run_concurrently

    a = StoreFactory(code="SH01")
    AssociateFactory(store=a, wecom_userid="linyu")
    content = _csv("2026-12,SH01,,300000,60", "2026-12,SH01,linyu,80000,15")

    outcomes = run_concurrently(lambda: sales_target_import(content=content, store_ids=None), contenders=4)

    assert failures(outcomes) == []
    assert all(result.ok for result in outcomes)
    assert sum(result.created for result in outcomes) == 2
    assert sum(result.created + result.unchanged for result in outcomes) == 8
    assert SalesTarget.objects.count() == 2
