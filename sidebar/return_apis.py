"""Returns anywhere, at the associate's hands: the chat's customer's orders that a store can take back — all her
channels, or one by its number — with what is left to return of each line (customers.returns). The till records the
return itself through the POS API (/api/v1/orders/returns)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from customers.apis import LookupOrderOut
from customers.returns import order_lines_left, orders_find
from omni.openapi import error_responses
from sidebar.base import SidebarApi

RETURNABLE_SHOWN = 10


class SidebarReturnableOrdersApi(SidebarApi):
    class QuerySerializer(serializers.Serializer):
        order_no = serializers.CharField(
            max_length=64, required=False, allow_blank=True, help_text="An order number of hers"
        )

    @extend_schema(
        operation_id="sidebar_customer_returnable_orders",
        summary="The customer's orders with what is left to return, newest first, or one by its number",
        parameters=[QuerySerializer],
        responses={
            200: inline_serializer("SidebarReturnableOrdersOut", {"orders": LookupOrderOut(many=True)}),
            **error_responses(404),
        },
        tags=["sidebar"],
    )
    def get(self, request, customer_id: int):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        customer = self.head(request, customer_id)
        order_no = query.validated_data.get("order_no", "")
        orders = orders_find(customer_id=customer.pk, order_no=order_no, limit=RETURNABLE_SHOWN)
        found = [{"order": order, "lines": order_lines_left(order=order)} for order in orders]
        return Response({"orders": LookupOrderOut(found, many=True).data})
