"""The associate's quick-reply library (话术库) and material library (素材库), and the record of what was sent from
them into a chat.

Scope, the same for replies, their groups and materials: no store and no owner is HQ's (every store sees it); a
store and no owner is that store's; an owner (an associate, with their store) is that associate's own reply. What
was sent (`SentMessage`) is the customer's timeline of "messages sent from Omni"."""

from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from associates.models import Associate, Store
from library.variables import reply_text_variables
from omni.errors import ApplicationError


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, associate: Associate) -> "ScopedQuerySet":
        """HQ's rows, the associate's store's rows, and the associate's own."""
        return self.filter(
            Q(store__isnull=True, owner__isnull=True)
            | Q(store=associate.store_id, owner__isnull=True)
            | Q(owner=associate)
        )


class ScopedFields(models.Model):
    store = models.ForeignKey(
        Store,
        verbose_name="门店",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="留空：总部（所有门店可见）",
    )
    owner = models.ForeignKey(
        Associate,
        verbose_name="个人（导购）",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        editable=False,
        help_text="导购自己的话术，仅本人可见",
    )
    position = models.PositiveIntegerField("排序", default=100, help_text="小的在前")
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def scope_label(self) -> str:
        if self.owner_id:
            return "我的"
        return "门店" if self.store_id else "总部"


class ReplyGroup(ScopedFields):
    name = models.CharField("分组名称", max_length=50)

    class Meta:
        verbose_name = verbose_name_plural = "话术分组"
        ordering = ["position", "pk"]
        constraints = [models.CheckConstraint(condition=Q(owner__isnull=True), name="library_group_not_personal")]

    def __str__(self) -> str:
        return f"{self.name}（{self.store.name if self.store_id else '总部'}）"


class QuickReply(ScopedFields):
    group = models.ForeignKey(
        ReplyGroup, verbose_name="分组", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    title = models.CharField("标题", max_length=100)
    text = models.TextField(
        "话术内容",
        max_length=1000,
        help_text="可插入变量：{客户称呼} {客户名} {导购} {门店} {券包金额}，发送时按当前聊天的客户填写",
    )

    class Meta:
        verbose_name = verbose_name_plural = "快捷话术"
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(store__isnull=False), name="library_reply_owner_store"
            )
        ]
        # Keyword search (ILIKE '%词%') on PostgreSQL: trigram GIN indexes, which also serve CJK substrings.
        indexes = [
            GinIndex(fields=["title"], opclasses=["gin_trgm_ops"], name="library_reply_title_trgm"),
            GinIndex(fields=["text"], opclasses=["gin_trgm_ops"], name="library_reply_text_trgm"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        try:
            reply_text_variables(self.text or "")
        except ApplicationError as exc:
            raise ValidationError({"text": exc.message}, code=exc.code) from exc


class Material(ScopedFields):
    class Kind(models.TextChoices):
        IMAGE = "image", "图片"
        LINK = "link", "链接"
        MINIPROGRAM = "miniprogram", "小程序"
        FILE = "file", "文件"
        PRODUCT = "product", "商品卡片"

    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    title = models.CharField("标题", max_length=100)
    description = models.CharField("描述", max_length=200, blank=True)
    # Images and files are kept here (uploaded to WeCom as temporary media when sent).
    content = models.BinaryField("文件内容", null=True, blank=True, editable=False)
    filename = models.CharField("文件名", max_length=200, blank=True, editable=False)
    content_type = models.CharField("文件类型", max_length=100, blank=True, editable=False)
    link_url = models.URLField("链接地址", max_length=500, blank=True)
    cover_url = models.URLField("封面图地址", max_length=500, blank=True, help_text="链接卡片与小程序卡片的封面")
    miniprogram_appid = models.CharField("小程序 AppID", max_length=64, blank=True)
    miniprogram_page = models.CharField("小程序页面路径", max_length=300, blank=True, help_text="如 pages/index/index")
    product = models.ForeignKey(
        "customers.Product", verbose_name="商品", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # WeCom keeps temporary media three days: the media_id is refreshed before that (library.services).
    media_id = models.CharField("企业微信 media_id", max_length=128, blank=True, editable=False)
    media_uploaded_at = models.DateTimeField("上传时间", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "素材"
        ordering = ["position", "pk"]
        constraints = [models.CheckConstraint(condition=Q(owner__isnull=True), name="library_material_not_personal")]
        indexes = [GinIndex(fields=["title"], opclasses=["gin_trgm_ops"], name="library_material_title_trgm")]

    def __str__(self) -> str:
        return self.title

    # What each kind needs besides its title (images and files need their upload: library.admin).
    REQUIRED = {
        Kind.LINK: ("link_url",),
        Kind.MINIPROGRAM: ("miniprogram_appid", "miniprogram_page", "cover_url"),
        Kind.PRODUCT: ("product",),
    }

    def clean(self) -> None:
        missing = {
            name: "此类型的素材必须填写。"
            for name in self.REQUIRED.get(self.kind, ())
            if not getattr(self, name if name != "product" else "product_id")
        }
        if missing:
            raise ValidationError(missing)


class SentMessage(models.Model):
    """One tap that put a quick reply or a material in a chat: who, to whom, what, when (the customer timeline's
    "messages sent from Omni"). Unique per associate and request id: a retried tap records nothing new."""

    class Kind(models.TextChoices):
        REPLY = "reply", "话术"
        MATERIAL = "material", "素材"

    request_id = models.CharField("请求号", max_length=64)
    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.CASCADE, related_name="library_messages"
    )
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    reply = models.ForeignKey(
        QuickReply, verbose_name="话术", null=True, blank=True, on_delete=models.SET_NULL, related_name="sends"
    )
    material = models.ForeignKey(
        Material, verbose_name="素材", null=True, blank=True, on_delete=models.SET_NULL, related_name="sends"
    )
    title = models.CharField("标题", max_length=100)
    msgtype = models.CharField("消息类型", max_length=16)
    message = models.JSONField("消息内容", help_text="交给 sendChatMessage 的内容（话术为填好变量的文字）")
    sent_at = models.DateTimeField("发送时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = verbose_name_plural = "话术与素材发送记录"
        ordering = ["-sent_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["associate", "request_id"], name="library_sent_request_unique")]
        indexes = [models.Index(fields=["customer", "sent_at"], name="library_sent_customer")]

    def __str__(self) -> str:
        return f"{self.associate} → {self.customer_id}：{self.title}"
