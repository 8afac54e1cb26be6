"""The sidebar's consent and contact budget (/api/v1/sidebar/customers/<id>/…): what the associate sees before she
sends anything marketing (本周已被同事联系 N 次, opted out or not), marking the customer's opt-out when the customer
asks in the chat, and logging an exception to the budget where the store allows one."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from customers.budget import contact_budget_status, contact_override_record
from customers.consent import consent_opt_out, consent_refusal_text
from customers.models import ConsentChange
from omni.openapi import error_responses
from sidebar.base import SidebarApi


class ContactBudgetOut(serializers.Serializer):
    used = serializers.IntegerField(help_text="Marketing contacts this week, every associate and channel")
    limit = serializers.IntegerField()
    mine = serializers.IntegerField(help_text="This associate's own 1:1 contacts this week")
    others = serializers.IntegerField(help_text="By colleagues and campaigns")
    left = serializers.IntegerField()
    allow_override = serializers.BooleanField()
    override_ready = serializers.BooleanField(help_text="An exception she logged waits for her next send")
    opted_out = serializers.BooleanField()
    text = serializers.CharField(help_text="The line the sidebar shows")


def _budget_json(*, customer, associate) -> dict:
    status = contact_budget_status(customer_id=customer.pk, associate=associate)
    if customer.opted_out:
        text = consent_refusal_text(customer_id=customer.pk)
    else:
        text = f"本周已被同事联系 {status.others} 次，共 {status.used}/{status.limit} 次"
        if status.left == 0:
            text += "，本周已达上限"
    return {
        "used": status.used,
        "limit": status.limit,
        "mine": status.mine,
        "others": status.others,
        "left": status.left,
        "allow_override": status.allow_override,
        "override_ready": status.override_ready,
        "opted_out": customer.opted_out,
        "text": text,
    }


class SidebarContactBudgetApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_contact_budget",
        responses={200: ContactBudgetOut, **error_responses(404)},
        tags=["sidebar"],
        description="The customer's marketing contacts this week against the budget, and whether they opted out.",
    )
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        return Response(_budget_json(customer=customer, associate=request.user))


class OverrideIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class SidebarContactOverrideApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_contact_budget_override",
        request=OverrideIn,
        responses={201: ContactBudgetOut, **error_responses(403, 404)},
        tags=["sidebar"],
        description="Log an exception to the budget (one more send this week) where the customer's store allows it.",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = OverrideIn(data=request.data)
        data.is_valid(raise_exception=True)
        contact_override_record(customer_id=customer.pk, associate=request.user, reason=data.validated_data["reason"])
        return Response(_budget_json(customer=customer, associate=request.user), status=201)


class OptOutIn(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SidebarOptOutApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_opt_out",
        request=OptOutIn,
        responses={200: ContactBudgetOut, **error_responses(404)},
        tags=["sidebar"],
        description="The customer asked in the chat for no more marketing: record the opt-out (source sidebar).",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = OptOutIn(data=request.data)
        data.is_valid(raise_exception=True)
        consent_opt_out(
            customer_id=customer.pk,
            source=ConsentChange.Source.SIDEBAR,
            associate=request.user,
            note=data.validated_data["note"],
        )
        customer.refresh_from_db(fields=["opted_out", "marketing_consent"])
        return Response(_budget_json(customer=customer, associate=request.user))
