"""Full syncs from WeCom: external contacts, corp tags and group chats.

Each sync is a SyncRun advanced one page at a time (`sync_page`); a page's writes and the cursor that
follows it commit together, so a run that dies resumes at the page it was on and re-applying a page
changes nothing. Every call goes through the WeCom client, which keeps under the per-API rate limit.
"""

import logging

from django.db import transaction
from django.utils import timezone

from associates.models import Associate
from associates.services import follow_record
from communities.services import groups_sync_page
from customers.models import Tag
from omni.errors import ApplicationError
from wecom import constants as C
from wecom.client import WeComClient, wecom_client
from wecom.models import SyncRun

logger = logging.getLogger(__name__)


def sync_start(*, kind: str) -> SyncRun:
    """Start a sync of `kind`, or return the one already running (which then resumes)."""
    if kind not in SyncRun.Kind.values:
        raise ApplicationError("unknown_sync", f"Unknown sync {kind!r}.")
    with transaction.atomic():
        running = SyncRun.objects.select_for_update().filter(kind=kind, status=SyncRun.Status.RUNNING).first()
        return running or SyncRun.objects.create(kind=kind)


def sync_page(*, run_id: int) -> bool:
    """Sync one page of the run; True while there is more to do."""
    client = wecom_client()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.status != SyncRun.Status.RUNNING:
            return False
        state, count, done = _PAGES[run.kind](client, dict(run.state))
        run.state, run.pages, run.items = state, run.pages + 1, run.items + count
        if done:
            run.status, run.finished_at = SyncRun.Status.DONE, timezone.now()
        run.save()
    logger.info(
        "WeCom %s sync #%s: page %s, %s items%s", run.kind, run.pk, run.pages, run.items, " — done" if done else ""
    )
    return not done


def _contacts_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    if "userids" not in state:
        state = {
            "userids": client.external_contact.get_follow_user_list().get("follow_user", []),
            "at": 0,
            "cursor": "",
        }
    userids = state["userids"][state["at"] : state["at"] + C.BATCH_GET_BY_USER_MAX_USERIDS]
    if not userids:
        return state, 0, True
    page = client.batch_get_by_user(userid_list=userids, cursor=state["cursor"], limit=C.BATCH_GET_BY_USER_MAX_LIMIT)
    associates = {a.wecom_userid: a for a in Associate.objects.select_related("store").filter(wecom_userid__in=userids)}
    count = 0
    for item in page.get("external_contact_list", []):
        person, follow = item.get("external_contact", {}), item.get("follow_info", {})
        associate = associates.get(follow.get("userid"))
        if associate is None:
            continue
        follow_record(associate=associate, person=person, follow_user=follow)
        count += 1
    cursor = page.get("next_cursor", "")
    if cursor:
        state["cursor"] = cursor
    else:
        state["at"], state["cursor"] = state["at"] + len(userids), ""
    return state, count, state["at"] >= len(state["userids"])


def _tags_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    groups = client.external_contact.get_corp_tag_list().get("tag_group", [])
    count = 0
    for group in groups:
        for tag in group.get("tag", []):
            Tag.objects.update_or_create(
                wecom_tag_id=tag["id"], defaults={"name": tag["name"][:50], "group": group.get("group_name", "")[:50]}
            )
            count += 1
    return state, count, True


def _groups_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    # Each group is re-fetched and converged by the communities app, which also keeps its members and their
    # joins and leaves; the same code handles change_external_chat callbacks.
    state["cursor"], count = groups_sync_page(client=client, cursor=state.get("cursor", ""))
    return state, count, not state["cursor"]


_PAGES = {
    SyncRun.Kind.CONTACTS: _contacts_page,
    SyncRun.Kind.TAGS: _tags_page,
    SyncRun.Kind.GROUPS: _groups_page,
}
