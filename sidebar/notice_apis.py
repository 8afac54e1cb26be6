"""The associate's own notice settings, under /api/v1/sidebar/notices/preference/: quiet hours (local time; a notice
inside them waits for their end) and the daily cap (beyond it notices fold into the next morning digest)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from notices.models import NoticePreference
from notices.services import DAILY_CAP_MAX, notice_preference_get, notice_preference_update
from sidebar.base import SidebarApi


class NoticePreferenceSerializer(serializers.ModelSerializer):
    daily_cap = serializers.IntegerField(min_value=1, max_value=DAILY_CAP_MAX)

    class Meta:
        model = NoticePreference
        fields = ["quiet_start", "quiet_end", "daily_cap"]


class SidebarNoticePreferenceApi(SidebarApi):
    @extend_schema(operation_id="sidebar_notice_preference_get", responses=NoticePreferenceSerializer, tags=["sidebar"])
    def get(self, request):
        return Response(NoticePreferenceSerializer(notice_preference_get(associate=request.user)).data)

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
        preference = notice_preference_update(associate=request.user, **data.validated_data)
        return Response(NoticePreferenceSerializer(preference).data)
