"""The client book's pages of WeCom's full syncs (driven by `wecom.sync`): every associate's external contacts,
recorded as friendships (`follow_record`, the same code the add_external_contact callback runs), and the corp tags.
"""

from associates.models import Associate
from clientbook.services import follow_record
from customers.models import Tag
from wecom import constants as C
from wecom.client import WeComClient
from wecom.models import SyncRun
from wecom.sync import sync_pages


@sync_pages(SyncRun.Kind.CONTACTS)
def contacts_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
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


@sync_pages(SyncRun.Kind.TAGS)
def tags_page(client: WeComClient, state: dict) -> tuple[dict, int, bool]:
    groups = client.external_contact.get_corp_tag_list().get("tag_group", [])
    count = 0
    for group in groups:
        for tag in group.get("tag", []):
            Tag.objects.update_or_create(
                wecom_tag_id=tag["id"], defaults={"name": tag["name"][:50], "group": group.get("group_name", "")[:50]}
            )
            count += 1
    return state, count, True
