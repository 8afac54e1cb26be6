"""bench sidebar's larger data sets: the copies of the seeded customers, loaded by binary COPY … FREEZE, are those
customers again (ids and unique keys shifted per copy), with every index and constraint the schema has, frozen,
marked all-visible and analyzed."""

import pytest
from django.db import connection

from bench.sidebar import ACTIVITY, COPIED, _copies_write
from clientbook.profile import customer_figures, customer_lists, customer_orders_page
from customers.models import Customer
from demo.seed import demo_seed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, reset_sequences=True)]

SEEDED = 30


def _schema() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid FROM pg_index"
            " WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [list(COPIED)],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
            " WHERE conrelid = ANY(%(t)s::regclass[]) OR confrelid = ANY(%(t)s::regclass[]) ORDER BY 1, 2",
            {"t": list(COPIED)},
        )
        return indexes + cursor.fetchall()


def _rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _orders(customer_id: int) -> list[tuple]:
    return _rows(
        "SELECT o.external_id, o.placed_at, o.total_amount, l.line_no, l.product_id, l.quantity, l.unit_price"
        " FROM customers_order o JOIN customers_orderline l ON l.order_id = o.id WHERE o.customer_id = %s"
        " ORDER BY o.placed_at, o.external_id, l.line_no",
        [customer_id],
    )


def test_each_copy_is_the_seeded_customers_again_with_the_schema_unchanged():
    # given a seeded brand of 30 customers
    demo_seed(customers=SEEDED, activity=ACTIVITY)
    schema = _schema()
    seeded = {table: _rows(f"SELECT COUNT(*) FROM {table}")[0][0] for table in COPIED}

    # when it is copied to 75 customers: copies 1 and 2 whole, then half a copy
    figures = _copies_write(name=connection.settings_dict["NAME"], customers=75, log=lambda _: None, base=SEEDED)

    # then the copies hold every seeded row again, and customer 30 + c (copy 1) and 60 + c are customer c again
    # each phase's time is reported (a copy this small can take under the 0.05 s that rounds to 0.0)
    assert {"seconds", "server_cpu_seconds", "client_cpu_seconds"} <= set(figures["phases_summed"]["load"])
    assert Customer.objects.count() == 75
    assert list(Customer.objects.order_by("pk").values_list("pk", flat=True)) == list(range(1, 76))
    assert (
        _rows("SELECT COUNT(*) FROM customers_order WHERE customer_id > %s", [2 * SEEDED])[0][0]
        == _rows("SELECT COUNT(*) FROM customers_order WHERE customer_id <= 15")[0][0]
    )
    for table in COPIED:
        if table != "customers_customer":
            # every row of every copy points at rows of its own copy: the copies' counts are the seed's
            count = _rows(f"SELECT COUNT(*) FROM {table}")[0][0]
            assert seeded[table] * 2 < count < seeded[table] * 3, table
    with_orders = [c for (c,) in _rows("SELECT DISTINCT customer_id FROM customers_order WHERE customer_id <= 15")]
    assert with_orders
    for customer_id in with_orders:
        seed_orders = _orders(customer_id)
        assert _orders(customer_id + SEEDED) == [(f"{o[0]}~1", *o[1:]) for o in seed_orders]
        assert _orders(customer_id + 2 * SEEDED) == [(f"{o[0]}~2", *o[1:]) for o in seed_orders]
        assert customer_figures(customer_id=customer_id + 2 * SEEDED) == customer_figures(customer_id=customer_id)
        seed_lists = customer_lists(customer_id=customer_id)
        copy_lists = customer_lists(customer_id=customer_id + SEEDED)
        assert copy_lists.tags == seed_lists.tags and copy_lists.notes == seed_lists.notes
        assert [i.kind for i in copy_lists.identities] == [i.kind for i in seed_lists.identities]
        assert [o["lines"] for o in customer_orders_page(customer_id=customer_id + SEEDED)] == [
            o["lines"] for o in customer_orders_page(customer_id=customer_id)
        ]
    # and the schema is as it was (indexes valid, keys validated); the tables frozen, all-visible and analyzed
    assert _schema() == schema
    for table in COPIED:
        ((pages, visible, stats),) = _rows(
            "SELECT relpages, relallvisible, (SELECT COUNT(*) FROM pg_stats WHERE tablename = relname) FROM pg_class"
            " WHERE oid = %s::regclass",
            [table],
        )
        assert pages > 0 and visible == pages and stats > 0, table
    # new rows take the ids after the copies'
    for table in COPIED:
        assert _rows(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) > MAX(id) FROM {table}") == [(True,)]
