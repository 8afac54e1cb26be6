"""The associate's own notice settings, under /api/v1/sidebar/notices/preference/: quiet hours (local time; a notice
inside them waits for their end) and the daily cap (beyond it notices fold into the next morning digest)."""

import datetime as dt

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from notices.models import NoticePreference
from notices.services import DAILY_CAP_MAX, notice_preference_get, notice_preference_update
from sidebar.base import SidebarApi

HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NoticePreferenceSerializer(serializers.Serializer):
    quiet_start = serializers.RegexField(HH_MM, help_text="HH:MM, local time (Asia/Shanghai)")
    quiet_end = serializers.RegexField(HH_MM, help_text="HH:MM, local time; equal to quiet_start: no quiet hours")
    daily_cap = serializers.IntegerField(min_value=1, max_value=DAILY_CAP_MAX)


def preference_json(preference: NoticePreference) -> dict:
    return {
        "quiet_start": preference.quiet_start.strftime("%H:%M"),
        "quiet_end": preference.quiet_end.strftime("%H:%M"),
        "daily_cap": preference.daily_cap,
    }


class SidebarNoticePreferenceApi(SidebarApi):
    @extend_schema(operation_id="sidebar_notice_preference_get", responses=NoticePreferenceSerializer, tags=["sidebar"])
    def get(self, request):
        return Response(preference_json(notice_preference_get(associate=request.user)))

    @extend_schema(
        operation_id="sidebar_notice_preference_set",
        request=NoticePreferenceSerializer,
        responses=NoticePreferenceSerializer,
        tags=["sidebar"],
        description="Set my quiet hours (equal start and end: none) and daily cap.",
    )
    def put(self, request):
        data = NoticePreferenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        preference = notice_preference_update(
            associate=request.user,
            quiet_start=dt.time.fromisoformat(values["quiet_start"]),
            quiet_end=dt.time.fromisoformat(values["quiet_end"]),
            daily_cap=values["daily_cap"],
        )
        return Response(preference_json(preference))
