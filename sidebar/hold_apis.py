"""The sidebar's holds (`fulfilment.holds`): a style's sizes and colours with the units available at each store
(/api/v1/sidebar/products/<sku>/availability/), "hold for this customer" at a store, the customer's holds, and
cancelling one. Authentication is the sidebar's (`sidebar.base.SidebarApi`): a customer the associate may not see is
404 as one that does not exist; a hold is cancelled by the associate who placed it or a manager of its store.

Placing answers the customer's pickup card (`fulfilment.views`) as a news link for `sendChatMessage`.
"""

from django.conf import settings
from django.templatetags.static import static
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from fulfilment.holds import MAX_HOLD_HOURS, MAX_HOLD_UNITS, hold_cancel, hold_place, style_availability
from fulfilment.models import Pickup
from fulfilment.views import pickup_card_url
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json, money_json

HOLDS_SHOWN = 20


def _card(pickup: Pickup) -> dict:
    line = pickup.lines.select_related("product").first()
    product = line.product if line else None
    until = timezone.localtime(pickup.expires_at)
    spec = "".join(f"{part} · " for part in (product.colour, product.size) if part) if product else ""
    return {
        "title": f"已为你预留：{product.name if product else '商品'}"[:64],
        "desc": f"{pickup.store.name} · {spec}保留至 {until:%m-%d %H:%M} · 取货码 {pickup.code}",
        "link": pickup_card_url(pickup=pickup),
        "imgUrl": (product.image_url if product and product.image_url else "")
        or settings.OMNI_PUBLIC_URL.rstrip("/") + static("omni/pickup-card.png"),
    }


def hold_json(pickup: Pickup) -> dict:
    lines = list(pickup.lines.select_related("product"))
    return {
        "id": pickup.pk,
        "code": pickup.code,
        "kind": pickup.kind,
        "status": pickup.status,
        "status_label": pickup.get_status_display(),
        "is_open": pickup.status in Pickup.OPEN,
        "store": {"code": pickup.store.code, "name": pickup.store.name},
        "associate": pickup.associate.name if pickup.associate_id else None,
        "lines": [
            {
                "sku": line.product.sku,
                "name": line.product.name,
                "size": line.product.size,
                "colour": line.product.colour,
                "image_url": line.product.image_url,
                "quantity": line.quantity,
            }
            for line in lines
        ],
        "expires_at": moment_json(pickup.expires_at),
        "card": _card(pickup),
    }


class AvailabilityOut(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    style_code = serializers.CharField(allow_blank=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    image_url = serializers.CharField(allow_blank=True)
    variants = serializers.ListField(child=serializers.DictField(), help_text="[{sku, size, colour}] of the style")
    stores = serializers.ListField(
        child=serializers.DictField(),
        help_text="[{code, name, city, address, opening_hours, hold_hours, distance_km, is_own, available, "
        "stock: [{sku, available}]}]: the associate's store first, then nearest; available = on hand − held, ≥ 0",
    )


class SidebarAvailabilityApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_product_availability",
        responses={200: AvailabilityOut, **error_responses(404)},
        tags=["sidebar"],
    )
    def get(self, request, sku: str):
        found = style_availability(sku=sku, store=request.user.store)
        product = found.product
        return Response(
            {
                "sku": product.sku,
                "name": product.name,
                "style_code": product.style_code,
                "price": money_json(product.price),
                "image_url": product.image_url,
                "variants": [{"sku": v.sku, "size": v.size, "colour": v.colour} for v in found.variants],
                "stores": [
                    {
                        "code": s.store.code,
                        "name": s.store.name,
                        "city": s.store.city,
                        "address": s.store.address,
                        "opening_hours": s.store.opening_hours,
                        "hold_hours": s.store.hold_hours,
                        "distance_km": s.distance_km,
                        "is_own": s.is_own,
                        "available": s.available,
                        "stock": [{"sku": v.sku, "available": v.available} for v in s.variants],
                    }
                    for s in found.stores
                ],
            }
        )


class HoldIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    store = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_HOLD_UNITS)
    hours = serializers.IntegerField(required=False, min_value=1, max_value=MAX_HOLD_HOURS)
    request_id = serializers.CharField(max_length=64)


class SidebarHoldsApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_holds",
        responses={
            200: inline_serializer("SidebarHoldsOut", {"holds": serializers.ListField(child=serializers.DictField())}),
            **error_responses(404),
        },
        tags=["sidebar"],
    )
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        pickups = (
            Pickup.objects.filter(customer=customer)
            .select_related("store", "associate")
            .order_by("-created_at", "-pk")[:HOLDS_SHOWN]
        )
        ordered = sorted(pickups, key=lambda p: p.status not in Pickup.OPEN)
        return Response({"holds": [hold_json(p) for p in ordered]})

    @extend_schema(
        operation_id="sidebar_customer_hold_place",
        request=HoldIn,
        responses={
            201: inline_serializer("SidebarHoldOut", {"hold": serializers.DictField()}),
            **error_responses(404, 409),
        },
        tags=["sidebar"],
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = HoldIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        placed = hold_place(
            associate=request.user,
            customer=customer,
            sku=fields["sku"],
            store_code=fields["store"],
            quantity=fields["quantity"],
            hours=fields.get("hours"),
            request_id=fields["request_id"],
        )
        return Response({"hold": hold_json(placed.pickup)}, status=201 if placed.created else 200)


class SidebarHoldCancelApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_hold_cancel",
        request=None,
        responses={
            200: inline_serializer("SidebarHoldCancelOut", {"hold": serializers.DictField()}),
            **error_responses(404, 409),
        },
        tags=["sidebar"],
    )
    def post(self, request, hold_id: int):
        return Response({"hold": hold_json(hold_cancel(pickup_id=hold_id, associate=request.user))})
