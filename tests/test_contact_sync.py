"""The contacts sync at a brand's size: fanned out per associate (one SyncPart each), each page written set-based on
PostgreSQL with the same result as `follow_record` row by row, friendships WeCom no longer lists ended when the
associate's pass completes, a member WeCom refuses failing alone and resumed by the operator; all against the
emulator's generated corp over HTTP."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.urls import reverse

from associates.models import Associate
from clientbook.models import ContactWay, FollowRelation
from clientbook.services import follow_record
from clientbook.sync import follows_record_page
from customers.models import Customer, Identity, IdentityConflict
from tests.factories import AssociateFactory, StoreFactory, UserFactory
from tests.live_emulator import live_emulator
from wecom.client import wecom_client
from wecom.emulator.generated import GeneratedCorp
from wecom.models import SyncPart, SyncRun
from wecom.sync import sync_runs_resume, sync_start
from wecom.tasks import wecom_sync_task

CONFIG = {
    "corp_id": "wwsynccorp00000001",
    "agent_id": "1000002",
    "secret": "sync-secret",
    "token": "SyncToken",
    "encoding_aes_key": "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE",
}


@pytest.fixture
def emulator(settings):
    with live_emulator(settings, "http://127.0.0.1:9", callbacks=False, **CONFIG) as running:
        yield running


def _corp(emulator, **shape) -> GeneratedCorp:
    answer = emulator.control("POST", "generated", shape)["generated"]
    return GeneratedCorp(**answer)


def _associates(corp: GeneratedCorp, count: int) -> list[Associate]:
    store = StoreFactory(code="GEN1", name="生成门店")
    return [AssociateFactory(store=store, wecom_userid=corp.userid(i), name=f"导购{i}") for i in range(count)]


def _expected(corp: GeneratedCorp, indexes) -> set[tuple[str, str]]:
    return {
        (corp.userid(i), corp.external_userid(corp.person(i, slot)))
        for i in indexes
        for slot in corp.slots(i, 0, corp.count(i))
    }


def _active() -> set[tuple[str, str]]:
    return set(
        FollowRelation.objects.filter(ended_at__isnull=True).values_list("associate__wecom_userid", "external_userid")
    )


@pytest.mark.django_db(transaction=True)
def test_a_full_sync_fans_out_per_associate_and_a_second_generation_ends_exactly_the_vanished(emulator):
    corp = _corp(emulator, associates=5, contacts_per_associate=230, churn=0.1, shared_every=7)
    _associates(corp, 4)  # the fifth member is not one of Omni's associates

    wecom_sync_task.delay(sync_start(kind=SyncRun.Kind.CONTACTS).pk)

    first = SyncRun.objects.get()
    assert (first.status, first.items) == ("done", 4 * 230)
    assert sorted(first.parts.values_list("key", "status", "items", "pages")) == [
        *[(corp.userid(i), "done", 230, 3) for i in range(4)],
        (corp.userid(4), "done", 0, 0),
    ]
    assert _active() == _expected(corp, range(4))
    shared = 2 * len(range(0, 230, 7))  # associates 1 and 3 share every 7th contact with the one before
    assert Customer.objects.count() == 4 * 230 - shared
    assert Identity.objects.filter(kind="wecom_external_userid").count() == 4 * 230 - shared

    corp = _corp(emulator, generation=1)
    wecom_sync_task.delay(sync_start(kind=SyncRun.Kind.CONTACTS).pk)

    second = SyncRun.objects.order_by("-pk").first()
    assert second.status == "done"
    assert _active() == _expected(corp, range(4))
    ended = FollowRelation.objects.filter(ended_reason=FollowRelation.Ended.SYNC_MISSING)
    assert ended.count() == 4 * 23
    assert sorted(second.parts.values_list("lost", flat=True)) == [0, 23, 23, 23, 23]
    assert FollowRelation.objects.count() == 4 * 230 + 4 * 23


@pytest.mark.django_db(transaction=True)
def test_a_member_wecom_refuses_fails_alone_and_the_operator_resumes_only_that_member(emulator):
    corp = _corp(emulator, associates=3, contacts_per_associate=120)
    _associates(corp, 3)
    run = sync_start(kind=SyncRun.Kind.CONTACTS)
    # WeCom listed all three when the run began; then the admin took the second one's customer-contact permission.
    SyncRun.objects.filter(pk=run.pk).update(state={"planned": True, "parts": 3})
    SyncPart.objects.bulk_create(SyncPart(run=run, key=corp.userid(i)) for i in range(3))
    emulator.control("POST", "admin", {"contact_users": [corp.userid(0), corp.userid(2)]})

    wecom_sync_task.delay(run.pk)

    run.refresh_from_db()
    failed = SyncPart.objects.get(run=run, key=corp.userid(1))
    assert run.status == "failed"
    assert "1 个成员同步失败" in run.error
    assert failed.status == "failed"
    assert "84074" in failed.error
    assert FollowRelation.objects.filter(associate__wecom_userid=corp.userid(1)).count() == 0

    emulator.control("POST", "admin", {"contact_users": None})
    assert sync_runs_resume(run_ids=[run.pk], queue=wecom_sync_task.delay) == 1

    run.refresh_from_db()
    assert run.status == "done"
    assert run.items == 3 * 120
    assert _active() == _expected(corp, range(3))


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_a_runs_members_done_running_and_failed(emulator, client):
    corp = _corp(emulator, associates=2, contacts_per_associate=10)
    _associates(corp, 2)
    wecom_sync_task.delay(sync_start(kind=SyncRun.Kind.CONTACTS).pk)
    run = SyncRun.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    runs = client.get(reverse("admin:wecom_syncrun_changelist")).content.decode()
    parts = client.get(reverse("admin:wecom_syncpart_changelist"), {"run__id__exact": run.pk})

    assert "2 / 0 / 0 / 2" in runs
    assert "2 页，20 条" in runs
    assert parts.status_code == 200
    assert parts.context["cl"].result_count == 2


# The set-based page against follow_record -------------------------------------------------------------------------


class _Undo(Exception):
    pass


def _pages(corp: GeneratedCorp, index: int) -> list[list[tuple[dict, dict]]]:
    client, pages, cursor = wecom_client(), [], ""
    while True:
        page = client.batch_get_by_user(userid_list=[corp.userid(index)], cursor=cursor, limit=100)
        pages.append([(item["external_contact"], item["follow_info"]) for item in page["external_contact_list"]])
        cursor = page["next_cursor"]
        if not cursor:
            return pages


def _given(associates: list[Associate], corp: GeneratedCorp, way: ContactWay) -> None:
    """What One ID and the client book knew before the sync, the same for both paths."""
    person = lambda i, slot: corp.contact(corp.person(i, slot), "http://x")  # noqa: E731
    # A customer known by unionid only, with blank fields: found, filled, and given the external_userid.
    known = Customer.objects.create(name="", gender="unknown")
    Identity.objects.create(customer=known, kind="wechat_unionid", value=person(0, 2)["unionid"], source="pos")
    # Known by external_userid, named, opted out yet consenting (One ID clears the consent), avatar stale.
    named = Customer.objects.create(name="老客", gender="female", opted_out=True, marketing_consent=True)
    Identity.objects.create(customer=named, kind="wecom_external_userid", value=person(0, 3)["external_userid"])
    # The external_userid and the unionid of one person owned by two customers: One ID's conflict.
    one, two = Customer.objects.create(name="甲"), Customer.objects.create(name="乙")
    Identity.objects.create(customer=one, kind="wecom_external_userid", value=person(1, 4)["external_userid"])
    Identity.objects.create(customer=two, kind="wechat_unionid", value=person(1, 4)["unionid"])
    # A friendship that had ended, and one with an old remark and no customer link to the right person.
    follow_record(
        associate=associates[0], person=person(0, 5), follow_user={"userid": associates[0].wecom_userid, "remark": "旧"}
    )
    FollowRelation.objects.filter(external_userid=person(0, 5)["external_userid"]).update(
        ended_at=datetime(2024, 1, 1, tzinfo=UTC), ended_reason="customer_deleted"
    )


def _snapshot() -> dict:
    def owner(customer_id: int) -> tuple:
        return tuple(sorted(Identity.objects.filter(customer_id=customer_id).values_list("kind", "value")))

    customers = {
        owner(c["id"]): tuple(v for k, v in c.items() if k not in ("id", "created_at", "updated_at"))
        for c in Customer.objects.values()
    }
    identities = sorted((i.kind, i.value, i.source, owner(i.customer_id)) for i in Identity.objects.all())
    follows = sorted(
        (
            f.associate_id,
            f.external_userid,
            owner(f.customer_id),
            f.add_way,
            f.contact_type,
            f.state,
            f.contact_way_id,
            f.remark,
            f.followed_at,
            f.ended_at,
            f.ended_reason,
            f.welcome,
        )
        for f in FollowRelation.objects.all()
    )
    return {
        "customers": customers,
        "identities": identities,
        "follows": follows,
        "conflicts": IdentityConflict.objects.count(),
    }


def _record(associates, pages_by_associate, *, bulk: bool) -> dict:
    try:
        with transaction.atomic():
            _given(associates, *pages_by_associate["given"])
            for associate, pages in zip(associates, pages_by_associate["pages"], strict=True):
                for page in pages:
                    if bulk:
                        follows_record_page(associate=associate, items=page)
                    else:
                        for person, follow in page:
                            follow_record(associate=associate, person=person, follow_user=follow)
            snapshot = _snapshot()
            raise _Undo
    except _Undo:
        return snapshot


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_set_based_page_records_exactly_what_follow_record_records_row_by_row(emulator):
    corp = _corp(emulator, associates=3, contacts_per_associate=150, shared_every=4)
    associates = _associates(corp, 3)
    way = ContactWay.objects.create(store=StoreFactory(code="QR1", name="扫码店"), state="cwspring", config_id="c1")
    pages = [_pages(corp, i) for i in range(3)]
    # Some contacts came through the contact-me QR code (its store is theirs), some with a state no code has, and
    # one without createtime, gender or a usable avatar.
    for slot in (0, 10, 20):
        pages[0][0][slot][1]["state"] = "cwspring"
    pages[1][0][7][1]["state"] = "campaign-x"
    odd_person, odd_follow = pages[2][1][0]
    odd_person.update(gender=0, avatar="ftp://nope", type=9)
    odd_follow.update(createtime=0, remark="长" * 150)
    given = {"given": (corp, way), "pages": pages}

    row_by_row = _record(associates, given, bulk=False)
    set_based = _record(associates, given, bulk=True)

    assert len(row_by_row["follows"]) == 450
    assert row_by_row["conflicts"] == 1
    assert set_based["customers"] == row_by_row["customers"]
    assert set_based["identities"] == row_by_row["identities"]
    assert set_based["conflicts"] == row_by_row["conflicts"]
    # followed_at of the contact without createtime is "now" on both paths, a moment apart.
    strip = lambda follows: [f[:8] + f[9:] if f[1] == odd_person["external_userid"] else f for f in follows]  # noqa: E731
    assert strip(set_based["follows"]) == strip(row_by_row["follows"])


def _row_versions() -> dict[str, set]:
    """Each row's version (xmin) and locker (xmax) in the tables a page writes: a row written or locked changes."""
    versions = {}
    with connection.cursor() as cursor:
        for table in ("associates_followrelation", "customers_customer", "customers_identity"):
            cursor.execute(f"SELECT id, xmin::text, xmax::text FROM {table}")
            versions[table] = set(cursor.fetchall())
    return versions


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_set_based_page_read_again_writes_and_locks_nothing_but_what_changed(emulator):
    corp = _corp(emulator, associates=1, contacts_per_associate=100)
    (associate,) = _associates(corp, 1)
    (page,) = _pages(corp, 0)
    follows_record_page(associate=associate, items=page)
    first = _row_versions()

    follows_record_page(associate=associate, items=page)

    assert _row_versions() == first
    assert FollowRelation.objects.count() == 100
    assert Customer.objects.count() == 100
    assert Identity.objects.count() == 150  # every other person has a unionid

    # The next night: one contact's remark changed, another's friendship had ended, a third's avatar is new.
    page[1][1]["remark"] = "新备注"
    FollowRelation.objects.filter(external_userid=page[2][0]["external_userid"]).update(
        ended_at=datetime(2024, 1, 1, tzinfo=UTC), ended_reason="customer_deleted"
    )
    page[3][0]["avatar"] = "http://x/new.png"
    before = _row_versions()

    follows_record_page(associate=associate, items=page)

    after = _row_versions()
    changed = lambda table: {row[0] for row in after[table] - before[table]}  # noqa: E731
    follow_ids = dict(FollowRelation.objects.values_list("external_userid", "id"))
    assert changed("associates_followrelation") == {follow_ids[page[i][0]["external_userid"]] for i in (1, 2)}
    customer_of = dict(FollowRelation.objects.values_list("external_userid", "customer_id"))
    assert changed("customers_customer") == {customer_of[page[3][0]["external_userid"]]}
    assert changed("customers_identity") == set(
        Identity.objects.filter(
            customer_id__in=[customer_of[page[i][0]["external_userid"]] for i in (1, 2, 3)]
        ).values_list("id", flat=True)
    )
    assert FollowRelation.objects.get(external_userid=page[1][0]["external_userid"]).remark == "新备注"
    assert FollowRelation.objects.filter(ended_at__isnull=False).count() == 0
    assert Customer.objects.get(pk=customer_of[page[3][0]["external_userid"]]).avatar_url == "http://x/new.png"
