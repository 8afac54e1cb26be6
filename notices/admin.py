"""Notices and the associates' quiet hours and daily cap in admin, scoped by the associate's store."""

from django.contrib import admin

from associates.scoping import StoreScopedAdmin
from notices.models import Notice, NoticePreference


@admin.register(Notice)
class NoticeAdmin(StoreScopedAdmin):
    store_field = "associate__store"
    list_display = ["title", "associate", "kind", "status", "send_after", "sent_at", "attempts"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in Notice._meta.fields]
    # A record of what was told: read-only, nothing to do in bulk.
    actions = None


@admin.register(NoticePreference)
class NoticePreferenceAdmin(StoreScopedAdmin):
    store_field = "associate__store"
    list_display = ["associate", "quiet_start", "quiet_end", "daily_cap"]
    fields = ["associate", "quiet_start", "quiet_end", "daily_cap"]
    actions = None
