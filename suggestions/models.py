"""Add-on suggestions: the merchandisers' complement rules, the nightly-built models, and the products
associates send to customers (outreach, which attribution credits sales to)."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models
from django.utils import timezone

from customers.categories import CATEGORY_LABELS, category_label

_CODE_BY_LABEL = {label: code for code, label in CATEGORY_LABELS.items()}
_SEPARATORS = re.compile(r"[\s,，、;；/]+")


def category_code_clean(value: str) -> str:
    """A category as a code: a known code, the Chinese name of one (腰带 → belt), or a brand's own slug."""
    value = value.strip()
    code = _CODE_BY_LABEL.get(value, value)
    if code in CATEGORY_LABELS:
        return code
    if not code:
        raise ValidationError("品类不能为空。", code="category_empty")
    try:
        validate_slug(code)
    except ValidationError:
        raise ValidationError(
            "未知品类「%(value)s」：请填写品类编码（如 belt）或已有品类的中文名（如 腰带）。",
            code="category_unknown",
            params={"value": value},
        ) from None
    return code


def category_codes_parse(text: str) -> list[str]:
    """The categories listed in `text`, separated by commas, 、 or spaces, as codes, in order, once each."""
    codes = [category_code_clean(part) for part in _SEPARATORS.split(text) if part]
    return list(dict.fromkeys(codes))


class ComplementRule(models.Model):
    """A merchandiser's "this category sells with those": seeds suggestions for items with no order history."""

    category = models.CharField(
        "品类", max_length=50, unique=True, help_text="品类编码（如 dress）或中文名（如 连衣裙）"
    )
    complements = models.CharField(
        "搭配品类", max_length=500, help_text="用逗号、顿号或空格分隔，如：腰带、围巾丝巾 或 belt, scarf"
    )
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "搭配规则"
        verbose_name_plural = "搭配规则"
        ordering = ["category"]

    def __str__(self) -> str:
        targets = "、".join(category_label(code) for code in self.complement_codes)
        return f"{category_label(self.category)} → {targets}"

    @property
    def complement_codes(self) -> list[str]:
        """The complement categories as codes (clean() stores codes; a row written without it may hold names)."""
        return list(
            dict.fromkeys(_CODE_BY_LABEL.get(part, part) for part in _SEPARATORS.split(self.complements) if part)
        )

    def clean(self) -> None:
        errors = {}
        try:
            self.category = category_code_clean(self.category)
        except ValidationError as error:
            errors["category"] = error
        try:
            codes = category_codes_parse(self.complements)
        except ValidationError as error:
            errors["complements"] = error
        else:
            if self.category in codes:
                errors["complements"] = ValidationError("品类不能与自身搭配。", code="complement_self")
            elif not codes:
                errors["complements"] = ValidationError("请至少填写一个搭配品类。", code="complements_empty")
            else:
                self.complements = "、".join(codes)
        if errors:
            raise ValidationError(errors)


class SuggestionModel(models.Model):
    """One build of the suggestion model from all orders; the newest ready one serves."""

    class Status(models.TextChoices):
        BUILDING = "building", "构建中"
        READY = "ready", "可用"
        FAILED = "failed", "失败"

    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.BUILDING)
    started_at = models.DateTimeField("开始时间", default=timezone.now)
    built_at = models.DateTimeField("完成时间", null=True, blank=True)
    lines = models.PositiveBigIntegerField("订单行", default=0)
    baskets = models.PositiveBigIntegerField("购物篮", default=0, help_text="一位客户一天买的商品算一个购物篮")
    items = models.PositiveIntegerField("商品数", default=0)
    seconds = models.FloatField("用时（秒）", null=True, blank=True)
    peak_mb = models.FloatField("内存峰值（MB）", null=True, blank=True, help_text="构建期间进程常驻内存的峰值")
    payload_bytes = models.PositiveBigIntegerField("模型大小（字节）", default=0)
    error = models.TextField("错误", blank=True)
    # suggestions.engine.Model, pickled and zlib-compressed.
    payload = models.BinaryField("模型", null=True, editable=False)

    class Meta:
        verbose_name = "推荐模型"
        verbose_name_plural = "推荐模型"
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["status", "-built_at"], name="suggestion_model_ready")]
        permissions = [("rebuild_suggestionmodel", "可立即重建推荐模型")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="building"), name="one_suggestion_build_at_a_time"
            )
        ]

    def __str__(self) -> str:
        return f"推荐模型 #{self.pk}（{self.get_status_display()}）"


class Outreach(models.Model):
    """A product an associate sent to a customer in chat; attribution credits later sales to it."""

    class Source(models.TextChoices):
        SUGGESTION = "suggestion", "为客户推荐"
        ADDON = "addon", "搭配推荐"
        MANUAL = "manual", "手动选择"

    request_id = models.UUIDField("请求号", unique=True, help_text="客户端为每次发送生成；重试不会重复记录")
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", on_delete=models.PROTECT, related_name="outreaches"
    )
    # The associate's store when they sent it: the store is credited even if the associate moves later.
    store = models.ForeignKey("associates.Store", verbose_name="门店", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="outreaches"
    )
    product = models.ForeignKey(
        "customers.Product", verbose_name="商品", on_delete=models.PROTECT, related_name="outreaches"
    )
    source = models.CharField("来源", max_length=16, choices=Source.choices)
    reason = models.CharField("推荐理由", max_length=200, blank=True)
    sent_at = models.DateTimeField("发送时间", default=timezone.now)

    class Meta:
        verbose_name = "商品推送记录"
        verbose_name_plural = "商品推送记录"
        ordering = ["-sent_at"]
        indexes = [
            models.Index(fields=["customer", "sent_at"], name="outreach_customer_sent"),
            models.Index(fields=["associate", "sent_at"], name="outreach_associate_sent"),
            models.Index(fields=["store", "sent_at"], name="outreach_store_sent"),
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.sent_at):%Y-%m-%d %H:%M} {self.get_source_display()}"
