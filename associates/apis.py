"""The sidebar's JSON API (/api/v1/sidebar/…): what the chat sidebar page uses, usable by a native client.

The caller is the associate signed in through WeCom OAuth (a session). A customer the associate may not
see answers 404 exactly like one that does not exist. Identity values and phones are masked, and every
profile read is written to the audit log.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from associates.models import Associate, FollowUpTask
from associates.services import follow_up_task_complete, follow_up_task_create
from customers.models import Customer
from customers.selectors import customer_figures, customer_identities, customer_orders_list, customers_visible
from customers.services import (
    customer_is_linked,
    customer_link,
    customer_note_add,
    customer_profile_view_record,
    customer_tag_add,
)
from omni.wecom.auth import session_associate

ORDERS_PAGE = 10


class AssociateSessionAuthentication(SessionAuthentication):
    """The associate signed in through WeCom OAuth; writes need the CSRF token, as for any session."""

    def authenticate(self, request):
        associate = session_associate(request._request.session)
        if associate is None:
            return None
        self.enforce_csrf(request)
        return associate, None

    def authenticate_header(self, request):
        return "WeComOAuth"


class AssociateSessionScheme(OpenApiAuthenticationExtension):
    target_class = AssociateSessionAuthentication
    name = "WeComOAuthSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Session of an associate signed in through WeCom OAuth (/wecom/oauth/start/)",
        }


class IsAssociate(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, Associate)


class _SidebarApi(APIView):
    authentication_classes = [AssociateSessionAuthentication]
    permission_classes = [IsAssociate]

    def customer(self, request, customer_id: int) -> Customer:
        queryset = customers_visible(viewer=request.user).select_related("primary_store", "primary_associate")
        return get_object_or_404(queryset, pk=customer_id)


class IdentityOut(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField(source="get_kind_display")
    value = serializers.CharField(source="masked_value")


class CustomerProfileOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    gender = serializers.CharField()
    phone = serializers.CharField(source="phone_masked")
    birthday = serializers.DateField(allow_null=True)
    member_since = serializers.DateTimeField(source="created_at")
    primary_store = serializers.CharField(source="primary_store.name", default="")
    primary_associate = serializers.CharField(source="primary_associate.name", default="")
    opted_out = serializers.BooleanField()


class FiguresOut(serializers.Serializer):
    lifetime_spend = serializers.DecimalField(max_digits=14, decimal_places=2)
    orders = serializers.IntegerField()
    returns = serializers.IntegerField()
    average_order_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    first_purchase_at = serializers.DateTimeField(allow_null=True)
    last_purchase_at = serializers.DateTimeField(allow_null=True)
    favourite_categories = serializers.ListField(child=serializers.CharField())
    tier = serializers.CharField()
    segment = serializers.CharField()


class SidebarProfileOut(serializers.Serializer):
    customer = CustomerProfileOut()
    linked = serializers.BooleanField(help_text="Known to the brand beyond WeCom (member no, phone, account)")
    identities = IdentityOut(many=True)
    figures = FiguresOut()
    tags = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.DictField())
    coupons = serializers.ListField(child=serializers.DictField(), help_text="Open coupons (coupon issue)")
    communities = serializers.ListField(child=serializers.DictField(), help_text="Communities (community issue)")


class SidebarCustomerApi(_SidebarApi):
    @extend_schema(operation_id="sidebar_customer_get", responses=SidebarProfileOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        customer_profile_view_record(customer=customer, associate=request.user, ip=request.META.get("REMOTE_ADDR"))
        notes = customer.notes.select_related("author").order_by("-created_at")[:10]
        identities = customer_identities(customer=customer)
        body = {
            "customer": customer,
            "linked": customer_is_linked(identity_kinds=[identity.kind for identity in identities]),
            "identities": identities,
            "figures": customer_figures(customer=customer),
            "tags": [str(item.tag) for item in customer.customer_tags.select_related("tag").order_by("pk")],
            "notes": [
                {"text": note.text, "author": note.author.name if note.author else "", "at": note.created_at}
                for note in notes
            ],
            "coupons": [],
            "communities": [],
        }
        return Response(SidebarProfileOut(body).data)


class OrderLineOut(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    category = serializers.CharField(source="product.category")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderOut(serializers.Serializer):
    external_id = serializers.CharField()
    channel = serializers.CharField()
    channel_label = serializers.CharField(source="get_channel_display")
    store = serializers.CharField(source="store.name", default="")
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


class SidebarOrdersApi(_SidebarApi):
    @extend_schema(operation_id="sidebar_customer_orders_list", responses=OrdersPageOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        try:
            page = max(1, int(request.query_params.get("page", 1)))
        except ValueError:
            page = 1
        orders = customer_orders_list(customer=customer, offset=(page - 1) * ORDERS_PAGE, limit=ORDERS_PAGE + 1)
        body = {"page": page, "has_more": len(orders) > ORDERS_PAGE, "orders": orders[:ORDERS_PAGE]}
        return Response(OrdersPageOut(body).data)


class NoteIn(serializers.Serializer):
    text = serializers.CharField(max_length=2000)


class NoteOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class TagIn(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class TagOut(serializers.Serializer):
    tag = serializers.CharField()


class SidebarNoteApi(_SidebarApi):
    @extend_schema(operation_id="sidebar_customer_note_add", request=NoteIn, responses={201: NoteOut}, tags=["sidebar"])
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = NoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        note = customer_note_add(customer=customer, associate=request.user, text=data.validated_data["text"])
        return Response({"id": note.pk, "text": note.text}, status=201)


class SidebarTagApi(_SidebarApi):
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


class TaskOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    due_on = serializers.DateField()
    done = serializers.SerializerMethodField()
    customer_id = serializers.IntegerField()
    customer = serializers.CharField(source="customer.name")

    def get_done(self, task) -> bool:
        return task.done_at is not None


class SidebarTasksApi(_SidebarApi):
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


class SidebarTaskDoneApi(_SidebarApi):
    @extend_schema(operation_id="sidebar_task_complete", request=None, responses=TaskOut, tags=["sidebar"])
    def post(self, request, task_id: int):
        task = follow_up_task_complete(associate=request.user, task_id=task_id)
        return Response(TaskOut(task).data)


class LinkIn(serializers.Serializer):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    member_no = serializers.CharField(max_length=128, required=False, allow_blank=True)


class LinkOut(serializers.Serializer):
    customer_id = serializers.IntegerField()


class SidebarLinkApi(_SidebarApi):
    @extend_schema(operation_id="sidebar_customer_link", request=LinkIn, responses=LinkOut, tags=["sidebar"])
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = LinkIn(data=request.data)
        data.is_valid(raise_exception=True)
        linked = customer_link(customer=customer, associate=request.user, **data.validated_data)
        return Response(LinkOut({"customer_id": linked.pk}).data)
