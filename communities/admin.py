"""Admin for community invites, scoped to the manager's stores: communities (editable), and as records the
groups, their members and join/leave events, the associates' invite codes, and the invites with their funnel
per associate and per store."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q

from associates.scoping import StoreScopedAdmin, request_store_ids
from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, GroupMemberEvent, Invite
from communities.selectors import invite_funnel_rows
from omni.admin import ReadOnlyAdmin
from wecom import constants as C


def _chats_of_stores(store_ids) -> Q:
    """Groups a manager may see: owned by one of their associates, or behind one of their communities."""
    return Q(owner__store__in=store_ids) | Q(communities__store__in=store_ids)


class CommunityForm(forms.ModelForm):
    class Meta:
        model = Community
        fields = [
            "store",
            "name",
            "chats",
            "auto_create_room",
            "room_base_name",
            "brand_color",
            "copy_line",
            "is_active",
        ]

    def clean_chats(self):
        chats = self.cleaned_data["chats"]
        if len(chats) > C.JOIN_WAY_MAX_CHAT_IDS and not self.cleaned_data.get("auto_create_room"):
            raise ValidationError(f"一个加入群聊二维码最多对应 {C.JOIN_WAY_MAX_CHAT_IDS} 个群")
        return chats

    def clean_brand_color(self):
        color = self.cleaned_data["brand_color"]
        if len(color) != 7 or not color.startswith("#") or any(c not in "0123456789abcdefABCDEF" for c in color[1:]):
            raise ValidationError("请填写 #RRGGBB 格式的颜色，如 #07C160")
        return color.upper()


@admin.register(Community)
class CommunityAdmin(StoreScopedAdmin):
    form = CommunityForm
    list_display = ["name", "store", "group_count", "is_active", "created_at"]
    list_filter = ["is_active", "store"]
    search_fields = ["name", "store__name"]
    filter_horizontal = ["chats"]
    list_select_related = ["store"]

    @admin.display(description="群数")
    def group_count(self, obj):
        return obj.chats.count()

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        store_ids = request_store_ids(request)
        if db_field.name == "chats":
            chats = GroupChat.objects.filter(status=GroupChat.Status.ACTIVE)
            if store_ids is not None:
                chats = chats.filter(_chats_of_stores(store_ids)).distinct()
            kwargs["queryset"] = chats.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(GroupChat)
class GroupChatAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["__str__", "owner", "member_count", "status", "synced_at"]
    list_filter = ["status"]
    search_fields = ["name", "chat_id", "owner__name"]
    list_select_related = ["owner"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return queryset
        return queryset.filter(_chats_of_stores(store_ids)).distinct()


@admin.register(GroupMember)
class GroupMemberAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["__str__", "chat", "member_type", "customer", "is_member", "joined_at", "left_at", "invite_code"]
    list_filter = ["is_member", "member_type"]
    search_fields = ["name", "userid", "chat__name"]
    list_select_related = ["chat", "customer", "invite_code"]
    raw_id_fields = ["customer"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return queryset
        return queryset.filter(chat__in=GroupChat.objects.filter(_chats_of_stores(store_ids)))


@admin.register(GroupMemberEvent)
class GroupMemberEventAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["at", "kind", "member", "chat", "join_scene", "quit_scene", "credited_associate"]
    list_filter = ["kind"]
    list_select_related = ["member", "chat", "credited_associate"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return queryset
        return queryset.filter(chat__in=GroupChat.objects.filter(_chats_of_stores(store_ids)))


@admin.register(CommunityInviteCode)
class CommunityInviteCodeAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    store_field = "community__store"
    list_display = ["state", "community", "associate", "config_id", "poster_uploaded_at"]
    list_select_related = ["community", "associate"]


@admin.register(Invite)
class InviteAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    change_list_template = "admin/communities/invite/change_list.html"
    list_display = ["sent_at", "associate", "customer", "community", "channel", "status", "joined_at", "left_at"]
    list_filter = ["status", "channel", "store", "sent_at"]
    search_fields = ["associate__name", "customer__name", "request_id"]
    list_select_related = ["associate", "customer", "community"]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # The funnel follows the list's filters and the manager's scope (the changelist's own queryset).
            invites = changelist.queryset
            response.context_data["funnel_by_associate"] = invite_funnel_rows(invites=invites, by="associate")
            response.context_data["funnel_by_store"] = invite_funnel_rows(invites=invites, by="store")
        return response
