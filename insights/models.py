"""Manager insight: which associate and store each order is credited to (and why), daily figures for the
dashboard, and client-book handovers (在职继承 / 离职继承) with each customer's transfer outcome.

Attribution and figures live here, never on other apps' rows: `Order.associate` stays the cashier the POS
sent, coupon ledgers keep their sender, and a handover rewrites neither.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models


class Rule(models.TextChoices):
    LAST_TOUCH = "last_touch", "最后触达"
    SPLIT = "split", "窗口内触达导购平分"


class AttributionConfig(models.Model):
    """The attribution rule in force: one row (pk=1), changed by HQ; old attributions keep the rule they used
    until a recompute of their period."""

    rule = models.CharField("归因规则", max_length=16, choices=Rule.choices, default=Rule.LAST_TOUCH)
    window_days = models.PositiveSmallIntegerField(
        "归因窗口（天）", default=14, help_text="下单前多少天内的触达计入业绩"
    )
    # Orders up to this id have been attributed by the incremental job (a recompute redoes any period).
    attributed_through_order_id = models.BigIntegerField("已归因至订单ID", default=0, editable=False)
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = "归因规则"
        verbose_name_plural = "归因规则"

    def __str__(self) -> str:
        return f"{self.get_rule_display()} · {self.window_days} 天"


class TouchKind(models.TextChoices):
    CASHIER = "cashier", "收银导购"
    STORE = "store", "门店自然销售"
    WELCOME = "welcome", "欢迎语"
    PRODUCT_CARD = "product_card", "商品卡片"
    COUPON_PACK = "coupon_pack", "发券包"
    COUPON_REDEEM = "coupon_redeem", "核销导购的券"
    INVITE = "invite", "社群邀请"
    CAMPAIGN = "campaign", "群发消息"


class Attribution(models.Model):
    """One credited share of an order: to whom, how much, and the touch that earned it."""

    order = models.ForeignKey(
        "customers.Order", verbose_name="订单", on_delete=models.CASCADE, related_name="attributions"
    )
    customer_id = models.BigIntegerField("客户（合并后）", null=True)
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="导购",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="attributions",
    )
    store = models.ForeignKey(
        "associates.Store", verbose_name="门店", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    share = models.DecimalField("份额", max_digits=5, decimal_places=4, default=Decimal("1"))
    amount = models.DecimalField("计入金额", max_digits=14, decimal_places=2)
    placed_at = models.DateTimeField("下单时间", db_index=True)
    touch_kind = models.CharField("触达方式", max_length=16, choices=TouchKind.choices)
    touch_id = models.BigIntegerField("触达记录ID", null=True, blank=True)
    touch_at = models.DateTimeField("触达时间", null=True, blank=True)
    rule = models.CharField("规则", max_length=16, choices=Rule.choices)
    window_days = models.PositiveSmallIntegerField("窗口（天）")
    computed_at = models.DateTimeField("计算时间")

    class Meta:
        verbose_name = "业绩归因"
        verbose_name_plural = "业绩归因"
        ordering = ["-placed_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["order", "associate"], name="attribution_order_associate")]
        indexes = [
            models.Index(fields=["associate", "placed_at"]),
            models.Index(fields=["store", "placed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} → {self.associate_id or self.store_id} ({self.share})"


class DailyStats(models.Model):
    """The dashboard's figures per day, store and associate (associate empty: the store's own), rebuilt by
    Celery from the ledgers so the pages read a few thousand rows instead of a million orders."""

    day = models.DateField("日期")
    store = models.ForeignKey("associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    customers_added = models.PositiveIntegerField("新增客户", default=0)
    customers_touched = models.PositiveIntegerField("触达客户", default=0)
    outreach_sent = models.PositiveIntegerField("商品推送", default=0)
    suggestions_sent = models.PositiveIntegerField("推荐发送", default=0)
    suggestions_bought = models.PositiveIntegerField("推荐成交", default=0)
    coupon_packs_sent = models.PositiveIntegerField("券包发送", default=0)
    coupons_sent = models.PositiveIntegerField("发券（张）", default=0)
    coupons_redeemed = models.IntegerField("核销（张）", default=0)
    invites_sent = models.PositiveIntegerField("社群邀请", default=0)
    invites_joined = models.PositiveIntegerField("入群", default=0)
    campaign_confirmations = models.PositiveIntegerField("群发确认", default=0)
    orders = models.DecimalField("归因订单", max_digits=12, decimal_places=4, default=Decimal("0"))
    gmv = models.DecimalField("归因GMV", max_digits=16, decimal_places=2, default=Decimal("0"))

    class Meta:
        verbose_name = "业绩看板"
        verbose_name_plural = "业绩看板"
        constraints = [
            models.UniqueConstraint(fields=["day", "store", "associate"], name="insights_daily_unique"),
            models.UniqueConstraint(
                fields=["day", "store"], condition=models.Q(associate=None), name="insights_daily_store_unique"
            ),
        ]
        indexes = [models.Index(fields=["store", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}/{self.associate_id}"


class Handover(models.Model):
    """A manager moving an associate's customers to another associate through WeCom's transfer APIs."""

    class Kind(models.TextChoices):
        ONJOB = "onjob", "在职继承"
        RESIGNED = "resigned", "离职继承"

    from_associate = models.ForeignKey(
        "associates.Associate", verbose_name="原导购", on_delete=models.PROTECT, related_name="handovers_out"
    )
    to_associate = models.ForeignKey(
        "associates.Associate", verbose_name="接替导购", on_delete=models.PROTECT, related_name="handovers_in"
    )
    kind = models.CharField("方式", max_length=16, choices=Kind.choices)
    message = models.CharField(
        "转接提示语", max_length=200, blank=True, help_text="在职继承时发给客户的提示；留空使用企业微信默认"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("发起时间", auto_now_add=True)

    class Meta:
        verbose_name = "客户交接"
        verbose_name_plural = "客户交接"
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class HandoverItem(models.Model):
    """One customer in a handover and what WeCom did with them."""

    class Status(models.TextChoices):
        WAITING = "waiting", "等待接替"
        SUCCEEDED = "succeeded", "已接替"
        FAILED = "failed", "失败"

    handover = models.ForeignKey(Handover, verbose_name="交接", on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey("customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="+")
    external_userid = models.CharField("外部联系人ID", max_length=64)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.WAITING)
    errcode = models.IntegerField("错误码", default=0)
    fail_reason = models.CharField("失败原因", max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=1)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    finished_at = models.DateTimeField("接替时间", null=True, blank=True)

    class Meta:
        verbose_name = "交接客户"
        verbose_name_plural = "交接客户"
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["handover", "external_userid"], name="handover_item_unique"),
        ]
        indexes = [models.Index(fields=["external_userid", "status"])]

    def __str__(self) -> str:
        return self.external_userid

    FAIL_LABELS = {
        "customer_refused": "客户拒绝",
        "customer_limit_exceed": "接替导购客户数已达上限",
    }

    @property
    def fail_label(self) -> str:
        if self.fail_reason:
            return self.FAIL_LABELS.get(self.fail_reason, self.fail_reason)
        return f"企业微信错误 {self.errcode}" if self.errcode else ""
