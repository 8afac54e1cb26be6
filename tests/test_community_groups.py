"""Customer groups kept in step with WeCom (the emulator over HTTP): sync, and change_external_chat callbacks that
come late, twice, out of order, for groups never synced or unknown to WeCom. Joins and leaves are events that
are never counted twice, and membership converges to what groupchat/get says."""

import time

import pytest
from django.core.cache import cache

from communities.handlers import group_chat_created, group_chat_dismissed, group_chat_updated
from communities.models import GroupChat, GroupMember, GroupMemberEvent
from communities.services import RECHECK_ATTEMPTS, group_chat_recheck, group_chat_refresh
from customers.models import Identity
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from wecom.client import WeComError
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator
from wecom.events import EventNotApplicable
from wecom.models import SyncRun
from wecom.sync import sync_page, sync_start

CORP_ID, AGENT_ID, SECRET = "wwcommunitytest001", "1000002", "community-secret"
TOKEN, AES_KEY = "CommunityToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
CHEN = "wmCommunityChenJing0000000000001"
WANG = "wmCommunityWangLei00000000000002"


def emulator_for(settings, *, callback_url: str = "http://127.0.0.1:9/unused/", sidebar_url: str = ""):
    """An emulator on a free port with Omni's settings pointed at it (callbacks off unless the test turns them on)."""
    running = start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            callback_url=callback_url,
            sidebar_url=sidebar_url or "http://127.0.0.1:9/sidebar/",
        )
    )
    running.control("POST", "faults", {"callbacks": "off"})
    settings.WECOM_API_BASE = running.api_base
    settings.WECOM_CORP_ID, settings.WECOM_AGENT_ID, settings.WECOM_SECRET = CORP_ID, AGENT_ID, SECRET
    settings.WECOM_TOKEN, settings.WECOM_ENCODING_AES_KEY = TOKEN, AES_KEY
    settings.WECOM_RETRY_BACKOFF = 0.01
    cache.clear()
    return running


@pytest.fixture
def emulator(settings):
    running = emulator_for(settings)
    yield running
    running.stop()


def people(emulator):
    """林雨 of 上海静安店 in Omni and the emulator, and two customers known to One ID by external_userid / unionid."""
    store = StoreFactory(code="SH01", name="上海静安店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    chen = CustomerFactory(name="陈静", primary_store=store)
    IdentityFactory(customer=chen, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=CHEN)
    wang = CustomerFactory(name="王磊", primary_store=store)
    IdentityFactory(customer=wang, kind=Identity.Kind.WECHAT_UNIONID, value="unionid-wang")
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": CHEN})
    emulator.control(
        "POST", "customers", {"name": "王磊", "gender": 1, "external_userid": WANG, "unionid": "unionid-wang"}
    )
    return associate, chen, wang


def _update(chat_id: str, detail: str, members: list[str], version: str, created: int, **extra) -> dict:
    return {
        "MsgType": "event",
        "Event": "change_external_chat",
        "ChatId": chat_id,
        "ChangeType": "update",
        "UpdateDetail": detail,
        "MemChangeCnt": str(len(members)),
        "MemChangeList": {"Item": members[0] if len(members) == 1 else members},
        "CurMemVer": version,
        "CreateTime": str(created),
        **{k: str(v) for k, v in extra.items()},
    }


def _events(kind: str, **filters) -> int:
    return GroupMemberEvent.objects.filter(kind=kind, **filters).count()


@pytest.mark.django_db
def test_the_group_sync_pages_through_groupchat_list_and_links_members_to_one_id(emulator, settings):
    associate, chen, wang = people(emulator)
    for n in range(3):
        emulator.control("POST", "groups", {"owner": "linyu", "name": f"静安老友群{n}", "members": [CHEN, WANG]})
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 10_000

    run = sync_start(kind=SyncRun.Kind.GROUPS)
    while sync_page(run_id=run.pk):
        pass

    run.refresh_from_db()
    assert (run.status, run.items) == (SyncRun.Status.DONE, 3)
    assert GroupChat.objects.filter(owner=associate, member_count=3, status="active").count() == 3
    assert GroupMember.objects.filter(customer=chen, is_member=True).count() == 3
    # 王磊 is linked through his unionid.
    assert GroupMember.objects.filter(customer=wang, is_member=True).count() == 3
    assert GroupMember.objects.filter(associate=associate, member_type=GroupMember.Type.STAFF).count() == 3
    assert _events("join") == 9

    # A second run changes nothing and records nothing.
    run = sync_start(kind=SyncRun.Kind.GROUPS)
    while sync_page(run_id=run.pk):
        pass
    assert _events("join") == 9
    assert _events("leave") == 0


@pytest.mark.django_db
def test_a_callback_for_a_group_never_synced_fetches_it_and_joins_and_leaves_are_events(emulator):
    associate, chen, _ = people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    joined = emulator.control("POST", "groups/join", {"chat_id": chat_id, "member": CHEN})
    version = emulator.control("GET", "groups")["groups"][0]["member_version"]

    group_chat_updated(_update(chat_id, "add_member", [CHEN], version, int(time.time()), JoinScene=0))

    chat = GroupChat.objects.get(chat_id=chat_id)
    assert (chat.name, chat.member_count, chat.owner_id) == ("静安老友群", 2, associate.pk)
    member = GroupMember.objects.get(chat=chat, userid=CHEN)
    assert (member.customer_id, member.is_member) == (chen.pk, True)
    assert _events("join", member=member) == 1
    assert joined["group_chat"]["chat_id"] == chat_id

    emulator.control("POST", "groups/leave", {"chat_id": chat_id, "member": CHEN})
    version = emulator.control("GET", "groups")["groups"][0]["member_version"]
    group_chat_updated(_update(chat_id, "del_member", [CHEN], version, int(time.time()), QuitScene=0))

    member.refresh_from_db()
    assert (member.is_member, member.left_at is not None) == (False, True)
    assert _events("leave", member=member) == 1
    assert GroupChat.objects.get(chat_id=chat_id).member_count == 1


@pytest.mark.django_db
def test_duplicated_and_out_of_order_callbacks_converge_without_double_counting(emulator):
    people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create", "Event": "change_external_chat"})
    now = int(time.time())

    # 陈静 joins, then 王磊 joins, then 陈静 leaves; WeCom delivers the callbacks last-first, and twice each.
    emulator.control("POST", "groups/join", {"chat_id": chat_id, "member": CHEN})
    v1 = emulator.control("GET", "groups")["groups"][0]["member_version"]
    emulator.control("POST", "groups/join", {"chat_id": chat_id, "member": WANG})
    v2 = emulator.control("GET", "groups")["groups"][0]["member_version"]
    emulator.control("POST", "groups/leave", {"chat_id": chat_id, "member": CHEN})
    v3 = emulator.control("GET", "groups")["groups"][0]["member_version"]
    callbacks = [
        _update(chat_id, "del_member", [CHEN], v3, now + 3, QuitScene=0),
        _update(chat_id, "add_member", [WANG], v2, now + 2, JoinScene=3),
        _update(chat_id, "add_member", [CHEN], v1, now + 1, JoinScene=3),
    ]
    for payload in callbacks + callbacks:
        group_chat_updated(payload)

    chen_row = GroupMember.objects.get(userid=CHEN)
    wang_row = GroupMember.objects.get(userid=WANG)
    assert (chen_row.is_member, wang_row.is_member) == (False, True)
    # 陈静's join is not lost though she had already left when the first callback was handled.
    assert (_events("join", member=chen_row), _events("leave", member=chen_row)) == (1, 1)
    assert (_events("join", member=wang_row), _events("leave", member=wang_row)) == (1, 0)
    assert GroupChat.objects.get(chat_id=chat_id).member_count == 2  # 林雨 and 王磊


@pytest.mark.django_db
def test_owner_and_name_changes_are_refetched(emulator):
    people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    emulator.emulator.state.data["group_chats"][chat_id]["name"] = "静安会员福利群"

    group_chat_updated({"ChatId": chat_id, "ChangeType": "update", "UpdateDetail": "change_name"})

    assert GroupChat.objects.get(chat_id=chat_id).name == "静安会员福利群"
    assert GroupMemberEvent.objects.count() == 1  # only the owner's join when the group was first seen


@pytest.mark.django_db
def test_an_unknown_chat_id_is_not_applicable_and_records_nothing(emulator):
    people(emulator)

    with pytest.raises(EventNotApplicable):
        group_chat_updated(_update("wrNoSuchChat", "add_member", [CHEN], "v", int(time.time())))
    with pytest.raises(EventNotApplicable):
        group_chat_refresh(chat_id="")

    assert GroupChat.objects.count() == 0
    assert GroupMember.objects.count() == 0


@pytest.mark.django_db
def test_a_dismissed_group_ends_every_membership_once(emulator):
    people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群", "members": [CHEN, WANG]})[
        "group_chat"
    ]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    emulator.control("POST", "groups/dismiss", {"chat_id": chat_id})

    group_chat_dismissed({"ChatId": chat_id, "ChangeType": "dismiss", "CreateTime": str(int(time.time()))})
    group_chat_dismissed({"ChatId": chat_id, "ChangeType": "dismiss", "CreateTime": str(int(time.time()))})
    # A late update for the dismissed group: WeCom answers "no such chat", nothing changes.
    group_chat_updated({"ChatId": chat_id, "ChangeType": "update", "UpdateDetail": "change_name"})

    chat = GroupChat.objects.get(chat_id=chat_id)
    assert (chat.status, chat.member_count) == (GroupChat.Status.DISMISSED, 0)
    assert GroupMember.objects.filter(is_member=True).count() == 0
    assert _events("leave") == 3
    # A dismiss for a group never synced needs nothing.
    assert group_chat_dismissed({"ChatId": "wrNeverSeen", "ChangeType": "dismiss"}) is None


@pytest.mark.django_db
def test_a_transient_wecom_error_propagates_so_the_callback_is_retried_and_nothing_is_half_written(emulator):
    people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群", "members": [CHEN]})[
        "group_chat"
    ]["chat_id"]
    emulator.control("POST", "faults", {"busy_rate": 1.0, "only_apis": ["externalcontact/groupchat/get"]})
    with pytest.raises(WeComError) as raised:
        group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    assert raised.value.transient
    assert GroupChat.objects.count() == 0

    emulator.control("POST", "faults", {"busy_rate": 0.0, "only_apis": []})
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    assert GroupMember.objects.filter(is_member=True).count() == 2


@pytest.mark.django_db
def test_a_join_wecom_applies_late_is_taken_from_the_callback_and_a_later_look_confirms_it(
    emulator, django_capture_on_commit_callbacks
):
    _, chen, _ = people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    before = emulator.control("GET", "groups")["groups"][0]["member_version"]
    payload = _update(chat_id, "add_member", [CHEN], "v-after", int(time.time()), JoinScene=3, LastMemVer=before)

    # WeCom calls back before groupchat/get shows her.
    with django_capture_on_commit_callbacks() as later:
        group_chat_updated(payload)
    member = GroupMember.objects.get(userid=CHEN)
    assert (member.is_member, member.customer, member.wecom_join_time) == (True, chen, None)
    assert (_events("join", member=member), _events("leave", member=member)) == (1, 0)
    assert len(later) == 1  # a look again, later

    emulator.control("POST", "groups/join", {"chat_id": chat_id, "member": CHEN})
    later[0]()

    member.refresh_from_db()
    assert member.is_member and member.wecom_join_time is not None
    assert (_events("join", member=member), _events("leave", member=member)) == (1, 0)
    assert GroupChat.objects.get(chat_id=chat_id).member_count == 2


@pytest.mark.django_db
def test_a_leave_wecom_applies_late_counts_once_and_a_join_it_never_applies_ends_after_the_last_look(
    emulator, django_capture_on_commit_callbacks
):
    people(emulator)
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群", "members": [CHEN]})[
        "group_chat"
    ]["chat_id"]
    group_chat_created({"ChatId": chat_id, "ChangeType": "create"})
    before = emulator.control("GET", "groups")["groups"][0]["member_version"]

    leave = _update(chat_id, "del_member", [CHEN], "v-after", int(time.time()), QuitScene=0, LastMemVer=before)
    with django_capture_on_commit_callbacks() as later:
        group_chat_updated(leave)
    assert GroupMember.objects.get(userid=CHEN).is_member is False
    emulator.control("POST", "groups/leave", {"chat_id": chat_id, "member": CHEN})
    later[0]()
    assert (_events("leave", member__userid=CHEN), _events("join", member__userid=CHEN)) == (1, 1)

    # 王磊's join is announced but WeCom never shows it: after the last look WeCom's view stands.
    before = emulator.control("GET", "groups")["groups"][0]["member_version"]
    join = _update(chat_id, "add_member", [WANG], "v-never", int(time.time()), JoinScene=3, LastMemVer=before)
    with django_capture_on_commit_callbacks(execute=False):
        group_chat_updated(join)
    assert GroupMember.objects.get(userid=WANG).is_member is True
    group_chat_recheck(payload=join, attempt=RECHECK_ATTEMPTS)
    assert GroupMember.objects.get(userid=WANG).is_member is False
    assert (_events("join", member__userid=WANG), _events("leave", member__userid=WANG)) == (1, 1)
