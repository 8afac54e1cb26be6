"""The sidebar's drafts (/api/v1/sidebar/drafts/?external_userid=…&purpose=…): the purposes her facts support, and
the draft for one of them (`drafts.services.draft_make`: the model's text if the fact checker lets it through, else
the template's), for the associate to edit and send with sendChatMessage. A customer the associate may not see
answers 404, as every sidebar API does."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.selectors import customer_by_external_userid
from drafts.models import Draft
from drafts.purposes import PURPOSES
from drafts.services import draft_make
from omni.openapi import error_responses
from sidebar.base import SidebarApi


class DraftsIn(serializers.Serializer):
    external_userid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    customer_id = serializers.IntegerField(required=False, min_value=1)
    purpose = serializers.CharField(max_length=32, required=False, allow_blank=True)


class PurposeOut(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(PURPOSES))
    label = serializers.CharField()


class DraftOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(help_text="The message to edit and send")
    drafter = serializers.ChoiceField(choices=Draft.Drafter.choices, help_text="Who wrote the text shown")
    drafter_label = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Draft.Outcome.choices)
    outcome_label = serializers.CharField()
    reason = serializers.CharField(allow_blank=True, help_text="Why the model's draft was not shown, if it was not")


class DraftsOut(serializers.Serializer):
    customer_id = serializers.IntegerField()
    purposes = PurposeOut(many=True, help_text="The purposes her facts support")
    purpose = serializers.CharField(allow_null=True, help_text="The purpose drafted for; null: none applies")
    draft = DraftOut(allow_null=True)


class SidebarDraftsApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_drafts_get",
        parameters=[
            OpenApiParameter("external_userid", str, description="The chat's contact (getCurExternalContact)"),
            OpenApiParameter("customer_id", int, description="Or the customer's id"),
            OpenApiParameter(
                "purpose", str, enum=list(PURPOSES), description="Empty: the first purpose her facts support"
            ),
        ],
        responses={200: DraftsOut, **error_responses(400, 404, 409)},
        tags=["sidebar"],
    )
    def get(self, request):
        params = DraftsIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        external_userid = params.validated_data.get("external_userid", "")
        if external_userid:
            customer = customer_by_external_userid(viewer=request.user, external_userid=external_userid)
            if customer is None:
                raise Http404
        elif "customer_id" in params.validated_data:
            customer = self.customer(request, params.validated_data["customer_id"])
        else:
            raise Http404
        result = draft_make(associate=request.user, customer=customer, purpose=params.validated_data.get("purpose", ""))
        draft = None
        if result.purpose is not None:
            draft = {
                "id": result.draft_id,
                "text": result.text,
                "drafter": result.drafter,
                "drafter_label": Draft.Drafter(result.drafter).label,
                "outcome": result.outcome,
                "outcome_label": Draft.Outcome(result.outcome).label,
                "reason": result.reason,
            }
        return Response(
            {
                "customer_id": customer.pk,
                "purposes": [{"key": p.key, "label": p.label} for p in result.purposes],
                "purpose": result.purpose.key if result.purpose else None,
                "draft": draft,
            }
        )
