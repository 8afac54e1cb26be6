"""The client book's parts of WeCom's full syncs (driven by `wecom.sync`): every associate's external contacts,
recorded as friendships (with the corp tags WeCom reports on them), and the corp tag library.

Contacts fan out per associate (`wecom.sync.sync_fan_out`): one part per member WeCom lists in get_follow_user_list,
each read 100 contacts a page with batch/get_by_user (that member only). A page is written set-based on PostgreSQL
(`follows_record_page`: COPY into a staging table, then One ID and the friendships as a few INSERT … ON CONFLICT /
UPDATE … FROM statements) with the same result as `follow_record`, row by row, which SQLite keeps. Only what differs
is written: on the next night most contacts are as they were, and their rows are left as they are (not even locked).
Each write also records the contacts it found (ContactsSeen, one row a write); when an associate's pass ends,
friendships none of them name are ended (SYNC_MISSING).
"""

from datetime import UTC, datetime

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from associates.models import Associate
from clientbook.models import ContactsSeen, ContactWay, FollowRelation
from clientbook.services import _GENDER, _avatar_url, follow_record
from clientbook.tags import follows_tags_record
from customers.models import Identity
from customers.services import identity_normalize
from customers.tags import corp_tags_pull
from omni.bulk import bulk_copy, is_postgres
from wecom import constants as C
from wecom.client import WeComClient
from wecom.models import SyncPart, SyncRun
from wecom.sync import FanOut, sync_fan_out, sync_pages

EXTERNAL, UNIONID = Identity.Kind.WECOM_EXTERNAL_USERID, Identity.Kind.WECHAT_UNIONID
# WeCom pages (of 100 contacts) fetched, then written in one transaction with the cursor after them.
PAGES_PER_WRITE = 5
# A page that met a concurrent writer of the same new customer (two associates' passes, or a callback) is written
# again at once on its savepoint; a second clash leaves it to the task's retry.
_ATTEMPTS = 3


def contacts_keys(client: WeComClient) -> list[str]:
    return client.external_contact.get_follow_user_list().get("follow_user", [])


def contacts_part_page(client: WeComClient, part: SyncPart) -> tuple[str, int, int, bool]:
    """Up to PAGES_PER_WRITE pages of the member's contacts from the part's cursor, written at once (the caller
    commits them with the cursor after the last): fewer, larger statements and commits than one write per page."""
    associate = Associate.objects.select_related("store").filter(wecom_userid=part.key).first()
    if associate is None:  # a member who is not one of Omni's associates: nothing of theirs is kept
        return "", 0, 0, True
    items, cursor, pages = [], part.cursor, 0
    while pages < PAGES_PER_WRITE:
        page = client.batch_get_by_user(userid_list=[part.key], cursor=cursor, limit=C.BATCH_GET_BY_USER_MAX_LIMIT)
        pages += 1
        items += [
            (item.get("external_contact", {}), item.get("follow_info", {}))
            for item in page.get("external_contact_list", [])
            if item.get("follow_info", {}).get("userid") == part.key
        ]
        cursor = page.get("next_cursor", "")
        if not cursor:
            break
    follows_record_page(associate=associate, items=items)
    follows_tags_record(items=items)
    if items:
        ContactsSeen.objects.create(part=part, external_userids=[person["external_userid"] for person, _ in items])
    return cursor, len(items), pages, not cursor


def contacts_part_finish(part: SyncPart) -> int:
    """The associate's friendships this pass did not find in WeCom (no ContactsSeen row of the part names them),
    ended; a friendship that began after the pass started (a callback's, meanwhile) is left alone. The part's
    ContactsSeen rows are deleted."""
    started = part.started_at or timezone.now()
    table = ContactsSeen._meta.db_table
    if is_postgres():
        seen = f"SELECT jsonb_array_elements_text(external_userids) FROM {table} WHERE part_id = %s"
    else:
        seen = f"SELECT j.value FROM {table}, json_each({table}.external_userids) j WHERE part_id = %s"
    ended = (
        FollowRelation.objects.filter(associate__wecom_userid=part.key, ended_at__isnull=True, followed_at__lt=started)
        .exclude(external_userid__in=RawSQL(seen, [part.pk]))
        .update(ended_at=timezone.now(), ended_reason=FollowRelation.Ended.SYNC_MISSING)
    )
    ContactsSeen.objects.filter(part=part).delete()
    return ended


sync_fan_out(SyncRun.Kind.CONTACTS, FanOut(keys=contacts_keys, page=contacts_part_page, finish=contacts_part_finish))


def follows_record_page(*, associate: Associate, items: list[tuple[dict, dict]]) -> int:
    """Record a page of `associate`'s contacts — (external_contact, follow_info) pairs as batch/get_by_user gives
    them — as `follow_record` does each. Set-based on PostgreSQL, writing only what differs; row by row elsewhere.
    Returns how many were recorded."""
    if not items:
        return 0
    if not is_postgres():
        for person, follow in items:
            follow_record(associate=associate, person=person, follow_user=follow)
        return len(items)
    rows = _stage_rows(associate, items)
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic():
                conflicts = _write_page(associate, rows)
            break
        except (IntegrityError, OperationalError) as exc:
            # A unique identity inserted meanwhile by another writer, or a deadlock with one: read again.
            if attempt == _ATTEMPTS - 1 or not _is_write_clash(exc):
                raise
    # Identities owned by two customers: One ID's own rules (the strongest wins, a conflict to review) row by row.
    by_external = {person["external_userid"]: (person, follow) for person, follow in items}
    for external_userid in conflicts:
        person, follow = by_external[external_userid]
        follow_record(associate=associate, person=person, follow_user=follow)
    return len(items)


def _is_write_clash(exc: Exception) -> bool:
    cause = getattr(exc, "__cause__", None)
    sqlstate = getattr(cause, "sqlstate", None)
    return isinstance(exc, IntegrityError) or sqlstate in ("40P01", "40001")


_STAGE = "clientbook_follow_stage"
_STAGE_COLUMNS = (
    "seq",
    "external_userid",
    "unionid",
    "name",
    "gender",
    "avatar",
    "contact_type",
    "add_way",
    "state",
    "contact_way_id",
    "store_id",
    "remark",
    "followed_at",
)


def _stage_rows(associate: Associate, items: list[tuple[dict, dict]]) -> list[tuple]:
    """The page as follow_record reads each contact, one tuple per contact in _STAGE_COLUMNS' order."""
    states = {follow.get("state", "") for _, follow in items} - {""}
    ways = {way.state: way for way in ContactWay.objects.filter(state__in=states)} if states else {}
    contact_types = set(FollowRelation.ContactType.values)
    now = timezone.now()
    rows = []
    for seq, (person, follow) in enumerate(items):
        external_userid = _identity(EXTERNAL, person["external_userid"])
        unionid = _identity(UNIONID, person["unionid"]) if person.get("unionid") else ""
        state = follow.get("state", "")
        way = ways.get(state)
        contact_type = person.get("type")
        created_ts = int(follow.get("createtime") or 0)
        rows.append(
            (
                seq,
                external_userid,
                unionid,
                person.get("name") or "",
                _GENDER.get(person.get("gender")),
                _avatar_url(person),
                contact_type if contact_type in contact_types else None,
                follow.get("add_way"),
                state[:30],
                way.pk if way else None,
                way.store_id if way else associate.store_id,
                (follow.get("remark") or "")[:100],
                datetime.fromtimestamp(created_ts, UTC) if created_ts else now,
            )
        )
    return rows


def _identity(kind: str, value) -> str:
    """identity_normalize's answer for an id kind (trimmed, not empty, not too long), without its per-call lookups of
    the kinds: it runs for every contact of the night."""
    text = "" if value is None else str(value).strip()
    if not text or len(text) > _IDENTITY_MAX:
        return identity_normalize(kind=kind, value=value)  # its error, with its code and message
    return text


_IDENTITY_MAX = Identity._meta.get_field("value").max_length


# One ID would change the staged contact's (`s`) customer (`c`): the UPDATE of customers_customer below.
_CUSTOMER_CHANGES = """(c.name = '' AND s.name <> '')
    OR (c.gender IN ('', 'unknown') AND s.gender IS NOT NULL)
    OR (c.primary_store_id IS NULL AND s.store_id IS NOT NULL)
    OR c.primary_associate_id IS NULL
    OR (c.opted_out AND c.marketing_consent)
    OR (s.avatar <> '' AND c.avatar_url <> s.avatar)"""
# The friendship's (`f`) columns the sync writes but its customer, and what a staged contact (`s`) gives them.
_FOLLOW_WRITTEN = (
    "(f.add_way, f.contact_type, f.state, f.contact_way_id, f.remark, f.followed_at, f.ended_at, f.ended_reason)"
)
_FOLLOW_STAGED = (
    "(s.add_way, s.contact_type, s.state, s.contact_way_id, s.remark, s.followed_at, NULL::timestamptz, '')"
)


def _write_page(associate: Associate, rows: list[tuple]) -> list[str]:
    """One page in one transaction: staged by COPY, then One ID's customers and identities, then the friendships.
    Returns the external_userids left to follow_record (their identities belong to two customers)."""
    params = {"associate": associate.pk, "external": EXTERNAL, "unionid": UNIONID}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (
                seq int, external_userid text, unionid text, name text, gender text, avatar text,
                contact_type smallint, add_way smallint, state text, contact_way_id bigint, store_id bigint,
                remark text, followed_at timestamptz,
                external_owner bigint, unionid_owner bigint, customer_id bigint, created boolean DEFAULT false
            ) ON COMMIT DELETE ROWS"""
        )
        cursor.execute(f"DELETE FROM {_STAGE}")  # a savepoint retried in the same transaction starts afresh
        bulk_copy(_STAGE, _STAGE_COLUMNS, rows, cursor=cursor)
        # A contact whose identities, customer and friendship are already what this page would make them (most of
        # them, the next night) is left out: nothing of theirs is written or locked. Should a merge move their
        # identities meanwhile, it moves the friendship too, as it would after this page.
        cursor.execute(
            f"""DELETE FROM {_STAGE} s
                USING customers_identity e, customers_customer c, associates_followrelation f
                WHERE e.kind = %(external)s AND e.value = s.external_userid AND c.id = e.customer_id
                    AND f.associate_id = %(associate)s AND f.external_userid = s.external_userid
                    AND (s.unionid = '' OR EXISTS (
                        SELECT FROM customers_identity u
                        WHERE u.kind = %(unionid)s AND u.value = s.unionid AND u.customer_id = e.customer_id))
                    AND NOT COALESCE({_CUSTOMER_CHANGES}, true)
                    AND f.customer_id = e.customer_id AND {_FOLLOW_WRITTEN} IS NOT DISTINCT FROM {_FOLLOW_STAGED}""",
            params,
        )
        # Who owns the page's identities now, their rows locked as customer_resolve locks them.
        cursor.execute(
            f"""WITH owned AS (
                    SELECT i.kind, i.value, i.customer_id FROM customers_identity i
                    WHERE (i.kind, i.value) IN (
                        SELECT %(external)s, external_userid FROM {_STAGE}
                        UNION ALL SELECT %(unionid)s, unionid FROM {_STAGE} WHERE unionid <> '')
                    ORDER BY i.id FOR NO KEY UPDATE OF i
                )
                UPDATE {_STAGE} s SET external_owner = o.external_owner, unionid_owner = o.unionid_owner
                FROM (
                    SELECT staged.seq, e.customer_id AS external_owner, u.customer_id AS unionid_owner
                    FROM {_STAGE} staged
                    LEFT JOIN owned e ON e.kind = %(external)s AND e.value = staged.external_userid
                    LEFT JOIN owned u ON u.kind = %(unionid)s AND u.value = staged.unionid
                ) o
                WHERE s.seq = o.seq""",
            params,
        )
        cursor.execute(
            f"""DELETE FROM {_STAGE} WHERE external_owner <> unionid_owner RETURNING external_userid""",
        )
        conflicts = [row[0] for row in cursor.fetchall()]
        # The anchor is the owner of the strongest identity (unionid, then external_userid); nobody's: a new customer.
        cursor.execute(
            f"""UPDATE {_STAGE} SET customer_id = COALESCE(unionid_owner, external_owner)""",
        )
        cursor.execute(
            f"""UPDATE {_STAGE} SET customer_id = nextval(pg_get_serial_sequence('customers_customer', 'id')),
                    created = true
                WHERE customer_id IS NULL""",
        )
        cursor.execute(
            f"""INSERT INTO customers_customer (id, name, gender, avatar_url, phone, primary_store_id,
                    primary_associate_id, marketing_consent, opted_out, created_at, updated_at)
                SELECT customer_id, name, COALESCE(gender, 'unknown'), avatar, '', store_id, %(associate)s,
                    false, false, now(), now()
                FROM {_STAGE} WHERE created ORDER BY seq""",
            params,
        )
        # One ID fills only blank fields of a known customer; the avatar follows WeCom.
        cursor.execute(
            f"""UPDATE customers_customer c SET
                    name = CASE WHEN c.name = '' AND s.name <> '' THEN s.name ELSE c.name END,
                    gender = CASE WHEN c.gender IN ('', 'unknown') AND s.gender IS NOT NULL
                                  THEN s.gender ELSE c.gender END,
                    primary_store_id = COALESCE(c.primary_store_id, s.store_id),
                    primary_associate_id = COALESCE(c.primary_associate_id, %(associate)s),
                    marketing_consent = c.marketing_consent AND NOT c.opted_out,
                    avatar_url = CASE WHEN s.avatar <> '' THEN s.avatar ELSE c.avatar_url END,
                    updated_at = now()
                FROM {_STAGE} s
                WHERE c.id = s.customer_id AND NOT s.created AND ({_CUSTOMER_CHANGES})""",
            params,
        )
        cursor.execute(
            f"""INSERT INTO customers_identity (customer_id, kind, value, source, created_at)
                SELECT customer_id, kind, value, 'wecom', now() FROM (
                    SELECT customer_id, %(external)s AS kind, external_userid AS value
                    FROM {_STAGE} WHERE external_owner IS NULL
                    UNION ALL
                    SELECT customer_id, %(unionid)s, unionid FROM {_STAGE}
                    WHERE unionid <> '' AND unionid_owner IS NULL
                ) new ORDER BY kind, value""",
            params,
        )
        # A contact left to write whose friendship is as it should be (only their customer changed) keeps its row
        # untouched: ON CONFLICT would lock it even to leave it as it is.
        cursor.execute(
            f"""INSERT INTO associates_followrelation (associate_id, customer_id, external_userid, add_way,
                    contact_type, state, contact_way_id, remark, followed_at, ended_at, ended_reason, welcome)
                SELECT %(associate)s, customer_id, external_userid, add_way, contact_type, state, contact_way_id,
                    remark, followed_at, NULL, '', 'none'
                FROM {_STAGE} s
                WHERE NOT EXISTS (
                    SELECT FROM associates_followrelation f
                    WHERE f.associate_id = %(associate)s AND f.external_userid = s.external_userid
                        AND f.customer_id = s.customer_id AND {_FOLLOW_WRITTEN} IS NOT DISTINCT FROM {_FOLLOW_STAGED})
                ORDER BY external_userid
                ON CONFLICT (associate_id, external_userid) DO UPDATE SET
                    customer_id = EXCLUDED.customer_id, add_way = EXCLUDED.add_way,
                    contact_type = EXCLUDED.contact_type, state = EXCLUDED.state,
                    contact_way_id = EXCLUDED.contact_way_id, remark = EXCLUDED.remark,
                    followed_at = EXCLUDED.followed_at, ended_at = NULL, ended_reason = ''""",
            params,
        )
    return conflicts


@sync_pages(SyncRun.Kind.TAGS)
def tags_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    """The whole tag library: groups and tags written here, the ones WeCom no longer has deleted (customers.tags)."""
    return state, corp_tags_pull(client=client), True
