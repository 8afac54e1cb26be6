"""The sidebar's timeline API (/api/v1/sidebar/customers/<id>/timeline/): the customer's events newest first, one page
at a time (`sidebar.timeline`); `?after=<next>` reads the page after the one that answered `next`."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json, money_json
from sidebar.timeline import KIND_LABELS, Cursor, customer_timeline


class TimelineEventOut(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=sorted(KIND_LABELS.items()))
    kind_label = serializers.CharField()
    id = serializers.IntegerField(help_text="The row's id in its kind's table: (kind, id) is unique")
    title = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    channel = serializers.CharField(allow_blank=True)
    channel_label = serializers.CharField(allow_blank=True)
    associate = serializers.CharField(allow_blank=True)


class TimelinePageOut(serializers.Serializer):
    events = TimelineEventOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="Pass as ?after= for the next page; null on the last")


class SidebarTimelineApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_timeline_list",
        parameters=[
            OpenApiParameter("after", OpenApiTypes.STR, description="The `next` of the previous page"),
        ],
        responses={200: TimelinePageOut, **error_responses(400)},
        tags=["sidebar"],
    )
    def get(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        after = request.query_params.get("after")
        page = customer_timeline(
            customer_id=customer.pk, viewer=request.user, after=Cursor.decode(after) if after else None
        )
        return Response(
            {
                "events": [
                    {
                        "at": moment_json(event.at),
                        "kind": event.kind,
                        "kind_label": KIND_LABELS[event.kind],
                        "id": event.id,
                        "title": event.title,
                        "detail": event.detail,
                        "amount": None if event.amount is None else money_json(event.amount),
                        "channel": event.channel,
                        "channel_label": event.channel_label,
                        "associate": event.associate,
                    }
                    for event in page.events
                ],
                "next": page.next.encode() if page.next else None,
            }
        )
