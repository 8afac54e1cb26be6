"""The sidebar's JSON API (/api/v1/sidebar/…): what the chat sidebar page uses, usable by a native client.

The caller is the associate signed in through WeCom OAuth (a session). A customer the associate may not
see answers 404 exactly like one that does not exist. Identity values and phones are masked, and every
profile read is written to the audit log.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.followups import follow_up_task_done
from clientbook.models import FollowUpTask
from clientbook.profile import (
    customer_figures,
    customer_lists,
    customer_orders_page,
)
from clientbook.services import customer_tag_add, follow_up_task_create
from customers.models import Membership
from customers.services import (
    customer_is_linked,
    customer_note_add,
    customer_profile_view_record,
    identity_claim_create,
    identity_claim_page_url,
)
from omni.openapi import error_responses
from omni.proxy import client_ip
from sidebar.base import SidebarApi, moment_json, money_json
from wecom.wechat_oauth import oa_configured

ORDERS_PAGE = 10


class IdentityOut(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField(source="get_kind_display")
    value = serializers.CharField(source="masked_value")


class CustomerProfileOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    gender = serializers.CharField()
    phone = serializers.CharField(source="phone_masked", allow_blank=True)
    birthday = serializers.DateField(allow_null=True)
    member_since = serializers.DateTimeField(source="created_at")
    primary_store = serializers.CharField(source="primary_store.name", default="", allow_blank=True)
    primary_associate = serializers.CharField(source="primary_associate.name", default="", allow_blank=True)
    opted_out = serializers.BooleanField()
    avatar = serializers.CharField(source="avatar_url", allow_blank=True, help_text="WeChat avatar URL, or empty")


class WeComFriendshipOut(serializers.Serializer):
    remark = serializers.CharField(allow_blank=True, help_text="The associate's remark for the contact in WeCom")
    followed_at = serializers.DateTimeField(allow_null=True)
    add_way = serializers.CharField(allow_blank=True, help_text="How the contact was added, in words")
    type = serializers.CharField(allow_blank=True, help_text="微信用户 or 企业微信用户")


class FiguresOut(serializers.Serializer):
    lifetime_spend = serializers.DecimalField(max_digits=14, decimal_places=2)
    orders = serializers.IntegerField()
    returns = serializers.IntegerField()
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    first_purchase_at = serializers.DateTimeField(allow_null=True)
    last_purchase_at = serializers.DateTimeField(allow_null=True)
    favourite_categories = serializers.ListField(child=serializers.CharField())
    usual_sizes = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()), help_text='[{"family": "服装", "size": "M"}]'
    )
    tier = serializers.CharField()
    segment = serializers.CharField()


class LoyaltyOut(serializers.Serializer):
    level = serializers.CharField(allow_blank=True, help_text="The loyalty system's level (金卡)")
    points = serializers.IntegerField(help_text="Points balance")
    points_expiring = serializers.IntegerField(help_text="Points expiring on points_expire_on; 0 when none are due")
    points_expire_on = serializers.DateField(allow_null=True)


class SidebarProfileOut(serializers.Serializer):
    customer = CustomerProfileOut()
    linked = serializers.BooleanField(help_text="Known to the brand beyond WeCom (member no, phone, account)")
    identities = IdentityOut(many=True)
    figures = FiguresOut()
    wecom = WeComFriendshipOut(allow_null=True, help_text="This associate's WeCom friendship with the customer")
    tags = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.DictField())
    communities = serializers.ListField(child=serializers.DictField(), help_text="Communities (community issue)")
    membership = LoyaltyOut(allow_null=True, help_text="From the brand's loyalty system (members API); null: none")


# The two reads behind the sidebar build their JSON by hand: they are the hottest paths in Omni, and DRF's
# field-by-field serializers cost more than the SQL. The serializers above and below still document them
# (OpenAPI), and the tests check that each response matches its serializer.


class SidebarCustomerApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_get", responses=SidebarProfileOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        return Response(profile_json(self, request, customer_id))


def profile_json(view: SidebarApi, request, customer_id: int) -> dict:
    """The customer's profile (SidebarProfileOut) for the associate, recorded in the audit log; 404 if not theirs."""
    customer = view.head(request, customer_id, with_friendship=True, with_membership=True)
    customer_profile_view_record(customer_id=customer.pk, associate=request.user, ip=client_ip(request))
    lists = customer_lists(customer_id=customer.pk)
    identities = lists.identities
    figures = customer_figures(customer_id=customer.pk)
    follow = customer.friendship
    return {
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "gender": customer.gender,
            "phone": customer.phone_masked,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "member_since": moment_json(customer.created_at),
            "primary_store": customer.primary_store,
            "primary_associate": customer.primary_associate,
            "opted_out": customer.opted_out,
            "avatar": customer.avatar_url,
        },
        "linked": customer_is_linked(identity_kinds=[identity.kind for identity in identities]),
        "identities": [
            {"kind": item.kind, "label": item.get_kind_display(), "value": item.masked_value} for item in identities
        ],
        "figures": {
            "lifetime_spend": money_json(figures.lifetime_spend),
            "orders": figures.orders,
            "returns": figures.returns,
            "average_order_value": money_json(figures.average_order_value),
            "first_purchase_at": moment_json(figures.first_purchase_at),
            "last_purchase_at": moment_json(figures.last_purchase_at),
            "favourite_categories": figures.favourite_categories,
            "usual_sizes": [{"family": family, "size": size} for family, size in figures.usual_sizes],
            "tier": figures.tier,
            "segment": figures.segment,
        },
        "wecom": {
            "remark": follow.remark,
            "followed_at": moment_json(follow.followed_at),
            "add_way": follow.add_way,
            "type": follow.contact_type,
        }
        if follow
        else None,
        "tags": lists.tags,
        "notes": [note | {"at": moment_json(note["at"])} for note in lists.notes],
        "communities": [],
        "membership": _membership_json(customer.membership),
    }


def _membership_json(membership: Membership | None) -> dict | None:
    """The member's level and points as the loyalty system last sent them; points whose day has passed are gone."""
    if membership is None:
        return None
    expiring = membership.expiring_on(timezone.localdate())
    return {
        "level": membership.level,
        "points": membership.points,
        "points_expiring": membership.points_expiring if expiring else 0,
        "points_expire_on": membership.points_expire_on.isoformat() if expiring else None,
    }


class OrderLineOut(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    category = serializers.CharField(source="product.category", allow_blank=True)
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderOut(serializers.Serializer):
    external_id = serializers.CharField()
    channel = serializers.CharField()
    channel_label = serializers.CharField(source="get_channel_display")
    store = serializers.CharField(source="store.name", default="", allow_blank=True)
    placed_at = serializers.DateTimeField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    fulfilment = serializers.CharField()
    fulfilment_label = serializers.CharField(source="get_fulfilment_display")
    total_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    lines = OrderLineOut(many=True, source="lines.all")


class OrdersPageOut(serializers.Serializer):
    page = serializers.IntegerField()
    has_more = serializers.BooleanField()
    orders = OrderOut(many=True)


class SidebarOrdersApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_orders_list", responses=OrdersPageOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        try:
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            page = 1
        return Response(orders_page_json(customer_id=customer.pk, page=page))


def orders_page_json(*, customer_id: int, page: int) -> dict:
    """A page of the customer's orders, newest first (OrdersPageOut); the caller has checked the customer."""
    orders = customer_orders_page(customer_id=customer_id, offset=(page - 1) * ORDERS_PAGE, limit=ORDERS_PAGE + 1)
    for order in orders:
        order["placed_at"] = moment_json(order["placed_at"])
        order["total_amount"] = money_json(order["total_amount"])
        for line in order["lines"]:
            line["unit_price"], line["discount"] = money_json(line["unit_price"]), money_json(line["discount"])
    return {"page": page, "has_more": len(orders) > ORDERS_PAGE, "orders": orders[:ORDERS_PAGE]}


class NoteIn(serializers.Serializer):
    text = serializers.CharField(max_length=2000)


class NoteOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class TagIn(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class TagOut(serializers.Serializer):
    tag = serializers.CharField()


class SidebarNoteApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_note_add", request=NoteIn, responses={201: NoteOut}, tags=["sidebar"])
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = NoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        note = customer_note_add(customer=customer, associate=request.user, text=data.validated_data["text"])
        return Response({"id": note.pk, "text": note.text}, status=201)


class SidebarTagApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_tag_add", request=TagIn, responses={201: TagOut}, tags=["sidebar"])
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = TagIn(data=request.data)
        data.is_valid(raise_exception=True)
        customer_tag = customer_tag_add(customer=customer, associate=request.user, name=data.validated_data["name"])
        return Response({"tag": str(customer_tag.tag)}, status=201)


class TaskIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    due_on = serializers.DateField()
    action = serializers.ChoiceField(choices=FollowUpTask.Action.choices, required=False, allow_blank=True, default="")


class TaskOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    due_on = serializers.DateField()
    done = serializers.SerializerMethodField()
    customer_id = serializers.IntegerField()
    customer = serializers.CharField(source="customer.name")

    def get_done(self, task) -> bool:
        return task.done_at is not None


class SidebarTasksApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_tasks_list", responses=TaskOut(many=True), tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        tasks = FollowUpTask.objects.filter(associate=request.user, customer=customer).select_related("customer")
        return Response(TaskOut(tasks[:50], many=True).data)

    @extend_schema(operation_id="sidebar_customer_task_add", request=TaskIn, responses={201: TaskOut}, tags=["sidebar"])
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = TaskIn(data=request.data)
        data.is_valid(raise_exception=True)
        task = follow_up_task_create(associate=request.user, customer=customer, **data.validated_data)
        return Response(TaskOut(task).data, status=201)


class SidebarTaskDoneApi(SidebarApi):
    @extend_schema(operation_id="sidebar_task_complete", request=None, responses=TaskOut, tags=["sidebar"])
    def post(self, request, task_id: int):
        task = follow_up_task_done(viewer=request.user, task_id=task_id)
        return Response(TaskOut(task).data)


class LinkIn(serializers.Serializer):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    member_no = serializers.CharField(max_length=128, required=False, allow_blank=True)
    request_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="A replay returns the first answer"
    )


class ClaimCardOut(serializers.Serializer):
    title = serializers.CharField()
    desc = serializers.CharField()
    link = serializers.URLField()


class LinkOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending_confirmation"])
    message = serializers.CharField()
    card = ClaimCardOut(
        allow_null=True,
        help_text="The news card to send into the chat (sendChatMessage), through which the customer confirms in "
        "WeChat; null when the brand's Official Account is not configured (a manager reviews the claim).",
    )


LINK_PENDING_MESSAGE = "已发送给客户确认"
LINK_REVIEW_MESSAGE = "已提交，等待店长审核"


class SidebarLinkApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_link",
        request=LinkIn,
        responses={202: LinkOut, **error_responses(409)},
        tags=["sidebar"],
        description="Claim who this chat contact is, by phone or member number. A typed number is no proof: the "
        "answer is the same whether anybody owns it, nothing is added or merged, and the claim completes only when "
        "the customer confirms from the card in their WeChat, the brand's system sends the identity, or a manager "
        "approves it in admin.",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = LinkIn(data=request.data)
        data.is_valid(raise_exception=True)
        claim = identity_claim_create(customer=customer, associate=request.user, **data.validated_data)
        card = None
        if oa_configured():
            card = {
                "title": "请确认您的会员身份",
                "desc": "点开确认后，您在门店、小程序和商城的会员权益将合并到一起。",
                "link": identity_claim_page_url(claim=claim),
            }
        message = LINK_PENDING_MESSAGE if card else LINK_REVIEW_MESSAGE
        return Response({"status": "pending_confirmation", "message": message, "card": card}, status=202)
