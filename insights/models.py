"""Manager insight: which associate and store each order is credited to (and why), daily figures for the
dashboard, and client-book handovers (在职继承 / 离职继承) with each customer's transfer outcome.

Attribution and figures live here, never on other apps' rows: `Order.associate` stays the cashier the POS
sent, coupon ledgers keep their sender, and a handover rewrites neither.
"""

from decimal import Decimal

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
    PICKUP = "pickup", "预留取货"
    RETURN = "return", "退货冲减"


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


class SalesTarget(models.Model):
    """A month's target set by a store's manager: for the store (associate empty) or for one of its associates.

    One row per (month, store, associate), so a CSV imported twice changes nothing the second time."""

    month = models.DateField("月份", help_text="该月的第一天")
    store = models.ForeignKey("associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="导购",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="留空为门店目标",
    )
    amount = models.DecimalField("销售目标（元）", max_digits=14, decimal_places=2)
    new_customers = models.PositiveIntegerField("新客目标", null=True, blank=True)
    updated_at = models.DateTimeField("修改时间", auto_now=True)

    class Meta:
        verbose_name = "月度目标"
        verbose_name_plural = "月度目标"
        ordering = ["-month", "store_id", "associate_id"]
        constraints = [
            models.UniqueConstraint(fields=["month", "store", "associate"], name="insights_target_unique"),
            models.UniqueConstraint(
                fields=["month", "store"], condition=models.Q(associate=None), name="insights_target_store_unique"
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="insights_target_amount_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.store_id}/{self.associate_id or '门店'}"
