"""Omni behind PgBouncer in transaction mode (a private one, tests/servers.py, in front of the test database).

With one server connection in its pool, every client of PgBouncer takes turns on the same server session: what one
client leaves in the session (a prepared statement) is there for the next, and what it expects to find may be gone.
The till prepares its statements (omni.rawsql): DATABASE_POOLER=pgbouncer-transaction turns that off, and the till
then redeems through PgBouncer; with prepared statements left on, the second client collides with the first's.

`./run test --pgbouncer` runs this file and the pooled paths' tests (run's PGBOUNCER_SUBSET) through PgBouncer.
"""

import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.utils import load_backend

from coupons.models import Coupon, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from omni.settings import postgres_database
from tests.factories import CouponPackFactory, CouponPackItemFactory, CustomerFactory, StoreFactory
from tests.servers import PgBouncer, private_pgbouncer

pytestmark = [pytest.mark.postgres, pytest.mark.pgbouncer, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bouncer():
    """PgBouncer with a pool of one server connection, in front of the server the tests use."""
    db = connection.settings_dict
    with private_pgbouncer(
        upstream_host=db["HOST"] or "127.0.0.1", upstream_port=int(db["PORT"] or 5432), pool_size=1
    ) as running:
        yield running


def _coupons(count: int) -> list[str]:
    item = CouponPackItemFactory(pack=CouponPackFactory(daily_quota=100))
    return [
        coupon_pack_send(pack_id=item.pack_id, customer_id=CustomerFactory().pk, request_no=f"s-{n}", associate=None)
        .coupons[0]
        .code
        for n in range(count)
    ]


def _redeem_through(bouncer: PgBouncer, codes: list[str], *, prepared: bool) -> list[str]:
    """Redeem `codes` at the till in a thread of its own whose database connection goes through `bouncer`, with the
    settings DATABASE_POOLER=pgbouncer-transaction (and DATABASE_PREPARED_STATEMENTS=`prepared`) give; the errors."""
    db = connection.settings_dict
    url = bouncer.url(f"postgres://{db['USER']}@127.0.0.1/{db['NAME']}")
    settings_dict = connections.configure_settings(
        {DEFAULT_DB_ALIAS: postgres_database(url, pooler="pgbouncer-transaction", prepared=prepared)}
    )[DEFAULT_DB_ALIAS]
    store = StoreFactory()
    errors: list[str] = []

    def till():
        pooled = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, DEFAULT_DB_ALIAS)
        connections[DEFAULT_DB_ALIAS] = pooled  # this thread's connection only
        try:
            for n, code in enumerate(codes):
                order = OrderIn(channel="store", store=store, order_ref=f"POS-{code}", amount=Decimal("300.00"))
                try:
                    coupon_redeem(code=code, order=order, request_no=f"r-{code}-{n}")
                except (DatabaseError, psycopg.Error) as error:
                    errors.append(str(error).splitlines()[0])
        finally:
            pooled.close()

    worker = threading.Thread(target=till)
    worker.start()
    worker.join()
    return errors


def test_the_till_redeems_through_pgbouncer_with_the_poolers_settings(bouncer):
    codes = _coupons(6)

    # Two tills one after the other on the one server connection, each from its own client connection.
    errors = _redeem_through(bouncer, codes[:3], prepared=False) + _redeem_through(bouncer, codes[3:], prepared=False)

    assert errors == []
    assert Redemption.objects.filter(coupon__code__in=codes).count() == 6
    assert Coupon.objects.filter(code__in=codes, status=Coupon.Status.REDEEMED).count() == 6


def test_prepared_statements_left_on_break_the_till_behind_pgbouncer(bouncer, settings):
    if settings.DATABASE_POOLER:
        pytest.skip("already behind PgBouncer: the private one's clients may land on the outer pool's other servers")
    codes = _coupons(6)

    first = _redeem_through(bouncer, codes[:3], prepared=True)
    second = _redeem_through(bouncer, codes[3:], prepared=True)

    # The first till's statements are still prepared in the server session the second one gets: same names.
    assert first == []
    assert second and all(error.startswith('prepared statement "_pg3_') for error in second), second
    assert Redemption.objects.filter(coupon__code__in=codes[3:]).count() < 3
