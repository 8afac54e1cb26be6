"""The bulk order importer: semantics, rejects, chunking, idempotency, resumption, and the command."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from customers.importing import orders_import_file
from customers.models import Channel, Customer, Identity, ImportJob, Order, OrderLine, Product
from omni.errors import ApplicationError
from tests.factories import IdentityFactory, ProductFactory, StoreFactory

# Large optional data, not in the repository: OMNI_ONLINE_RETAIL_FILE (see omni/settings.py).
REAL_FILE = settings.OMNI_ONLINE_RETAIL_FILE
UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
UCI_ROWS = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",
    "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850.0,United Kingdom",
    "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/1/2010 8:34,1.69,13047.0,United Kingdom",
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,12/1/2010 9:41,2.55,17850.0,United Kingdom",
    "536414,22139,,56,12/1/2010 11:52,0,,United Kingdom",
]
LONDON = "Europe/London"


def _csv(tmp_path: Path, rows: list[str], header: str = UCI_HEADER, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _orders(channel: str) -> list[tuple]:
    """Everything an import decides about a channel's orders, without database ids."""
    return [
        (
            order.external_id,
            order.status,
            order.placed_at,
            order.customer.identities.get().value if order.customer else None,
            order.total_amount,
            [
                (line.line_no, line.product.sku, line.quantity, line.unit_price, line.discount)
                for line in order.lines.select_related("product").order_by("line_no")
            ],
        )
        for order in Order.objects.filter(channel=channel).select_related("customer").order_by("external_id")
    ]


def _counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Order, OrderLine, Customer, Identity, Product, ImportJob))


@pytest.mark.django_db(transaction=True)
def test_uci_rows_become_orders_lines_customers_and_products(tmp_path):
    path = _csv(tmp_path, UCI_ROWS)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)

    assert (result.already_done, result.rows_total, result.rows_read, result.resumed_from) == (False, 6, 6, 0)
    created = (result.lines_imported, result.orders_created, result.customers_created, result.products_created)
    assert created == (6, 5, 2, 5)
    assert (result.rejected, result.reject_examples) == ({}, {})
    at = datetime(2010, 12, 1, tzinfo=UTC)
    assert _orders(Channel.ONLINE_MALL) == [
        (
            "536365",
            "completed",
            at.replace(hour=8, minute=26),
            "17850",
            Decimal("35.64"),
            [(1, "85123A", 6, Decimal("2.55"), Decimal("0.00")), (2, "71053", 6, Decimal("3.39"), Decimal("0.00"))],
        ),
        (
            "536366",
            "completed",
            at.replace(hour=8, minute=28),
            "17850",
            Decimal("11.10"),
            [(1, "22633", 6, Decimal("1.85"), Decimal("0.00"))],
        ),
        (
            "536367",
            "completed",
            at.replace(hour=8, minute=34),
            "13047",
            Decimal("54.08"),
            [(1, "84879", 32, Decimal("1.69"), Decimal("0.00"))],
        ),
        (
            "536414",
            "completed",
            at.replace(hour=11, minute=52),
            None,
            Decimal("0.00"),
            [(1, "22139", 56, Decimal("0.00"), Decimal("0.00"))],
        ),
        (
            "C536379",
            "returned",
            at.replace(hour=9, minute=41),
            "17850",
            Decimal("-2.55"),
            [(1, "85123A", -1, Decimal("2.55"), Decimal("0.00"))],
        ),
    ]
    order = Order.objects.get(external_id="536365")
    assert (order.fulfilment, order.currency, order.store_id) == ("delivery", "CNY", None)
    assert sorted(Identity.objects.values_list("kind", "value", "source")) == [
        ("mall_account", "13047", "import:online_mall"),
        ("mall_account", "17850", "import:online_mall"),
    ]
    assert Order.objects.filter(customer__identities__value="17850").values("customer").distinct().count() == 1
    assert sorted(Product.objects.values_list("sku", "name", "price")) == [
        ("22139", "22139", Decimal("0.00")),
        ("22633", "HAND WARMER UNION JACK", Decimal("1.85")),
        ("71053", "WHITE METAL LANTERN", Decimal("3.39")),
        ("84879", "ASSORTED COLOUR BIRD ORNAMENT", Decimal("1.69")),
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", Decimal("2.55")),
    ]
    job = ImportJob.objects.get()
    assert (job.status, job.rows_total, job.rows_done, job.rows_rejected) == ("done", 6, 6, 0)


@pytest.mark.django_db(transaction=True)
def test_each_bad_row_is_rejected_with_its_reason_and_nothing_of_it_is_written(tmp_path):
    at = "2011-01-05 10:00:00"
    rows = [
        f"1001,SKU1,Thing,2,{at},1.50,555,0.50",
        f",SKU1,Thing,1,{at},1.50,555,",
        f"1001,,Thing,1,{at},1.50,555,",
        f"1001,SKU1,Thing,,{at},1.50,555,",
        f"1001,SKU1,Thing,1,{at},,555,",
        "1001,SKU1,Thing,1,,1.50,555,",
        f"1001,SKU1,Thing,two,{at},1.50,555,",
        f"1001,SKU1,Thing,1.5,{at},1.50,555,",
        f"1001,SKU1,Thing,1,{at},abc,555,",
        f"1001,SKU1,Thing,1,{at},1.50,555,x",
        "1001,SKU1,Thing,1,yesterday,1.50,555,",
        f"1001,{'X' * 65},Thing,1,{at},1.50,555,",
        f"1001,SKU1,Thing,0,{at},1.50,555,",
        f"1001,SKU1,Thing,3000000000,{at},1.50,555,",
        f"A563186,B,Adjust bad debt,1,{at},-11062.06,,",
        f"1001,SKU1,Thing,1,{at},1.50,555,-1",
        f"1001,SKU1,Thing,1,{at},10000000000,555,",
        f"1002,SKU2,damaged,-5,{at},0,,",
        f"1003,SKU3,Big,2000000000,{at},9999.00,,",
        f"1003,SKU1,Thing,1,{at},1.50,,",
        f"1004,SKU1,Thing,3,{at},1.50,,",
        f"1001,SKU2,Other,1,{at},1.50,555,",
    ]
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Discount"
    path = _csv(tmp_path, rows, header=header)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, mapping={"discount": "Discount"})

    assert result.rejected == {
        "amount_out_of_range": 1,
        "bad_date": 1,
        "bad_discount": 1,
        "bad_quantity": 2,
        "bad_unit_price": 1,
        "missing_date": 1,
        "missing_external_id": 1,
        "missing_quantity": 1,
        "missing_sku": 1,
        "missing_unit_price": 1,
        "negative_discount": 1,
        "negative_price": 1,
        "negative_quantity_not_return": 1,
        "order_total_out_of_range": 2,
        "quantity_out_of_range": 1,
        "value_too_long": 1,
        "zero_quantity": 1,
    }
    assert result.reject_examples == {
        "amount_out_of_range": [17],
        "bad_date": [11],
        "bad_discount": [10],
        "bad_quantity": [7, 8],
        "bad_unit_price": [9],
        "missing_date": [6],
        "missing_external_id": [2],
        "missing_quantity": [4],
        "missing_sku": [3],
        "missing_unit_price": [5],
        "negative_discount": [16],
        "negative_price": [15],
        "negative_quantity_not_return": [18],
        "order_total_out_of_range": [19, 20],
        "quantity_out_of_range": [14],
        "value_too_long": [12],
        "zero_quantity": [13],
    }
    assert (result.rows_read, result.lines_imported, result.orders_created, result.products_created) == (22, 3, 2, 2)
    placed_at = datetime(2011, 1, 5, 2, 0, tzinfo=UTC)  # 10:00 in settings.TIME_ZONE, Asia/Shanghai
    assert _orders(Channel.ONLINE_MALL) == [
        (
            "1001",
            "completed",
            placed_at,
            "555",
            Decimal("4.00"),
            # Numbered by position among the file's 16 rows of order 1001, rejected ones included.
            [(1, "SKU1", 2, Decimal("1.50"), Decimal("0.50")), (16, "SKU2", 1, Decimal("1.50"), Decimal("0.00"))],
        ),
        ("1004", "completed", placed_at, None, Decimal("4.50"), [(1, "SKU1", 3, Decimal("1.50"), Decimal("0.00"))]),
    ]
    assert list(Product.objects.values_list("sku", "name")) == [("SKU1", "Thing"), ("SKU2", "Other")]
    job = ImportJob.objects.get()
    assert (job.rows_rejected, job.rejects["bad_quantity"]) == (19, {"count": 2, "rows": [7, 8]})


@pytest.mark.django_db(transaction=True)
def test_an_invoice_spanning_chunks_gets_the_same_lines_and_total_as_in_one_chunk(tmp_path):
    rows = [
        "1,A,a,1,2011-02-01 10:00,1.10,7",
        "1,B,b,2,2011-02-01 10:00,2.20,7",
        "2,A,a,3,2011-02-01 11:00,1.10,8",
        "1,C,c,3,2011-02-01 09:30,0.10,7",
        "2,B,b,1,2011-02-01 11:00,2.20,8",
        "1,A,a,4,2011-02-01 10:00,1.10,7",
    ]
    path = _csv(tmp_path, rows)

    chunked = orders_import_file(path=path, channel=Channel.ONLINE_MALL, chunk_rows=2, tz="UTC")
    whole = orders_import_file(path=path, channel=Channel.MARKETPLACE, chunk_rows=50_000, tz="UTC")

    assert _orders(Channel.ONLINE_MALL) == _orders(Channel.MARKETPLACE)
    assert _orders(Channel.ONLINE_MALL)[0] == (
        "1",
        "completed",
        datetime(2011, 2, 1, 9, 30, tzinfo=UTC),
        "7",
        Decimal("10.20"),  # 1.10 + 4.40 + 0.30 + 4.40
        [
            (1, "A", 1, Decimal("1.10"), Decimal("0.00")),
            (2, "B", 2, Decimal("2.20"), Decimal("0.00")),
            (3, "C", 3, Decimal("0.10"), Decimal("0.00")),
            (4, "A", 4, Decimal("1.10"), Decimal("0.00")),
        ],
    )
    assert (chunked.lines_imported, chunked.orders_created) == (whole.lines_imported, whole.orders_created) == (6, 2)


@pytest.mark.django_db(transaction=True)
def test_importing_the_same_file_again_writes_nothing(tmp_path):
    path = _csv(tmp_path, UCI_ROWS)
    first = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)
    before, orders_before = _counts(), _orders(Channel.ONLINE_MALL)

    again = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=1)

    assert again.already_done
    assert again.job_id == first.job_id
    assert (again.rows_read, again.lines_imported, again.orders_created, again.customers_created) == (0, 0, 0, 0)
    assert (_counts(), _orders(Channel.ONLINE_MALL)) == (before, orders_before)


@pytest.mark.django_db(transaction=True)
def test_reimporting_without_the_job_row_never_duplicates(tmp_path):
    path = _csv(tmp_path, UCI_ROWS)
    orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)
    ImportJob.objects.all().delete()
    before, orders_before = _counts(), _orders(Channel.ONLINE_MALL)

    again = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=4)

    assert not again.already_done
    assert (again.lines_imported, again.lines_already_present, again.orders_created) == (0, 6, 0)
    assert (again.customers_created, again.products_created) == (0, 0)
    assert (_counts(), _orders(Channel.ONLINE_MALL)) == ((*before[:-1], 1), orders_before)  # only a new job row


class _Interrupted(Exception):
    pass


def _interrupt(rows: int) -> None:
    raise _Interrupted


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_import_resumes_after_its_last_chunk_and_ends_like_a_clean_run(tmp_path):
    path = _csv(tmp_path, UCI_ROWS)

    with pytest.raises(_Interrupted):
        orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=4, progress=_interrupt)

    job = ImportJob.objects.get()
    assert (job.status, job.rows_done) == ("failed", 4)
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["536365", "536366", "536367"]

    resumed = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=4)

    assert (resumed.job_id, resumed.resumed_from, resumed.rows_read) == (job.pk, 4, 2)
    assert (resumed.lines_imported, resumed.orders_created, resumed.products_created) == (2, 2, 1)
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("done", 6)
    clean = orders_import_file(
        path=path, channel=Channel.MINI_PROGRAM, identity_kind=Identity.Kind.MALL_ACCOUNT, tz=LONDON
    )
    assert clean.lines_imported == 6
    assert _orders(Channel.ONLINE_MALL) == _orders(Channel.MINI_PROGRAM)
    assert (Customer.objects.count(), Product.objects.count()) == (2, 5)


@pytest.mark.django_db(transaction=True)
def test_a_run_that_finds_its_job_moved_on_by_another_process_stops_without_writing(tmp_path):
    path = _csv(tmp_path, UCI_ROWS)

    def another_process_takes_over(rows: int) -> None:
        ImportJob.objects.update(rows_done=5)

    with pytest.raises(ApplicationError) as raised:
        orders_import_file(
            path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=2, progress=another_process_takes_over
        )

    assert raised.value.code == "import_conflict"
    assert (OrderLine.objects.count(), ImportJob.objects.get().rows_done) == (2, 5)


@pytest.mark.django_db(transaction=True)
def test_a_file_with_no_rows_finishes_its_job_with_nothing_imported(tmp_path):
    result = orders_import_file(path=_csv(tmp_path, []), channel=Channel.ONLINE_MALL)

    assert (result.rows_total, result.lines_imported, result.rejected) == (0, 0, {})
    assert ImportJob.objects.get().status == "done"
    assert orders_import_file(path=_csv(tmp_path, []), channel=Channel.ONLINE_MALL).already_done


@pytest.mark.django_db(transaction=True)
def test_a_known_identity_links_orders_to_its_existing_customer(tmp_path):
    existing = IdentityFactory(kind=Identity.Kind.MALL_ACCOUNT, value="17850").customer
    path = _csv(tmp_path, UCI_ROWS)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)

    assert result.customers_created == 1
    assert Customer.objects.count() == 2
    assert sorted(Order.objects.filter(customer=existing).values_list("external_id", flat=True)) == [
        "536365",
        "536366",
        "C536379",
    ]
    assert existing.identities.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_existing_product_is_used_and_left_untouched(tmp_path):
    product = ProductFactory(sku="85123A", name="旧名称", price=Decimal("9.99"), category="home")
    path = _csv(tmp_path, UCI_ROWS)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)

    assert result.products_created == 4
    product.refresh_from_db()
    assert (product.name, product.price, product.category) == ("旧名称", Decimal("9.99"), "home")
    assert OrderLine.objects.filter(product=product).count() == 2


@pytest.mark.django_db(transaction=True)
def test_parquet_with_typed_columns_imports_like_csv_and_rounds_money_from_its_digits(tmp_path):
    frame = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536370", "C536371"],
            "StockCode": ["85123A", "71053", "22728", "22728"],
            "Description": ["WHITE HANGING HEART T-LIGHT HOLDER", "WHITE METAL LANTERN", "ALARM CLOCK", None],
            "Quantity": [6, 6, 24, -2],
            "InvoiceDate": pd.to_datetime(
                ["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 08:45", "2010-12-01 09:00"]
            ),
            "UnitPrice": [2.55, 2.675, 0.001, 3.75],
            "CustomerID": [17850.0, 17850.0, None, 12583.0],
            "Country": ["United Kingdom"] * 4,
        }
    )
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON)

    assert (result.lines_imported, result.orders_created, result.customers_created) == (4, 3, 2)
    at = datetime(2010, 12, 1, tzinfo=UTC)
    assert _orders(Channel.ONLINE_MALL) == [
        (
            "536365",
            "completed",
            at.replace(hour=8, minute=26),
            "17850",
            Decimal("31.38"),
            [(1, "85123A", 6, Decimal("2.55"), Decimal("0.00")), (2, "71053", 6, Decimal("2.68"), Decimal("0.00"))],
        ),
        (
            "536370",
            "completed",
            at.replace(hour=8, minute=45),
            None,
            Decimal("0.00"),
            [(1, "22728", 24, Decimal("0.00"), Decimal("0.00"))],
        ),
        (
            "C536371",
            "returned",
            at.replace(hour=9),
            "12583",
            Decimal("-7.50"),
            [(1, "22728", -2, Decimal("3.75"), Decimal("0.00"))],
        ),
    ]
    assert Product.objects.get(sku="22728").name == "ALARM CLOCK"


@pytest.mark.django_db(transaction=True)
def test_the_most_frequent_price_becomes_the_new_products_price(tmp_path):
    rows = [
        "1,A,,1,2011-01-01 10:00,2.00,",
        "2,A,Mug,1,2011-01-01 10:00,1.50,",
        "3,A,Cup,1,2011-01-01 10:00,1.50,",
        "4,B,Bowl,1,2011-01-01 10:00,3.00,",
        "5,B,Bowl,1,2011-01-01 10:00,2.00,",
    ]

    orders_import_file(path=_csv(tmp_path, rows), channel=Channel.ONLINE_MALL)

    assert sorted(Product.objects.values_list("sku", "name", "price")) == [
        ("A", "Mug", Decimal("1.50")),
        ("B", "Bowl", Decimal("2.00")),  # a tie goes to the lower price
    ]


@pytest.mark.django_db(transaction=True)
def test_store_pos_orders_get_the_store_in_store_fulfilment_and_pos_member_identities(tmp_path):
    store = StoreFactory(code="SH001")
    rows = ["P1,SKU1,Tee,1,2026-05-01 14:30,99.00,M001", "P2,SKU1,Tee,2,2026-05-01T15:00:00+08:00,99.00,"]
    header = "ticket,item,name,qty,sold_at,price,member"
    mapping = {
        "external_id": "ticket",
        "sku": "item",
        "description": "name",
        "quantity": "qty",
        "placed_at": "sold_at",
        "unit_price": "price",
        "customer_id": "member",
    }

    orders_import_file(
        path=_csv(tmp_path, rows, header=header), channel=Channel.STORE_POS, mapping=mapping, store_code="SH001"
    )

    orders = Order.objects.order_by("external_id").values_list("store", "fulfilment", "placed_at", "total_amount")
    assert list(orders) == [
        (store.pk, "in_store", datetime(2026, 5, 1, 6, 30, tzinfo=UTC), Decimal("99.00")),
        (store.pk, "in_store", datetime(2026, 5, 1, 7, 0, tzinfo=UTC), Decimal("198.00")),
    ]
    assert list(Identity.objects.values_list("kind", "value", "source")) == [
        ("pos_member_no", "M001", "import:store_pos")
    ]


@pytest.mark.django_db(transaction=True)
def test_phone_identities_are_normalized_and_invalid_ones_rejected(tmp_path):
    rows = ["1,A,a,1,2011-01-01 10:00,1.00,138 1234 5678", "2,A,a,1,2011-01-01 10:00,1.00,12345"]

    result = orders_import_file(
        path=_csv(tmp_path, rows), channel=Channel.ONLINE_MALL, identity_kind=Identity.Kind.PHONE
    )

    assert (result.rejected, result.reject_examples) == ({"bad_customer_id": 1}, {"bad_customer_id": [2]})
    assert list(Identity.objects.values_list("kind", "value")) == [("phone", "+8613812345678")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"path": Path("/nonexistent/orders.csv")}, "file_not_found"),
        ({"path": Path("orders.txt")}, "unsupported_file_type"),
        ({"mapping": {"sku": "Item"}}, "missing_column"),
        ({"mapping": {"colour": "Colour"}}, "unknown_field"),
        ({"channel": "fax"}, "unknown_channel"),
        ({"identity_kind": "passport"}, "unknown_identity_kind"),
        ({"store_code": "NOPE"}, "unknown_store"),
        ({"tz": "Mars/Olympus"}, "unknown_timezone"),
        ({"fulfilment": "drone"}, "unknown_fulfilment"),
        ({"chunk_rows": 0}, "invalid_chunk_size"),
    ],
)
def test_bad_input_raises_a_stable_code_and_writes_nothing(tmp_path, options, code):
    arguments = {"path": _csv(tmp_path, UCI_ROWS), "channel": Channel.ONLINE_MALL, **options}

    with pytest.raises(ApplicationError) as raised:
        orders_import_file(**arguments)

    assert raised.value.code == code
    assert _counts() == (0, 0, 0, 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_the_command_prints_a_summary_and_turns_bad_input_into_a_command_error(tmp_path):
    path = _csv(tmp_path, [*UCI_ROWS, "536999,22139,,0,12/1/2010 12:00,1.00,,United Kingdom"])
    out = StringIO()

    call_command("import_orders", str(path), "--tz", LONDON, "--map", "customer_id=CustomerID", stdout=out, verbosity=0)
    call_command("import_orders", str(path), "--tz", LONDON, "--map", "customer_id=CustomerID", stdout=out, verbosity=0)

    text = out.getvalue()
    assert "rows read             7" in text
    assert "lines imported        6" in text
    assert "orders created        5" in text
    assert "new customers         2" in text
    assert "new products          5" in text
    assert "zero_quantity" in text and "e.g. rows 7" in text
    assert "Already imported" in text
    assert Order.objects.count() == 5
    with pytest.raises(CommandError, match=r"\[file_not_found\]"):
        call_command("import_orders", str(tmp_path / "missing.csv"), verbosity=0)
    with pytest.raises(CommandError, match="FIELD=COLUMN"):
        call_command("import_orders", str(path), "--map", "sku", verbosity=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not REAL_FILE.is_file(),
    reason="optional data: set OMNI_ONLINE_RETAIL_FILE to the UCI Online Retail file as parquet "
    "(https://doi.org/10.24432/C5BW33)",
)
def test_a_slice_of_the_real_uci_file_matches_pandas_own_count(tmp_path):
    frame = pq.read_table(REAL_FILE).slice(0, 20_000).to_pandas()
    path = tmp_path / "slice.parquet"
    frame.to_parquet(path)

    result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz=LONDON, chunk_rows=7_000)

    is_return = frame["InvoiceNo"].str.startswith("C")
    accepted = frame[(frame["Quantity"] != 0) & (frame["UnitPrice"] >= 0) & ((frame["Quantity"] > 0) | is_return)]
    cents = (accepted["Quantity"] * (accepted["UnitPrice"] * 100).round().astype("int64")).sum()
    assert result.rows_read == 20_000
    assert result.lines_imported == OrderLine.objects.count() == len(accepted)
    assert result.orders_created == Order.objects.count() == accepted["InvoiceNo"].nunique()
    assert result.customers_created == Customer.objects.count() == accepted["CustomerID"].nunique()
    assert result.products_created == Product.objects.count() == accepted["StockCode"].nunique()
    assert Order.objects.filter(status="returned").count() == accepted.loc[is_return, "InvoiceNo"].nunique()
    anonymous = accepted.loc[accepted["CustomerID"].isna(), "InvoiceNo"].nunique()
    assert Order.objects.filter(customer=None).count() == anonymous
    assert sum(Order.objects.values_list("total_amount", flat=True)) == Decimal(int(cents)) / 100
    assert sum(result.rejected.values()) == 20_000 - len(accepted)
