"""Admin of the library, scoped by store: HQ writes replies, groups and materials for every store (no store), a
store manager for their stores and sees HQ's read-only; an associate's own replies stay theirs (not listed here).
Each reply shows how often it was sent; the send records list who sent what to whom."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from associates.scoping import StoreScopedAdmin, request_store_ids
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from library.variables import VARIABLES
from omni.admin import ReadOnlyAdmin
from wecom import constants as C

IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class LibraryScopedAdmin(StoreScopedAdmin):
    """HQ's rows (no store) and the manager's stores' rows; a manager may not change or delete HQ's, nor save a
    row without one of their stores."""

    def get_queryset(self, request):
        rows = admin.ModelAdmin.get_queryset(self, request).filter(owner__isnull=True)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return rows
        return rows.filter(Q(store__in=store_ids) | Q(store__isnull=True))

    def _hq_row_of_manager(self, request, obj) -> bool:
        return obj is not None and obj.store_id is None and request_store_ids(request) is not None

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._hq_row_of_manager(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._hq_row_of_manager(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if request_store_ids(request) is not None and "store" in form.base_fields:
            form.base_fields["store"].required = True
            form.base_fields["store"].help_text = "店长只能为自己的门店添加"
        return form


@admin.register(ReplyGroup)
class ReplyGroupAdmin(LibraryScopedAdmin):
    list_display = ["name", "store", "position", "is_active"]
    list_filter = ["store", "is_active"]
    search_fields = ["name"]
    fields = ["name", "store", "position", "is_active"]


@admin.register(QuickReply)
class QuickReplyAdmin(LibraryScopedAdmin):
    list_display = ["title", "group", "store", "uses", "position", "is_active", "updated_at"]
    list_filter = ["store", "is_active"]
    search_fields = ["title", "text"]
    fields = ["group", "title", "text", "store", "position", "is_active"]
    list_select_related = ["group", "store"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(use_count=Count("sends"))

    @admin.display(description="发送次数", ordering="use_count")
    def uses(self, obj) -> int:
        return obj.use_count

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "group":
            field.queryset = ReplyGroupAdmin(ReplyGroup, self.admin_site).get_queryset(request)
        return field

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "text" in form.base_fields:  # not on a read-only view
            form.base_fields["text"].help_text = "可插入变量（发送时按当前客户填写）：" + "；".join(
                f"{{{name}}} {what}" for name, what in VARIABLES.items()
            )
        return form


class MaterialForm(forms.ModelForm):
    upload = forms.FileField(label="上传图片或文件", required=False, help_text="图片：JPG/PNG，≤10MB；文件：≤20MB")

    class Meta:
        model = Material
        fields = [
            "kind",
            "title",
            "description",
            "upload",
            "link_url",
            "cover_url",
            "miniprogram_appid",
            "miniprogram_page",
            "product",
            "store",
            "position",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        upload, kind = data.get("upload"), data.get("kind")
        if kind in (Material.Kind.IMAGE, Material.Kind.FILE):
            if upload is None and not (self.instance.pk and self.instance.filename and self.instance.kind == kind):
                raise ValidationError({"upload": "图片和文件素材需要上传文件。"})
            if upload is not None:
                content = upload.read()
                limit = C.MEDIA_IMAGE_MAX_BYTES if kind == Material.Kind.IMAGE else C.MEDIA_FILE_MAX_BYTES
                if not C.MEDIA_MIN_BYTES <= len(content) <= limit:
                    raise ValidationError({"upload": f"文件须在 {limit // 1024 // 1024}MB 以内，且不能为空。"})
                content_type = next((t for magic, t in IMAGE_TYPES.items() if content.startswith(magic)), "")
                if kind == Material.Kind.IMAGE and not content_type:
                    raise ValidationError({"upload": "图片须为 JPG 或 PNG。"})
                self.instance.content = content
                self.instance.filename = upload.name[:200]
                self.instance.content_type = content_type or upload.content_type or "application/octet-stream"
                # A new file is a new upload to WeCom on the next send.
                self.instance.media_id, self.instance.media_uploaded_at = "", None
        return data


@admin.register(Material)
class MaterialAdmin(LibraryScopedAdmin):
    form = MaterialForm
    list_display = ["title", "kind", "store", "uses", "position", "is_active", "media_uploaded_at"]
    list_filter = ["kind", "store", "is_active"]
    search_fields = ["title", "description"]
    autocomplete_fields = ["product"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content").annotate(use_count=Count("sends"))

    @admin.display(description="发送次数", ordering="use_count")
    def uses(self, obj) -> int:
        return obj.use_count


@admin.register(SentMessage)
class SentMessageAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["sent_at", "associate", "customer", "kind", "title", "msgtype", "store"]
    list_filter = ["kind", "store", "sent_at"]
    search_fields = ["title", "associate__name", "customer__name", "request_id"]
    list_select_related = ["associate", "customer", "store"]
