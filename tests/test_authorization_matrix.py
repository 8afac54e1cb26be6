"""The authorization matrix: every route of the URL configuration × every role, against an object of store B.

The demo brand (SH01 is store A, BJ01 store B) plus one object of BJ01 for every admin model and API. Roles: no
login, an associate of A (sidebar session), the manager of A and HQ (admin, with the demo's permissions), and API
keys of A and of the channel (brand-wide), each with every scope and lacking the scope the route needs. Each
(route, role) has an expected answer in the tables below; `test_every_route_and_admin_action_has_an_entry` walks the
resolver and the admin site, so a route, an admin model, an admin action or a custom admin view added without an
entry fails.

Beyond the status, for every answer to a role that must not reach store B (no login, the associate and the
manager of A, the key of A, a key lacking the scope): nothing written (B's rows and every table's row count as
before) and none of B's marked values (names, order and request numbers, figures) in the body.

The world is built once per module; every request runs in a savepoint that is rolled back.
"""

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from appointments.links import booking_token
from appointments.models import Appointment, ClosedDate, SlotTemplate
from associates.auth import SESSION_KEY
from associates.models import Associate, Store
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient, JourneyConfig, LapsedCustomer
from clientbook.models import ContactWay, FollowRelation, FollowUpTask, Handover, HandoverItem, LostCustomer
from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, GroupMemberEvent, Invite
from coupons.links import coupon_page_token
from coupons.models import CouponOrder, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.ingestion import api_key_create
from customers.models import (
    ApiKey,
    AuditLog,
    AutoTagRule,
    Channel,
    ConsentChange,
    ContactBudget,
    ContactTouch,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    IdentityConflict,
    ImportJob,
    Order,
    OrderLine,
    Product,
    StoreStock,
    Tag,
    TagGroup,
)
from customers.services import customer_merge
from demo.brand import HQ_USERNAME
from demo.seed import demo_seed
from drafts.models import Draft
from fulfilment.models import Pickup, PickupLine
from insights.models import Attribution, AttributionConfig, DailyStats, SalesTarget
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from notices.models import Notice, NoticePreference
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from tests.factories import CouponPackFactory, CouponPackItemFactory, CouponTemplateFactory, OrderLineFactory
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator
from wecom.models import CallbackEvent, SyncPart, SyncRun

# ---------------------------------------------------------------------------------------------------------------
# Roles

ROLES = (
    "anonymous",
    "associate_a",
    "manager_a",
    "hq",
    "key_a",
    "key_channel",
    "key_a_lacking_scope",
    "key_channel_lacking_scope",
)
# The roles that reach store B: everyone else must leave it as it was and learn nothing of it.
REACH_B = {"hq", "key_channel"}
SCOPES = ("catalogue", "members", "orders", "coupons", "stock", "pickups")


def _key_scopes_set(api_key: ApiKey, scopes: list[str]) -> None:
    """Give a key exactly these scopes."""
    api_key.scopes = scopes
    api_key.save(update_fields=["scopes"])


# ---------------------------------------------------------------------------------------------------------------
# The world


@dataclass
class World:
    a: Store
    b: Store
    sessions: dict[str, str]
    keys: dict[str, str]  # role (or "<role>:<lacking scope>") → secret
    objects: dict[str, object]  # model label → the object of store B (or the brand's) the admin rows open
    markers: list[str]
    ids: dict[str, object] = field(default_factory=dict)


MARK = "北京机密"  # every marked value of store B starts with it


def _sign_in_records() -> dict[str, object]:
    """django-axes' rows of a failed admin sign-in by store B's manager."""
    seen = {
        "username": "manager_bj01",
        "ip_address": "203.0.113.7",
        "user_agent": "matrix",
        "path_info": "/admin/login/",
    }
    return {
        "axes.accessattempt": AccessAttempt.objects.create(
            **seen, http_accept="*/*", get_data="", post_data="", failures_since_start=1
        ),
        "axes.accessfailurelog": AccessFailureLog.objects.create(**seen, http_accept="*/*", locked_out=False),
        "axes.accesslog": AccessLog.objects.create(**seen, http_accept="*/*"),
    }


def _world_build() -> World:
    demo_seed(customers=40)
    a, b = Store.objects.get(code="SH01"), Store.objects.get(code="BJ01")
    User = get_user_model()
    manager_a, hq = User.objects.get(username="manager_sh01"), User.objects.get(username=HQ_USERNAME)
    associate_a = Associate.objects.filter(store=a, role=Associate.Role.ASSOCIATE).order_by("pk").first()
    associate_b = Associate.objects.filter(store=b, role=Associate.Role.ASSOCIATE).order_by("pk").first()
    other_b = Associate.objects.filter(store=b, role=Associate.Role.ASSOCIATE).order_by("pk")[1]
    associate_b.name = f"{MARK}导购"
    associate_b.save(update_fields=["name"])

    customer_b = Customer.objects.create(
        name=f"{MARK}客户", primary_store=b, primary_associate=associate_b, phone="+8613900001111"
    )
    Identity.objects.create(customer=customer_b, kind=Identity.Kind.PHONE, value="+8613900001111")
    Identity.objects.create(customer=customer_b, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmBJ01secret")
    FollowRelation.objects.create(
        associate=associate_b, customer=customer_b, external_userid="wmBJ01secret", followed_at=timezone.now()
    )
    twin_b = Customer.objects.create(name=f"{MARK}合并客户", primary_store=b)
    merge_b = customer_merge(source=twin_b, target=customer_b, actor=hq, reason=f"{MARK}合并")
    conflict_b = IdentityConflict.objects.create(
        source="pos", incoming={"phone": "+8613900002222"}, linked_to=customer_b
    )
    conflict_b.customers.add(customer_b, Customer.objects.create(name=f"{MARK}冲突客户", primary_store=b))
    audit_b = AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW, customer=customer_b)
    task_b = FollowUpTask.objects.create(
        associate=associate_b, customer=customer_b, title=f"{MARK}回访", due_on=timezone.localdate()
    )
    notice_b = Notice.objects.create(
        associate=associate_b,
        kind=Notice.Kind.NEW_CUSTOMER,
        dedupe_key=f"{MARK}:notice",
        title=f"{MARK}新客户",
        description=f"{MARK}客户 添加了你",
        url="http://testserver/workbench/",
        send_after=timezone.now(),
    )
    preference_b = NoticePreference.objects.create(associate=associate_b)

    product = Product.objects.order_by("pk").first()
    stock_b = StoreStock.objects.get(store=b, product=product)
    order_b = Order.objects.create(
        channel=Channel.STORE_POS,
        external_id=f"{MARK}-ORDER",
        store=b,
        customer=customer_b,
        placed_at=timezone.now() - dt.timedelta(days=2),
        total_amount=Decimal("1999.00"),
    )
    OrderLineFactory(order=order_b, line_no=1, product=product, unit_price=Decimal("1999.00"))
    import_job = ImportJob.objects.create(
        file_name="orders.csv", file_sha256="0" * 64, input_key="1" * 64, mapping={}, channel=Channel.STORE_POS
    )

    callback_event = CallbackEvent.objects.create(
        dedupe_key="2" * 64,
        event="change_external_contact",
        change_type="add_external_contact",
        payload={},
        status=CallbackEvent.Status.FAILED,
        error="WeCom error 84061",
    )
    sync_run = SyncRun.objects.create(kind=SyncRun.Kind.CONTACTS, status=SyncRun.Status.FAILED, error="60020")
    sync_part = SyncPart.objects.create(run=sync_run, key=associate_b.wecom_userid, status=SyncPart.Status.FAILED)

    template = CouponTemplateFactory(name="满300减50（全部门店）")
    pack_b = CouponPackFactory(name=f"{MARK}券包")
    pack_b.stores.add(b)
    CouponPackItemFactory(pack=pack_b, template=template)
    sent = coupon_pack_send(
        pack_id=pack_b.pk, customer_id=customer_b.pk, request_no=f"{MARK}-REQ", associate=associate_b
    )
    coupon_b = sent.coupons[0]
    coupon_unused_b = coupon_pack_send(
        pack_id=pack_b.pk,
        customer_id=Customer.objects.create(name=f"{MARK}持券客户", primary_store=b).pk,
        request_no=f"{MARK}-REQ2",
        associate=associate_b,
    ).coupons[0]
    key_b, _ = api_key_create(name="BJ01 POS", channel=Channel.STORE_POS, stores=[b])
    redeemed = coupon_redeem(
        code=coupon_b.code,
        order=OrderIn(store=b, channel="store", order_ref=f"{MARK}-REF", amount=Decimal("399.00"), lines=()),
        request_no=f"{MARK}-RDM",
        api_key=key_b,
    )

    chat_b = GroupChat.objects.create(chat_id="wrBJ01", name=f"{MARK}群", owner=associate_b)
    community_b = Community.objects.filter(store=b).first()
    community_b.chats.add(chat_b)
    member_b = GroupMember.objects.create(chat=chat_b, userid="wmBJ01secret", member_type=2, name=f"{MARK}群成员")
    event_b = GroupMemberEvent.objects.create(
        chat=chat_b, member=member_b, kind="join", at=timezone.now(), key=f"{MARK}-EVENT"
    )
    code_b = CommunityInviteCode.objects.create(community=community_b, associate=associate_b, state="bj01secret")
    invite_b = Invite.objects.create(
        request_id=f"{MARK}-INVITE",
        associate=associate_b,
        customer=customer_b,
        community=community_b,
        store=b,
        invite_code=code_b,
        sent_at=timezone.now(),
    )

    manager_b = User.objects.get(username="manager_bj01")
    campaign_b = Campaign.objects.create(
        name=f"{MARK}活动", text="到店有礼", send_at=timezone.now(), created_by=manager_b
    )
    campaign_b.stores.add(b)
    chunk_b = CampaignChunk.objects.create(campaign=campaign_b, associate=associate_b, index=0, size=1)
    recipient_b = CampaignRecipient.objects.create(
        campaign=campaign_b,
        customer=customer_b,
        associate=associate_b,
        chunk=chunk_b,
        status="queued",
        created_at=timezone.now(),
    )
    journey_b = JourneyConfig.objects.get_or_create(store=b)[0]

    stats_b = DailyStats.objects.create(
        day=timezone.localdate(), store=b, associate=associate_b, gmv=Decimal("8888.00")
    )
    attribution_b = Attribution.objects.create(
        order=order_b,
        associate=associate_b,
        store=b,
        amount=Decimal("1999.00"),
        placed_at=order_b.placed_at,
        touch_kind="cashier",
        rule="last_touch",
        window_days=7,
        computed_at=timezone.now(),
    )
    attribution_config = AttributionConfig.objects.get_or_create()[0]
    target_b = SalesTarget.objects.create(
        month=timezone.localdate().replace(day=1), store=b, associate=associate_b, amount=Decimal("8888.00")
    )
    handover_b = Handover.objects.create(
        from_associate=associate_b, to_associate=other_b, kind="onjob", message=f"{MARK}交接"
    )
    handover_item_b = HandoverItem.objects.create(
        handover=handover_b, customer=customer_b, external_userid="wmBJ01secret", status="failed"
    )
    contact_way_b = ContactWay.objects.create(store=b, kind="store", label=f"{MARK}门店码", state="cBJ01secret")
    outreach_b = Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=associate_b,
        store=b,
        customer=customer_b,
        product=product,
        source="manual",
        reason=f"{MARK}推荐",
    )
    suggestion_model = SuggestionModel.objects.create(status="ready")
    reply_group_b = ReplyGroup.objects.create(name=f"{MARK}话术组", store=b)
    reply_b = QuickReply.objects.create(group=reply_group_b, store=b, title=f"{MARK}话术", text="北京店专属")
    material_b = Material.objects.create(
        kind="image", title=f"{MARK}素材", store=b, content=b"\x89PNG\r\n\x1a\n0000", content_type="image/png"
    )
    sent_b = SentMessage.objects.create(
        request_id=f"{MARK}-SENT",
        associate=associate_b,
        store=b,
        customer=customer_b,
        kind="reply",
        reply=reply_b,
        title=reply_b.title,
        msgtype="text",
        message={"msgtype": "text", "text": {"content": f"{MARK}内容"}},
    )
    draft_b = Draft.objects.create(
        associate=associate_b,
        store=b,
        customer=customer_b,
        purpose="lapsed",
        drafter=Draft.Drafter.TEMPLATE,
        outcome=Draft.Outcome.REFUSED,
        text=f"{MARK}草稿",
        provider_text=f"{MARK}大模型原文",
        reason="草稿提到了客户资料之外的内容：SKU QM-ZZ99",
    )

    # Churn, consent and the contact budget (issue 25): B's lost friendship, lapsed customer, consent change, store
    # budget and 1:1 contact.
    lost_b = FollowRelation.objects.create(
        associate=associate_b,
        customer=twin_b,
        external_userid="wmBJ01lost",
        followed_at=timezone.now() - dt.timedelta(days=30),
        ended_at=timezone.now(),
        ended_reason=FollowRelation.Ended.CUSTOMER,
    )
    lapsed_b = Customer.objects.create(name=f"{MARK}沉睡客户", primary_store=b)
    Order.objects.create(
        channel=Channel.STORE_POS,
        external_id=f"{MARK}-LAPSED",
        store=b,
        customer=lapsed_b,
        placed_at=timezone.now() - dt.timedelta(days=200),
        total_amount=Decimal("8888.00"),
    )
    consent_b = ConsentChange.objects.create(
        customer=customer_b, opted_out=False, marketing_consent=True, source="admin", note=MARK, at=timezone.now()
    )
    budget_b = ContactBudget.objects.create(store=b, per_week=4)
    touch_b = ContactTouch.objects.create(
        customer=customer_b,
        associate=associate_b,
        channel="sidebar_coupon",
        key=f"{MARK}-TOUCH",
        week=timezone.localdate(),
        at=timezone.now(),
    )

    slot_template_b = SlotTemplate.objects.create(
        store=b, weekday=0, start_time=dt.time(14), end_time=dt.time(17), slot_minutes=60, capacity=2
    )
    closed_date_b = ClosedDate.objects.create(store=b, date=timezone.localdate(), reason=f"{MARK}盘点")
    appointment_b = Appointment.objects.create(
        store=b,
        customer=customer_b,
        associate=associate_b,
        template=slot_template_b,
        kind="try_on",
        starts_at=timezone.now() + dt.timedelta(days=1),
        ends_at=timezone.now() + dt.timedelta(days=1, hours=1),
        channel="sidebar",
        token="matrixappointmentb",
        request_id=f"{MARK}-APPT",
    )

    pickup_b = Pickup.objects.create(
        kind=Pickup.Kind.HOLD,
        status=Pickup.Status.HELD,
        code="BJHOLD23",
        token="bj01-secret-pickup-card-token",
        store=b,
        customer=customer_b,
        associate=associate_b,
        request_id=f"{MARK}-HOLD",
        expires_at=timezone.now() + dt.timedelta(days=2),
    )
    PickupLine.objects.create(pickup=pickup_b, product=product, quantity=1)
    StoreStock.objects.filter(pk=stock_b.pk).update(held=stock_b.held + 1)

    keys = {}
    for role, stores in (("key_a", [a]), ("key_channel", [])):
        _, keys[role] = api_key_create(name=role, channel=Channel.STORE_POS, stores=stores)
        for lacking in SCOPES:
            _, keys[f"{role}_lacking_scope:{lacking}"] = api_key_create(
                name=f"{role} without {lacking}", channel=Channel.STORE_POS, stores=stores
            )
    for api_key in ApiKey.objects.all():
        lacking = api_key.name.partition(" without ")[2]
        _key_scopes_set(api_key, [scope for scope in SCOPES if scope != lacking])

    sessions = {}
    for role, user in (("manager_a", manager_a), ("hq", hq)):
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        sessions[role] = session.session_key
    session = SessionStore()
    session[SESSION_KEY] = associate_a.pk
    session.create()
    sessions["associate_a"] = session.session_key

    tag = Tag.objects.order_by("pk").first()
    tag_group_b = TagGroup.objects.create(name=f"{MARK}标签组", store=b)
    tag_rule_b = AutoTagRule.objects.create(
        name=f"{MARK}规则",
        kind=AutoTagRule.Kind.PURCHASE,
        min_orders=1,
        tag=Tag.objects.create(name=f"{MARK}自动标签", group=tag_group_b.name, tag_group=tag_group_b),
    )
    objects = {
        "auth.group": apps.get_model("auth", "Group").objects.order_by("pk").first(),
        "auth.user": manager_b,
        "associates.store": b,
        "associates.associate": associate_b,
        "communities.groupchat": chat_b,
        "customers.customer": customer_b,
        "customers.order": order_b,
        "customers.product": product,
        "customers.storestock": stock_b,
        "customers.tag": tag,
        "customers.taggroup": tag_group_b,
        "customers.autotagrule": tag_rule_b,
        "customers.apikey": key_b,
        "customers.identityconflict": conflict_b,
        "customers.customermerge": merge_b,
        "customers.auditlog": audit_b,
        "customers.importjob": import_job,
        "wecom.callbackevent": callback_event,
        "wecom.syncrun": sync_run,
        "wecom.syncpart": sync_part,
        "coupons.coupontemplate": template,
        "coupons.couponpack": pack_b,
        "coupons.issuerequest": sent.request,
        "coupons.redemption": Redemption.objects.get(pk=redeemed.redemption.pk),
        "coupons.coupon": coupon_unused_b,
        "suggestions.complementrule": ComplementRule.objects.order_by("pk").first(),
        "suggestions.suggestionmodel": suggestion_model,
        "suggestions.outreach": outreach_b,
        "communities.community": community_b,
        "communities.groupmember": member_b,
        "communities.groupmemberevent": event_b,
        "communities.communityinvitecode": code_b,
        "communities.invite": invite_b,
        "campaigns.campaign": campaign_b,
        "campaigns.campaignrecipient": recipient_b,
        "campaigns.journeyconfig": journey_b,
        "insights.dailystats": stats_b,
        "insights.attribution": attribution_b,
        "insights.attributionconfig": attribution_config,
        "insights.salestarget": target_b,
        "clientbook.handover": handover_b,
        "clientbook.handoveritem": handover_item_b,
        "clientbook.contactway": contact_way_b,
        "library.replygroup": reply_group_b,
        "library.quickreply": reply_b,
        "library.material": material_b,
        "library.sentmessage": sent_b,
        "drafts.draft": draft_b,
        "notices.notice": notice_b,
        "notices.noticepreference": preference_b,
        "clientbook.lostcustomer": LostCustomer.objects.get(pk=lost_b.pk),
        "campaigns.lapsedcustomer": LapsedCustomer.objects.get(pk=lapsed_b.pk),
        "customers.consentchange": consent_b,
        "customers.contactbudget": budget_b,
        "customers.contacttouch": touch_b,
        "appointments.slottemplate": slot_template_b,
        "appointments.closeddate": closed_date_b,
        "appointments.appointment": appointment_b,
        "fulfilment.pickup": pickup_b,
        **_sign_in_records(),
    }
    community_b.name = f"{MARK}社群"
    community_b.save(update_fields=["name"])
    return World(
        a=a,
        b=b,
        sessions=sessions,
        keys=keys,
        objects=objects,
        markers=[MARK, b.name, "8888.00", "13900001111", "wmBJ01secret"],
        ids={
            "customer_b": customer_b.pk,
            "task_b": task_b.pk,
            "associate_a": associate_a.pk,
            "pack_b": pack_b.pk,
            "coupon_b": coupon_unused_b,
            "redeemed_b": coupon_b,
            "product": product,
            "tag": tag,
            "coupon_token_b": coupon_page_token(customer_id=coupon_unused_b.customer_id),
            "campaign_token_b": campaign_b.landing_token,
            "reply_b": reply_b.pk,
            "material_b": material_b.pk,
            "appointment_b": appointment_b.pk,
            "appointment_token_b": appointment_b.token,
            "booking_token_b": booking_token(customer_id=customer_b.pk, store_id=b.pk, associate_id=associate_b.pk),
            "pickup_b": pickup_b,
        },
    )


@pytest.fixture(scope="module")
def wecom(django_db_setup, django_db_blocker):
    """The WeCom emulator, for the views and actions that call WeCom (its callbacks to Omni are off)."""
    secret, token, aes_key = "omni-matrix-secret", "OmniMatrixToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
    running = start_emulator(
        EmulatorConfig(
            corp_id="wwomnimatrix000001",
            agent_id="1000001",
            secret=secret,
            token=token,
            encoding_aes_key=aes_key,
            callback_url="http://127.0.0.1:9/wecom/callback/",
            sidebar_url="http://testserver/sidebar/",
        )
    )
    running.control("POST", "faults", {"callbacks": "off"})
    wecom_settings = override_settings(
        WECOM_API_BASE=running.api_base,
        WECOM_CORP_ID="wwomnimatrix000001",
        WECOM_AGENT_ID="1000001",
        WECOM_SECRET=secret,
        WECOM_TOKEN=token,
        WECOM_ENCODING_AES_KEY=aes_key,
        WECOM_OAUTH_AUTHORIZE_URL=running.authorize_url,
        WECOM_RETRY_BACKOFF=0.01,
    )
    wecom_settings.enable()
    try:
        with django_db_blocker.unblock():
            cache.clear()  # no access token of another WeCom
        yield running
    finally:
        wecom_settings.disable()
        running.stop()
        with django_db_blocker.unblock():
            cache.clear()


@pytest.fixture(scope="module")
def world(wecom, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = _world_build()
            # Store B's staff are members in WeCom, for the calls that give them a code (a member's own code).
            for associate in Associate.objects.filter(store=built.b).exclude(wecom_userid=""):
                wecom.control("POST", "associates", {"userid": associate.wecom_userid, "name": associate.name})
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# ---------------------------------------------------------------------------------------------------------------
# Routes


def route_keys() -> list[str]:
    """Every route of the URL configuration: its namespaced name, or its pattern when it has none."""

    def walk(patterns, prefix: str, namespace: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                yield f"{namespace}{pattern.name}" if pattern.name else prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns, "", ""))


def admin_action_keys() -> list[str]:
    """Every admin action, as "<app>.<model>:<action>": Django's site-wide ones and each admin's own."""
    keys = []
    for model, model_admin in admin.site._registry.items():
        if model_admin.actions is None:
            continue
        names = [name for name, _ in admin.site.actions]
        names += [action if isinstance(action, str) else action.__name__ for action in model_admin.actions]
        keys += [f"{model._meta.label_lower}:{name}" for name in dict.fromkeys(names)]
    return keys


# ---------------------------------------------------------------------------------------------------------------
# Cases: one request each, with the expected answer per role


@dataclass(frozen=True)
class Expect:
    status: int | tuple[int, ...]  # a tuple: any of these
    code: str | tuple[str, ...] | None = None  # the error's stable code (the first failed row's, or the envelope's)

    def admits(self, answer: "Expect") -> bool:
        statuses = self.status if isinstance(self.status, tuple) else (self.status,)
        codes = self.code if isinstance(self.code, tuple) else (self.code,)
        return answer.status in statuses and (self.code is None or answer.code in codes)

    def __str__(self) -> str:
        return f"{self.status}{f' {self.code}' if self.code else ''}"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    data: dict | None = None
    json: bool = False


@dataclass
class Case:
    key: str  # the route it covers, or "<app>.<model>:<action>"
    label: str
    request: object  # World → Request
    expect: dict[str, Expect]
    pending: dict[str, Expect] = field(default_factory=dict)  # API keys' scope and store refusals
    reach_b: frozenset[str] = frozenset(REACH_B)  # roles allowed to read store B's data through it
    scope: str | None = None  # the API key scope the route needs
    model: str | None = None  # for admin views: the model whose changelist must not list B's row
    hq_sees: str | None = None  # what HQ's answer shows of B (so that the others not showing it means something)


def _expect(value) -> Expect:
    return value if isinstance(value, Expect) else Expect(*value) if isinstance(value, tuple) else Expect(value)


def _admin_url(world: World, label: str, view: str) -> str:
    app, model = label.split(".")
    obj = world.objects[label]
    return f"/admin/{app}/{model}/{'' if view == 'changelist' else 'add/' if view == 'add' else f'{obj.pk}/{view}/'}"


NON_ADMIN_ROLES = tuple(role for role in ROLES if role not in ("manager_a", "hq"))
KEY_ROLES = ("key_a", "key_channel", "key_a_lacking_scope", "key_channel_lacking_scope")
ADMIN_VIEWS = ("changelist", "add", "change", "history", "delete")


def _admin_roles(manager, hq) -> dict[str, Expect]:
    """Admin answers the manager and HQ; everyone else (no staff login) is sent to the login page."""
    return {**{role: Expect(302) for role in NON_ADMIN_ROLES}, "manager_a": _expect(manager), "hq": _expect(hq)}


def cases() -> list[Case]:
    found = []
    for label, (manager, hq) in ADMIN_MODELS.items():
        for view, manager_status, hq_status in zip(ADMIN_VIEWS, manager, hq, strict=True):
            method, data = ("POST", {"post": "yes"}) if view == "delete" else ("GET", None)
            found.append(
                Case(
                    key=f"admin:{label.replace('.', '_')}_{view}",
                    label=f"{label} {view}",
                    request=lambda w, label=label, view=view, method=method, data=data: Request(
                        method, _admin_url(w, label, view), data
                    ),
                    expect=_admin_roles(manager_status, hq_status),
                    model=label,
                )
            )
        app, model = label.split(".")
        found.append(
            Case(
                key=f"admin/{app}/{model}/<path:object_id>/",
                label=f"{label} object (redirects to change)",
                request=lambda w, label=label: Request("GET", _admin_url(w, label, "change").removesuffix("change/")),
                expect=_admin_roles(302, 302),
            )
        )
    for key, (manager, hq) in ADMIN_ACTIONS.items():
        label, _, action = key.partition(":")
        found.append(
            Case(
                key=key,
                label=f"{label} action {action}",
                request=lambda w, label=label, action=action: Request(
                    "POST",
                    _admin_url(w, label, "changelist"),
                    {"action": action, "index": "0", "_selected_action": [w.objects[label].pk], "post": "yes"},
                ),
                expect=_admin_roles(manager, hq),
                model=label,
            )
        )
    for (label, field_name), (manager, hq, term) in ADMIN_AUTOCOMPLETE.items():
        app, model = label.split(".")
        found.append(
            Case(
                key="admin:autocomplete",
                label=f"autocomplete {label}.{field_name}",
                request=lambda w, app=app, model=model, field_name=field_name, term=term: Request(
                    "GET",
                    "/admin/autocomplete/",
                    {"app_label": app, "model_name": model, "field_name": field_name, "term": term},
                ),
                expect=_admin_roles(manager, hq),
                hq_sees=term if term in (MARK, "北京") else None,
            )
        )
    for key, (label, build, manager, hq, *others) in ADMIN_SITE.items():
        expect = {**_admin_roles(manager, hq), **{role: _expect(others[0]) for role in NON_ADMIN_ROLES if others}}
        found.append(Case(key=key.partition(" ")[0], label=label, request=build, expect=expect))
    for key, (label, build, expect, scope, reach_b) in OTHER_ROUTES.items():
        expect = {role: _expect(value) for role, value in expect.items()}
        pending = {}
        if scope is not None:
            # The channel's key holds store B, so only the scope is missing; store A's key lacks both, and either
            # refusal may come first.
            pending["key_channel_lacking_scope"] = Expect(403, "scope_missing")
            pending["key_a_lacking_scope"] = Expect(403, ("scope_missing", "store_not_allowed"))
        for role, value in PENDING.get(key, {}).items():
            pending[role] = _expect(value)
        found.append(
            Case(
                key=key.partition(" ")[0],
                label=label,
                request=build,
                expect={role: value for role, value in expect.items() if role not in pending},
                pending=pending,
                reach_b=frozenset(reach_b),
                scope=scope,
            )
        )
    return found


# ---------------------------------------------------------------------------------------------------------------
# The tables

# Per admin model, the answers of the manager of A and of HQ, for: the changelist, the add form, and B's row's change
# page, history and deletion (POST, confirmed). 404: B's row is outside the manager's stores (as for a row that does
# not exist); 403: no permission (the demo gives none on users, groups, API keys and import jobs, which the brand's
# admins run, and merges are HQ's).
ADMIN_MODELS = {
    "auth.group": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "auth.user": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "associates.store": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "associates.associate": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.customer": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.order": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.product": ((200, 403, 200, 200, 403), (200, 403, 200, 200, 403)),
    "customers.storestock": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.tag": ((200, 200, 200, 200, 403), (200, 200, 200, 200, 302)),
    # Corp tag groups and auto-tag rules: HQ writes them; a manager reads the brand's and her stores' (B's: 404).
    "customers.taggroup": ((200, 403, 404, 404, 404), (200, 200, 200, 200, 302)),
    "customers.autotagrule": ((200, 403, 404, 404, 404), (200, 200, 200, 200, 302)),
    "customers.apikey": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "customers.identityconflict": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.customermerge": ((403, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.auditlog": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.importjob": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "wecom.callbackevent": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "wecom.syncrun": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "wecom.syncpart": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "coupons.coupontemplate": ((200, 403, 200, 200, 403), (200, 200, 200, 200, 403)),
    "coupons.couponpack": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    "coupons.issuerequest": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "coupons.redemption": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "coupons.coupon": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "suggestions.complementrule": ((200, 403, 200, 200, 403), (200, 200, 200, 200, 302)),
    "suggestions.suggestionmodel": ((200, 403, 200, 200, 403), (200, 403, 200, 200, 403)),
    "suggestions.outreach": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "communities.community": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    "communities.groupchat": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "communities.groupmember": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "communities.groupmemberevent": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "communities.communityinvitecode": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "communities.invite": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "campaigns.campaign": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    "campaigns.campaignrecipient": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "campaigns.journeyconfig": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "insights.dailystats": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "insights.attribution": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "insights.attributionconfig": ((200, 403, 200, 200, 403), (200, 403, 200, 200, 403)),
    "insights.salestarget": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 302)),
    "clientbook.handover": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    "clientbook.handoveritem": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    # Channel and store codes: managers make their stores' codes; a code is deleted by its action (WeCom too).
    "clientbook.contactway": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    # Quick replies and materials: managers write their stores' (HQ's are read-only to them), HQ every store's.
    "library.replygroup": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 302)),
    "library.quickreply": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 302)),
    "library.material": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 302)),
    "library.sentmessage": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    # Drafts: HQ reads them (what the model wrote, what the checker refused); managers have no permission on them.
    "drafts.draft": ((403, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "notices.notice": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "notices.noticepreference": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    # Churn and consent (issue 25): lists and ledgers to read; the contact budget's store rows a manager writes.
    "clientbook.lostcustomer": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "campaigns.lapsedcustomer": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.consentchange": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.contacttouch": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    "customers.contactbudget": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    # Appointments: a manager keeps her store's slot templates and closed dates; appointments are read-only, and a
    # template is never deleted (its appointments point at it), only switched off.
    "appointments.slottemplate": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 403)),
    "appointments.closeddate": ((200, 200, 404, 404, 404), (200, 200, 200, 200, 302)),
    "appointments.appointment": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    # Holds and pickups: read-only (placed in the sidebar, closed by the POS), a manager's stores only.
    "fulfilment.pickup": ((200, 403, 404, 404, 404), (200, 403, 200, 200, 403)),
    # django-axes' admin sign-in records: superusers only (omni.admin.SuperusersOnlyAdmin), whatever permissions.
    "axes.accessattempt": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "axes.accessfailurelog": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
    "axes.accesslog": ((403, 403, 403, 403, 403), (403, 403, 403, 403, 403)),
}
# Per admin action, posted on B's row (confirmed), the answers of the manager of A and of HQ. 302: the action ran,
# for the manager on nothing (Django selects through the scoped queryset; the checks below see B's rows unchanged);
# 200: the action is not offered to this user, the list is shown again; 403: no view permission.
ADMIN_ACTIONS = {
    "auth.group:delete_selected": (403, 403),
    "auth.user:delete_selected": (403, 403),
    "associates.store:delete_selected": (200, 200),
    "associates.associate:delete_selected": (200, 200),
    "customers.customer:delete_selected": (200, 200),
    "customers.order:delete_selected": (200, 200),
    "customers.product:delete_selected": (200, 200),
    "customers.storestock:delete_selected": (200, 200),
    "customers.tag:delete_selected": (200, 302),
    "customers.taggroup:delete_selected": (200, 302),
    "customers.autotagrule:delete_selected": (200, 302),
    "customers.autotagrule:run_now": (200, 302),
    "customers.apikey:delete_selected": (403, 403),
    # Not offered without the delete permission: Django refuses the unknown action and redirects to the list.
    "customers.identityconflict:delete_selected": (302, 302),
    "customers.identityconflict:merge_into_linked": (302, 302),
    "customers.identityconflict:dismiss": (302, 302),
    "customers.customermerge:delete_selected": (403, 302),
    "customers.customermerge:undo": (403, 302),
    "customers.auditlog:delete_selected": (200, 200),
    "customers.importjob:delete_selected": (403, 403),
    "wecom.callbackevent:delete_selected": (403, 403),
    "wecom.callbackevent:process_again": (403, 403),
    "wecom.syncrun:delete_selected": (403, 403),
    "wecom.syncrun:resume": (403, 403),
    "wecom.syncpart:delete_selected": (403, 403),
    "coupons.coupontemplate:delete_selected": (200, 302),
    "coupons.coupontemplate:start": (200, 302),
    "coupons.coupontemplate:pause": (200, 302),
    "coupons.coupontemplate:resume": (200, 302),
    "coupons.coupontemplate:stop": (200, 302),
    "coupons.couponpack:delete_selected": (302, 302),
    "coupons.couponpack:pause": (302, 302),
    "coupons.couponpack:resume": (302, 302),
    "coupons.couponpack:stop": (302, 302),
    "coupons.issuerequest:delete_selected": (302, 302),
    "coupons.issuerequest:export_selected": (200, 200),
    "coupons.redemption:delete_selected": (302, 302),
    "coupons.redemption:export_selected": (200, 200),
    "coupons.coupon:delete_selected": (302, 302),
    "coupons.coupon:revoke": (302, 302),
    "suggestions.complementrule:delete_selected": (200, 302),
    "suggestions.suggestionmodel:delete_selected": (200, 200),
    "suggestions.outreach:delete_selected": (200, 200),
    "communities.community:delete_selected": (200, 200),
    "communities.groupchat:delete_selected": (200, 200),
    "communities.groupmember:delete_selected": (200, 200),
    "communities.groupmemberevent:delete_selected": (200, 200),
    "communities.communityinvitecode:delete_selected": (200, 200),
    "communities.invite:delete_selected": (200, 200),
    "campaigns.campaign:delete_selected": (302, 302),
    "campaigns.campaign:submit": (302, 302),
    "campaigns.campaign:approve": (302, 302),
    "campaigns.campaign:reject": (302, 302),
    "campaigns.campaign:cancel": (302, 302),
    "campaigns.campaign:retry_failed": (302, 302),
    "campaigns.campaignrecipient:delete_selected": (200, 200),
    "campaigns.journeyconfig:delete_selected": (200, 200),
    "insights.dailystats:delete_selected": (200, 200),
    "insights.attribution:delete_selected": (200, 200),
    "insights.attributionconfig:delete_selected": (200, 200),
    "insights.salestarget:delete_selected": (302, 302),
    "appointments.slottemplate:delete_selected": (200, 200),
    "appointments.closeddate:delete_selected": (302, 302),
    "appointments.appointment:delete_selected": (200, 200),
    "clientbook.handover:delete_selected": (302, 302),
    "clientbook.handover:sync_results": (302, 302),
    "clientbook.handover:retry_failed": (302, 302),
    "clientbook.handoveritem:delete_selected": (302, 302),
    "library.replygroup:delete_selected": (302, 302),
    "library.quickreply:delete_selected": (302, 302),
    "library.material:delete_selected": (302, 302),
    "library.sentmessage:delete_selected": (200, 200),
    "clientbook.handoveritem:retry": (302, 302),
    "clientbook.lostcustomer:delete_selected": (200, 200),
    "campaigns.lapsedcustomer:delete_selected": (200, 200),
    "customers.consentchange:delete_selected": (200, 200),
    "customers.contacttouch:delete_selected": (200, 200),
    "customers.contactbudget:delete_selected": (200, 200),
    "clientbook.contactway:delete_codes": (302, 302),
    # Codes are deleted in WeCom first (delete_codes); the site-wide bulk delete is withdrawn.
    "clientbook.contactway:delete_selected": (302, 302),
    "axes.accessattempt:delete_selected": (403, 403),
    "axes.accessattempt:cleanup_expired_attempts": (403, 403),
    "axes.accessfailurelog:delete_selected": (403, 403),
    "axes.accesslog:delete_selected": (403, 403),
}  # Rows that belong to no store: every admin user with the model's permission sees the same ones.
BRAND_WIDE = {
    "auth.group",
    "auth.user",
    "customers.product",
    "customers.tag",
    "customers.importjob",
    "wecom.callbackevent",
    "wecom.syncrun",
    "wecom.syncpart",
    "coupons.coupontemplate",
    "suggestions.complementrule",
    "suggestions.suggestionmodel",
    "insights.attributionconfig",
    "axes.accessattempt",
    "axes.accessfailurelog",
    "axes.accesslog",
}

# (model, foreign key) → (manager of A, HQ, search term): the search runs in the related model's admin queryset.
ADMIN_AUTOCOMPLETE = {
    ("customers.order", "customer"): (200, 200, MARK),
    ("associates.associate", "store"): (200, 200, "北京"),
    ("coupons.issuerequest", "associate"): (200, 200, MARK),
    ("campaigns.campaign", "coupon_pack"): (200, 200, MARK),
    ("communities.groupmember", "chat"): (200, 200, MARK),
    ("communities.invite", "community"): (200, 200, MARK),
    ("customers.storestock", "product"): (200, 200, "QM"),
    ("coupons.coupontemplate", "gift_product"): (200, 200, "QM"),
    ("coupons.coupontemplate", "products"): (200, 200, "QM"),
    ("customers.customertag", "tag"): (200, 200, ""),
}


def _get(path: str, data: dict | None = None):
    return lambda w: Request("GET", path, data)


def _ct(label: str) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(apps.get_model(label)).pk


# route → (what, request, manager of A, HQ[, everyone else: 302 to the login page]); a second case of a route adds
# " <variant>" to its key. The add forms posted with store B's store or associates: 200 for the manager is the form
# shown again with the choice refused (and nothing written, as checked for every case); 302 for HQ, saved.
ADMIN_SITE = {
    "admin:index": ("admin index", _get("/admin/"), 200, 200),
    "admin:login": ("admin login page", _get("/admin/login/"), 302, 302, 200),
    "admin:logout": ("admin logout", lambda w: Request("POST", "/admin/logout/"), 200, 200),
    "admin:password_change": ("own password change", _get("/admin/password_change/"), 200, 200),
    "admin:password_change_done": ("own password changed", _get("/admin/password_change/done/"), 200, 200),
    "admin:jsi18n": ("admin translations", _get("/admin/jsi18n/"), 200, 200),
    "admin:view_on_site": (
        "view on site of B's customer",
        lambda w: Request("GET", f"/admin/r/{_ct('customers.customer')}/{w.ids['customer_b']}/"),
        404,
        404,
    ),
    "admin:auth_user_password_change": (
        "set B's manager's password",
        lambda w: Request("GET", f"/admin/auth/user/{w.objects['auth.user'].pk}/password/"),
        403,
        403,
    ),
    "admin:coupons_couponpack_add store-b": (
        "add a pack for store B",
        lambda w: Request(
            "POST",
            "/admin/coupons/couponpack/add/",
            {
                "name": "矩阵券包",
                "status": "running",
                "budget": "100.00",
                "stores": [w.b.pk],
                "sender_role": "any",
                "daily_quota": "5",
                "items-TOTAL_FORMS": "0",
                "items-INITIAL_FORMS": "0",
            },
        ),
        200,
        302,
    ),
    "admin:communities_community_add store-b": (
        "add a community for store B",
        lambda w: Request(
            "POST",
            "/admin/communities/community/add/",
            {"store": w.b.pk, "name": "矩阵社群", "brand_color": "#07C160", "copy_line": "扫码进群", "is_active": "on"},
        ),
        200,
        302,
    ),
    "admin:clientbook_handover_add store-b": (
        "hand over store B's associate's customers",
        lambda w: Request(
            "POST",
            "/admin/clientbook/handover/add/",
            {
                "from_associate": w.objects["clientbook.handover"].from_associate_id,
                "to_associate": w.objects["clientbook.handover"].to_associate_id,
                "scope": "all",
            },
        ),
        200,
        302,
    ),
    "admin:app_list": ("app index", _get("/admin/insights/"), 200, 200),
    "admin/(?P<url>.*)$": ("admin catch-all", _get("/admin/no-such-page/"), 404, 404),
    "admin:coupons_issuerequest_export": (
        "issue ledger CSV",
        _get("/admin/coupons/issuerequest/export/"),
        200,
        200,
    ),
    "admin:coupons_redemption_export": ("redemption ledger CSV", _get("/admin/coupons/redemption/export/"), 200, 200),
    "admin:campaigns_campaign_export": (
        "B's campaign recipients CSV",
        lambda w: Request("GET", f"/admin/campaigns/campaign/{w.objects['campaigns.campaign'].pk}/export/"),
        404,
        200,
    ),
    # Superusers only: it shows how the corp's WeCom is set up and calls WeCom with the app's secret.
    "wecom-check": ("WeCom connection check", _get("/admin/wecom/check/"), 403, 403),
    "admin:suggestions_suggestionmodel_rebuild": (
        "rebuild the suggestion model",
        lambda w: Request("POST", "/admin/suggestions/suggestionmodel/rebuild/"),
        403,
        302,
    ),
    "admin:insights_salestarget_template": (
        "targets CSV template",
        _get("/admin/insights/salestarget/template.csv"),
        200,
        200,
    ),
    "admin:insights_salestarget_import": (
        "targets CSV import form",
        _get("/admin/insights/salestarget/import/"),
        200,
        200,
    ),
    "admin:insights_salestarget_import store-b": (
        "targets CSV naming store B's associate: refused whole for the manager, saved for HQ",
        lambda w: Request(
            "POST",
            "/admin/insights/salestarget/import/",
            {
                "file": SimpleUploadedFile(
                    "targets.csv",
                    f"month,store,associate,amount\n{timezone.localdate():%Y-%m},BJ01,"
                    f"{w.objects['associates.associate'].wecom_userid},1\n".encode(),
                )
            },
        ),
        400,
        302,
    ),
    "admin:clientbook_contactway_stats": (
        "a code's figures (store B's)",
        lambda w: Request("GET", f"/admin/clientbook/contactway/{w.objects['clientbook.contactway'].pk}/stats/"),
        404,
        200,
    ),
    "admin:clientbook_contactway_poster": (
        "a code's poster (store B's, not yet in WeCom: none)",
        lambda w: Request("GET", f"/admin/clientbook/contactway/{w.objects['clientbook.contactway'].pk}/poster.png"),
        404,
        404,
    ),
    "admin:insights_dailystats_changelist csv": (
        "dashboard CSV asking for store B",
        lambda w: Request("GET", "/admin/insights/dailystats/", {"format": "csv", "store": w.b.pk}),
        200,
        200,
    ),
}

SIDEBAR = "/api/v1/sidebar"


def _sidebar(method: str, tail: str, data: dict | None = None):
    return lambda w: Request(
        method, f"{SIDEBAR}/{tail.format(c=w.ids['customer_b'], t=w.ids['task_b'], p=w.ids['pack_b'])}", data, True
    )


def _api(path: str, body):
    return lambda w: Request("POST", path, body(w), True)


def _roles(default, **given) -> dict:
    return {role: given.get(role, default) for role in ROLES}


SIGNED_OUT = (401, "not_authenticated")


def _sidebar_roles(associate) -> dict:
    """The sidebar's APIs answer only an associate's WeCom session; a staff login or an API key is not one."""
    return _roles(SIGNED_OUT, associate_a=associate)


def _key_roles(key_a, key_channel) -> dict:
    """The POS and mall APIs answer only API keys (the lacking-scope keys' refusals are added per case)."""
    return _roles(
        SIGNED_OUT,
        key_a=key_a,
        key_a_lacking_scope=key_a,
        key_channel=key_channel,
        key_channel_lacking_scope=key_channel,
    )


def _page_roles(associate) -> dict:
    """The associate's pages send anyone else to WeCom sign-in."""
    return _roles(302, associate_a=associate)


ALL = set(ROLES)
# route → (what, request, expected per role, API key scope, roles that may read B's data through it)
OTHER_ROUTES = {
    "sidebar-customer": (
        "B's customer profile",
        _sidebar("GET", "customers/{c}/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-orders": (
        "B's customer orders",
        _sidebar("GET", "customers/{c}/orders/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-returnable": (
        "B's customer's orders left to return",
        _sidebar("GET", "customers/{c}/returnable/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-notes": (
        "note on B's customer",
        _sidebar("POST", "customers/{c}/notes/", {"text": "备注"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-tags": (
        "tag B's customer",
        _sidebar("POST", "customers/{c}/tags/", {"name": "高潜"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-tag-picker": (
        "tag picker of B's customer",
        _sidebar("GET", "customers/{c}/tag-picker/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-tasks": (
        "task for B's customer",
        _sidebar("POST", "customers/{c}/tasks/", {"title": "回访", "due_on": "2026-12-31"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-link": (
        "link B's customer by phone",
        _sidebar("POST", "customers/{c}/link/", {"phone": "13900003333"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-task-done": (
        "close B's task",
        _sidebar("POST", "tasks/{t}/done/"),
        _sidebar_roles((404, "task_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-task": (
        "B's task",
        _sidebar("GET", "tasks/{t}/"),
        _sidebar_roles((404, "task_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-notice-preference": (
        "my own notice settings",
        _sidebar("GET", "notices/preference/"),
        _sidebar_roles(200),
        None,
        REACH_B,
    ),
    "sidebar-task-snooze": (
        "snooze B's task",
        _sidebar("POST", "tasks/{t}/snooze/", {"until": "2099-01-01"}),
        _sidebar_roles((404, "task_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-task-reassign": (
        "reassign B's task to an associate of A",
        lambda w: Request(
            "POST", f"{SIDEBAR}/tasks/{w.ids['task_b']}/reassign/", {"associate_id": w.ids["associate_a"]}, True
        ),
        _sidebar_roles((404, "task_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-suggestions": (
        "suggestions for B's customer",
        _sidebar("GET", "customers/{c}/suggestions/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-outreach": (
        "send a product to B's customer",
        lambda w: Request(
            "POST",
            f"{SIDEBAR}/customers/{w.ids['customer_b']}/outreach/",
            {"sku": w.ids["product"].sku, "source": "manual", "request_id": str(uuid.uuid4())},
            True,
        ),
        _sidebar_roles((404, "customer_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-addons": (
        "add-ons of a brand SKU",
        lambda w: Request("GET", f"{SIDEBAR}/addons/", {"sku": w.ids["product"].sku}),
        _sidebar_roles(200),
        None,
        REACH_B,
    ),
    "sidebar-products": (
        "search the brand's catalogue: stock here, other stores only as counts",
        lambda w: Request("GET", f"{SIDEBAR}/products/", {"q": w.ids["product"].sku, "in_stock": "false"}),
        _sidebar_roles(200),
        None,
        REACH_B,
    ),
    "sidebar-customer-coupons": (
        "B's customer coupons",
        _sidebar("GET", "customers/{c}/coupons/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-coupon-pack-send": (
        "send B's pack to B's customer",
        _sidebar("POST", "customers/{c}/coupon-packs/{p}/send/", {"request_no": "matrix-send"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-community": (
        "B's customer community",
        _sidebar("GET", "customers/{c}/community/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-timeline": (
        "B's customer timeline",
        _sidebar("GET", "customers/{c}/timeline/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-community-invite": (
        "invite B's customer",
        _sidebar("POST", "customers/{c}/community/invite/", {"request_id": "matrix-invite"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-replies": (
        "quick replies for B's customer",
        _sidebar("GET", "customers/{c}/replies/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-reply-send": (
        "send B's reply to B's customer",
        lambda w: Request(
            "POST",
            f"{SIDEBAR}/customers/{w.ids['customer_b']}/replies/{w.ids['reply_b']}/send/",
            {"request_id": "matrix-reply"},
            True,
        ),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-replies": (
        "write an own reply (refused: unknown variable)",
        _sidebar("POST", "replies/", {"title": "问候", "text": "{会员生日}快乐"}),
        _sidebar_roles((400, "reply_variable_unknown")),
        None,
        REACH_B,
    ),
    "sidebar-reply": (
        "edit B's store reply",
        lambda w: Request("PUT", f"{SIDEBAR}/replies/{w.ids['reply_b']}/", {"title": "改", "text": "改"}, True),
        _sidebar_roles((404, "reply_not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-materials": (
        "materials for B's customer",
        _sidebar("GET", "customers/{c}/materials/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-material-send": (
        "send B's material to B's customer",
        lambda w: Request(
            "POST",
            f"{SIDEBAR}/customers/{w.ids['customer_b']}/materials/{w.ids['material_b']}/send/",
            {"request_id": "matrix-material"},
            True,
        ),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-material-content": (
        "B's image material",
        lambda w: Request("GET", f"{SIDEBAR}/materials/{w.ids['material_b']}/content/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "coupon-validate": (
        "validate B's coupon at BJ01",
        _api(
            "/api/v1/coupons/validate/", lambda w: {"code": w.ids["coupon_b"].code, "store": "BJ01", "amount": "399.00"}
        ),
        _key_roles((403, "store_not_allowed"), 200),
        "coupons",
        REACH_B,
    ),
    "coupon-redeem": (
        "redeem B's coupon at BJ01",
        _api(
            "/api/v1/coupons/redeem/",
            lambda w: {
                "code": w.ids["coupon_b"].code,
                "store": "BJ01",
                "amount": "399.00",
                "order_ref": "MATRIX-1",
                "request_no": "MATRIX-R1",
            },
        ),
        _key_roles((403, "store_not_allowed"), 201),
        "coupons",
        REACH_B,
    ),
    "coupon-return": (
        "return B's redemption, from the key's own store",
        _api(
            "/api/v1/coupons/return/",
            lambda w: {
                "code": w.ids["redeemed_b"].code,
                "store": "SH01",
                "order_ref": f"{MARK}-REF",
                "request_no": "MATRIX-RET1",
            },
        ),
        _key_roles((403, "store_not_allowed"), 201),
        "coupons",
        REACH_B,
    ),
    "members-batch": (
        "a member of BJ01",
        _api(
            "/api/v1/members/batch",
            lambda w: {"members": [{"external_id": "MATRIX-M1", "name": "新会员", "store": "BJ01"}]},
        ),
        _key_roles((400, "store_not_allowed"), 200),
        "members",
        REACH_B,
    ),
    "products-batch": (
        "a brand SKU repriced, with BJ01 stock",
        _api(
            "/api/v1/products/batch",
            lambda w: {
                "products": [
                    {
                        "sku": w.ids["product"].sku,
                        "name": w.ids["product"].name,
                        "price": "0.01",
                        "is_active": False,
                        "stock": [{"store": "BJ01", "quantity": 0}],
                    }
                ]
            },
        ),
        # Refused for BJ01's stock row today; with scopes, a store's key may be refused the brand-wide row as a whole.
        _key_roles(Expect((400, 403), ("store_not_allowed", "scope_missing")), 200),
        "catalogue",
        REACH_B,
    ),
    "products-batch brand": (
        "a brand SKU repriced and switched off (brand-wide, no store)",
        _api(
            "/api/v1/products/batch",
            lambda w: {
                "products": [
                    {"sku": w.ids["product"].sku, "name": w.ids["product"].name, "price": "0.01", "is_active": False}
                ]
            },
        ),
        _key_roles(200, 200),
        "catalogue",
        REACH_B,
    ),
    "stock-batch": (
        "BJ01's stock of a brand SKU",
        _api(
            "/api/v1/stock/batch",
            lambda w: {"stock": [{"sku": w.ids["product"].sku, "store": "BJ01", "quantity": 0}]},
        ),
        _key_roles((400, "store_not_allowed"), 200),
        "stock",
        REACH_B,
    ),
    "orders-batch": (
        "an order at BJ01",
        _api(
            "/api/v1/orders/batch",
            lambda w: {
                "orders": [
                    {
                        "external_id": "MATRIX-O1",
                        "placed_at": "2026-05-01T12:00:00+08:00",
                        "store": "BJ01",
                        "lines": [{"sku": w.ids["product"].sku, "quantity": 1, "unit_price": "199.00"}],
                    }
                ]
            },
        ),
        _key_roles((400, "store_not_allowed"), 200),
        "orders",
        REACH_B,
    ),
    "order-returns": (
        "B's order taken back at BJ01",
        _api(
            "/api/v1/orders/returns",
            lambda w: {
                "request_no": "MATRIX-R1",
                "order_no": f"{MARK}-ORDER",
                "order_channel": "store_pos",
                "store": "BJ01",
                "refund_amount": "1999.00",
                "lines": [{"line_no": 1, "quantity": 1}],
            },
        ),
        _key_roles((403, "store_not_allowed"), 201),
        "orders",
        REACH_B,
    ),
    # Returns anywhere: any store's till finds any order by its number to take it back (lines and amounts only).
    "order-lookup": (
        "B's order by its number",
        _get("/api/v1/orders/lookup", {"order_no": f"{MARK}-ORDER"}),
        _key_roles(200, 200),
        "orders",
        REACH_B | {"key_a"},
    ),
    # BOPIS ready (fulfilment.bopis_apis): the store is checked against the key before the order is looked up.
    "pickup-ready": (
        "a BOPIS order ready at BJ01",
        _api(
            "/api/v1/pickups/ready",
            lambda w: {"store_code": "BJ01", "external_id": "MATRIX-BOPIS", "request_id": "MATRIX-READY"},
        ),
        _key_roles((403, "store_not_allowed"), (404, "unknown_order")),
        "orders",
        REACH_B,
    ),
    "wecom-callback": ("WeCom callback, unsigned", _get("/wecom/callback/"), _roles(403), None, REACH_B),
    "wecom-oauth-start": ("WeCom sign-in start", _get("/wecom/oauth/start/"), _roles(302), None, REACH_B),
    "wecom-oauth-callback": (
        "WeCom sign-in callback, no code",
        _get("/wecom/oauth/callback/"),
        _roles(400),
        None,
        REACH_B,
    ),
    "wecom-jssdk-config": (
        "JS-SDK signature",
        _get("/wecom/jssdk/config/", {"url": "http://testserver/sidebar/"}),
        _page_roles(200),
        None,
        REACH_B,
    ),
    "sidebar": ("sidebar page", _get("/sidebar/"), _page_roles(200), None, REACH_B),
    "sidebar-contact": (
        "B's contact by external_userid",
        _get("/sidebar/contact/", {"external_userid": "wmBJ01secret"}),
        _page_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-first-screen": (
        "B's contact's first screen by external_userid",
        lambda w: Request("GET", f"{SIDEBAR}/first-screen/", {"external_userid": "wmBJ01secret"}, True),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-drafts": (
        "B's contact's drafts by external_userid",
        lambda w: Request("GET", f"{SIDEBAR}/drafts/", {"external_userid": "wmBJ01secret"}, True),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "workbench": ("workbench page", _get("/workbench/"), _page_roles(200), None, REACH_B),
    "workbench-month": ("my month page", _get("/workbench/month/"), _page_roles(200), None, REACH_B),
    "workbench-month-associate": (
        "B's associate's month",
        lambda w: Request("GET", f"/workbench/month/{w.objects['associates.associate'].pk}/"),
        _page_roles(404),
        None,
        REACH_B,
    ),
    "workbench-tasks": ("today's tasks page", _get("/workbench/tasks/"), _page_roles(200), None, REACH_B),
    "workbench-task": (
        "B's task page",
        lambda w: Request("GET", f"/workbench/tasks/{w.ids['task_b']}/"),
        _page_roles(404),
        None,
        REACH_B,
    ),
    # Store A's associate is no manager: the store page is a 404 for them.
    "workbench-store": ("store manager's month page", _get("/workbench/store/"), _page_roles(404), None, REACH_B),
    "admin-wecom-login": ("admin WeCom sign-in start", _get("/wecom/admin-login/"), _roles(302), None, REACH_B),
    "admin-wecom-login-callback": (
        "admin WeCom sign-in callback, no state",
        _get("/wecom/admin-login/callback/", {"code": "x"}),
        _roles(400),
        None,
        REACH_B,
    ),
    "workbench-customer": (
        "B's customer page",
        lambda w: Request("GET", f"/workbench/customers/{w.ids['customer_b']}/"),
        _page_roles(404),
        None,
        REACH_B,
    ),
    "workbench-community-invite": (
        "workbench invite of B's customer",
        lambda w: Request(
            "POST", "/workbench/community/invite/", {"customer_id": w.ids["customer_b"], "request_id": "m"}
        ),
        _page_roles(302),
        None,
        REACH_B,
    ),
    "product-page": (
        "product page, with the stores that have it",
        lambda w: Request("GET", f"/p/{w.ids['product'].sku}/"),
        _roles(200),
        None,
        ALL,
    ),
    "coupon-page": (
        "B's customer coupon page by its signed link",
        lambda w: Request("GET", f"/c/{w.ids['coupon_token_b']}/"),
        _roles(200),
        None,
        ALL,
    ),
    "coupon-unsubscribe": (
        "B's customer's 不再接收 page by its signed link (asks; the POST opts out)",
        lambda w: Request("GET", f"/c/{w.ids['coupon_token_b']}/unsubscribe/"),
        _roles(200),
        None,
        ALL,
    ),
    "sidebar-customer-contact-budget": (
        "B's customer's contact budget",
        _sidebar("GET", "customers/{c}/contact-budget/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-contact-budget-override": (
        "an exception to B's customer's contact budget",
        _sidebar("POST", "customers/{c}/contact-budget/override/", {"reason": "矩阵"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-opt-out": (
        "opt B's customer out",
        _sidebar("POST", "customers/{c}/opt-out/", {"note": "矩阵"}),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "consent": (
        "opt B's customer out by the brand's API",
        _api(
            "/api/v1/consent", lambda w: {"identity": {"kind": "phone", "value": "+8613900001111"}, "opted_out": True}
        ),
        _key_roles((403, "store_not_allowed"), 200),
        "members",
        REACH_B,
    ),
    "member-code": (
        "B's customer's own code (BJ01's store code) by the brand's API",
        _api("/api/v1/members/code", lambda w: {"identity": {"kind": "phone", "value": "+8613900001111"}}),
        _key_roles((403, "store_not_allowed"), 200),
        "members",
        REACH_B,
    ),
    "coupon-image": (
        "B's coupon card by its signed link",
        lambda w: Request("GET", f"/c/{w.ids['coupon_token_b']}/{w.ids['coupon_b'].code}.png"),
        _roles(200),
        None,
        ALL,
    ),
    "campaign-landing": (
        "B's draft campaign landing page",
        lambda w: Request("GET", f"/m/{w.ids['campaign_token_b']}/"),
        _roles(404),
        None,
        REACH_B,
    ),
    "sidebar-customer-appointments": (
        "B's customer's appointments and slots",
        _sidebar("GET", "customers/{c}/appointments/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-customer-appointment-link": (
        "booking link card for B's customer",
        _sidebar("POST", "customers/{c}/appointments/link/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    # Holds (fulfilment): stock per store is the brand's (counts and store names, as the product page shows them);
    # B's customer's holds are not the associate's of A; the pickups API answers keys of the pickup's store.
    "sidebar-product-availability": (
        "a style's available units per store, to hold one",
        lambda w: Request("GET", f"{SIDEBAR}/products/{w.ids['product'].sku}/availability/"),
        _sidebar_roles(200),
        None,
        ALL,
    ),
    "sidebar-customer-holds": (
        "B's customer's holds",
        _sidebar("GET", "customers/{c}/holds/"),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-appointment-reschedule": (
        "reschedule B's appointment",
        lambda w: Request(
            "POST",
            f"{SIDEBAR}/appointments/{w.ids['appointment_b']}/reschedule/",
            {"template_id": w.objects["appointments.slottemplate"].pk, "starts_at": "2099-01-05T14:00:00+08:00"},
            True,
        ),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-hold-cancel": (
        "cancel B's hold",
        lambda w: Request("POST", f"{SIDEBAR}/holds/{w.ids['pickup_b'].pk}/cancel/", {}, True),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "sidebar-appointment-status": (
        "cancel B's appointment",
        lambda w: Request(
            "POST", f"{SIDEBAR}/appointments/{w.ids['appointment_b']}/status/", {"status": "cancelled"}, True
        ),
        _sidebar_roles((404, "not_found")),
        None,
        REACH_B,
    ),
    "workbench-appointments": (
        "my store's day of appointments",
        lambda w: Request(
            "GET",
            "/workbench/appointments/",
            {"day": w.objects["appointments.appointment"].starts_at.date().isoformat()},
        ),
        _page_roles(200),
        None,
        REACH_B,
    ),
    "workbench-appointment-mark": (
        "mark B's appointment done",
        lambda w: Request("POST", f"/workbench/appointments/{w.ids['appointment_b']}/mark/", {"status": "done"}),
        _page_roles(302),
        None,
        REACH_B,
    ),
    "appointment-book-page": (
        "B's customer's booking page by its signed link",
        lambda w: Request("GET", f"/a/{w.ids['booking_token_b']}/"),
        _roles(200),
        None,
        ALL,
    ),
    "appointment-page": (
        "B's customer's appointment page by its token",
        lambda w: Request("GET", f"/a/v/{w.ids['appointment_token_b']}/"),
        _roles(200),
        None,
        ALL,
    ),
    "pickups-open": (
        "BJ01's open holds",
        lambda w: Request("GET", "/api/v1/pickups/", {"store": "BJ01"}),
        _key_roles((403, "store_not_allowed"), 200),
        "pickups",
        REACH_B,
    ),
    "pickups-confirm": (
        "confirm B's hold",
        lambda w: Request("POST", f"/api/v1/pickups/{w.ids['pickup_b'].code}/confirm", {}, True),
        _key_roles((403, "store_not_allowed"), 200),
        "pickups",
        REACH_B,
    ),
    "pickups-refuse": (
        "refuse B's hold",
        lambda w: Request("POST", f"/api/v1/pickups/{w.ids['pickup_b'].code}/refuse", {"reason": "x"}, True),
        _key_roles((403, "store_not_allowed"), 200),
        "pickups",
        REACH_B,
    ),
    "pickups-collect": (
        "collect B's hold at BJ01's till",
        _api(
            "/api/v1/pickups/collect",
            lambda w: {"store": "BJ01", "code": w.ids["pickup_b"].code, "request_id": "matrix-collect"},
        ),
        _key_roles((403, "store_not_allowed"), 201),
        "pickups",
        REACH_B,
    ),
    "pickup-card": (
        "B's customer's pickup card by its token",
        lambda w: Request("GET", f"/h/{w.ids['pickup_b'].token}/"),
        _roles(200),
        None,
        ALL,
    ),
    "healthz": ("liveness probe", _get("/healthz"), _roles(200), None, ALL),
    "readyz": ("readiness probe: database, cache, broker, migrations", _get("/readyz"), _roles(200), None, ALL),
    "home": ("the bare address: staff to the admin, anyone else to its sign-in", _get("/"), _roles(302), None, ALL),
    "identity-claim": (
        "an identity claim's confirmation page, by a token nobody was given",
        lambda w: Request("GET", "/l/not-a-claim-token/"),
        _roles(404),
        None,
        REACH_B,
    ),
    # With DEBUG off (as in production and in tests): staff signed in to the admin or an API key; anyone else is
    # refused (the schema) or sent to the admin's sign-in (the docs pages).
    "schema": (
        "OpenAPI schema",
        _get("/api/schema/"),
        _roles(200, anonymous=(403, "permission_denied"), associate_a=(403, "permission_denied")),
        None,
        REACH_B,
    ),
    "api-docs": ("API docs", _get("/api/docs/"), _roles(200, anonymous=302, associate_a=302), None, REACH_B),
    "api-redoc": ("API docs (ReDoc)", _get("/api/redoc/"), _roles(200, anonymous=302, associate_a=302), None, REACH_B),
    # Allowed by address or bearer token, never by a login or key: the test client's 127.0.0.1 is in the default
    # OMNI_METRICS_ALLOWED_IPS (tests/test_observability.py refuses other addresses, proxied requests, bad tokens).
    "metrics": ("Prometheus metrics, from loopback", _get("/metrics"), _roles(200), None, REACH_B),
}
# Where a store's key is answered otherwise than its store refusal:
# a store's key may not return another store's redemption (finding 2) nor rewrite the brand's catalogue (finding 4).
PENDING = {
    # Another store's redemption answers as an unknown order reference would: nothing about it is revealed.
    "coupon-return": {"key_a": (409, "wrong_order")},
    "products-batch brand": {"key_a": (403, ("scope_missing", "store_not_allowed"))},
}


# ---------------------------------------------------------------------------------------------------------------
# Running a case


def _client(world: World, role: str, case: Case) -> tuple[Client, dict]:
    client = Client()
    headers = {}
    if role in world.sessions:
        client.cookies["sessionid"] = world.sessions[role]
    elif role.startswith("key_"):
        secret = world.keys[f"{role}:{case.scope or 'coupons'}" if role.endswith("_lacking_scope") else role]
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {secret}"
    return client, headers


COUNTED = (Identity, OrderLine, FollowUpTask, FollowRelation, Invite, CustomerNote, CustomerTag, CouponOrder)


def _fingerprint(world: World) -> list:
    """What store B's rows are, and how many rows every table has."""
    rows = [list(type(obj)._default_manager.filter(pk=obj.pk).values()) for obj in world.objects.values()]
    tables = [model._meta.db_table for model in (*admin.site._registry, *COUNTED)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables))
        return [rows, cursor.fetchone()]


def _code(response) -> str | None:
    if "json" not in response.get("Content-Type", ""):
        return None
    body = response.json()
    if not isinstance(body, dict):
        return None
    for row in body.get("results", []):
        for error in row.get("errors", []):
            return error.get("code")
    return body["error"].get("code") if isinstance(body.get("error"), dict) else None


def run(world: World, role: str, case: Case) -> tuple[Expect, list[str]]:
    """The answer to the case's request for the role, and what went wrong beyond the status (leaks, writes)."""
    request = case.request(world)
    client, headers = _client(world, role, case)
    problems = []
    with transaction.atomic():
        guard = role not in case.reach_b
        # Without a staff login the admin site stops every request but signing in and out before its view runs
        # (checked below), so there is nothing to compare.
        no_staff = request.path.startswith("/admin/") and role not in ("manager_a", "hq")
        before = _fingerprint(world) if guard and request.method != "GET" and not no_staff else None
        send = getattr(client, request.method.lower())
        if request.json:
            response = send(request.path, request.data, content_type="application/json", **headers)
        else:
            response = send(request.path, request.data or {}, **headers)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode(errors="replace")
        if "json" in response.get("Content-Type", ""):
            text = json.dumps(json.loads(body), ensure_ascii=False)  # Django's JsonResponse escapes Chinese
        if guard:
            problems += [f"shows {marker!r}" for marker in world.markers if marker in text]
            changelist = response.context and response.context.get("cl")
            scoped = case.model is not None and case.model not in BRAND_WIDE
            if scoped and changelist and changelist.queryset.filter(pk=world.objects[case.model].pk).exists():
                problems.append("lists store B's row")
            to_login = response.status_code == 302 and response["Location"].startswith("/admin/login/")
            if no_staff and not to_login and request.path not in ("/admin/login/", "/admin/logout/"):
                problems.append("reached the admin without a staff login")
            if before is not None and _fingerprint(world) != before:
                problems.append("changed store B's rows")
        if role == "hq" and case.hq_sees and case.hq_sees not in text:
            problems.append(f"does not show {case.hq_sees!r}")
        answer = Expect(response.status_code, _code(response))
        transaction.set_rollback(True)
    return answer, problems


ALL_CASES = cases()


def test_every_route_and_admin_action_has_an_entry():
    covered = {case.key for case in ALL_CASES}
    exists = [*route_keys(), *admin_action_keys()]

    assert [key for key in exists if key not in covered] == []
    assert sorted(covered - set(exists)) == []


def test_every_admin_is_store_scoped_or_holds_no_stores_rows():
    from associates.scoping import StoreScopedAdmin

    # API keys are credentials: only HQ holds their permissions.
    unscoped = BRAND_WIDE | {"customers.apikey"}
    found = [
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, StoreScopedAdmin) and model._meta.label_lower not in unscoped
    ]

    assert found == []


def test_every_case_expects_an_answer_for_every_role():
    assert [case.label for case in ALL_CASES if set(case.expect) | set(case.pending) != set(ROLES)] == []


def test_the_matrix_size():
    routes = route_keys()
    requests = sum(len(case.expect) + len(case.pending) for case in ALL_CASES)
    print(
        f"authorization matrix: {len(routes)} routes and {len(admin_action_keys())} admin actions in "
        f"{len(ALL_CASES)} cases × {len(ROLES)} roles = {requests} answers "
        f"({sum(len(case.pending) for case in ALL_CASES)} of them API keys' scope and store refusals)"
    )
    assert len(ROLES) == 8
    assert len(ALL_CASES) >= len(routes)


def _check(world: World, case: Case, roles) -> list[str]:
    failures = []
    for role in roles:
        expected = case.expect.get(role) or case.pending[role]
        answer, problems = run(world, role, case)
        if not expected.admits(answer) or problems:
            failures.append(
                f"{role}: expected {expected}, got {answer}{' — ' + '; '.join(problems) if problems else ''}"
            )
    return failures


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.label for case in ALL_CASES])
def test_matrix(world, db, case):
    assert _check(world, case, [role for role in ROLES if role in case.expect]) == []


PENDING_ROWS = [(case, role) for case in ALL_CASES for role in case.pending]


@pytest.mark.parametrize("case,role", PENDING_ROWS, ids=[f"{case.label}-{role}" for case, role in PENDING_ROWS])
def test_matrix_with_api_key_scopes(world, db, case, role):
    assert _check(world, case, [role]) == []
