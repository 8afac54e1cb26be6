"""Coupons: templates (批次), packs (券包), issued coupons, and the ledgers that say what happened to them.

Money rules live in the database. Every "at most N" is a conditional UPDATE or an upsert with a WHERE on a
counter row (`coupons.sending`, `coupons.sending_many`); the counters on templates and packs are caches of the
ledgers (`IssueRequest`, `Coupon`, `Redemption`), which reports read. Each retried write carries a request number
unique in its ledger.
"""

import datetime as dt
from decimal import Decimal

from django.db import models
from django.db.models import F, Q


def yuan(amount: Decimal | int) -> str:
    """An amount as people write it on a coupon: 300, 12.5, 0.99 (no trailing zeros, never 3E+2)."""
    return format(Decimal(amount).quantize(Decimal("0.01")).normalize(), "f")


class Channels(models.TextChoices):
    STORE = "store", "门店"
    ONLINE = "online", "线上"
    BOTH = "both", "门店和线上"


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", "立减券"
        PERCENT_OFF = "percent_off", "折扣券"
        THRESHOLD = "threshold", "满减券"
        GIFT = "gift", "赠品券"

    class Scope(models.TextChoices):
        ALL = "all", "全场通用"
        CATEGORIES = "categories", "指定品类"
        SKUS = "skus", "指定商品"

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        RUNNING = "running", "发放中"
        PAUSED = "paused", "已暂停"
        STOPPED = "stopped", "已停止"

    class Stacking(models.TextChoices):
        EXCLUSIVE = "exclusive", "不可与其他券同用"
        COMBINABLE = "combinable", "可与其他可叠加券同用"

    class RestoreOnReturn(models.TextChoices):
        """Whether a coupon used on an order comes back when the lines it applied to are returned (coupons.returns)."""

        NEVER = "never", "退货不退券"
        ALL_RETURNED = "all_returned", "适用商品全部退货后退回"
        ANY_RETURNED = "any_returned", "任一适用商品退货即退回"

    name = models.CharField("券名称", max_length=100)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    value = models.DecimalField(
        "面额 / 折扣",
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="立减券、满减券：减多少元；折扣券：减百分之几（如 15 表示 85 折）；赠品券：赠品价值",
    )
    threshold = models.DecimalField(
        "使用门槛（元）",
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="适用商品满多少元可用；0 表示无门槛。满减券必须填写",
    )
    max_discount = models.DecimalField(
        "最多减（元）", max_digits=12, decimal_places=2, null=True, blank=True, help_text="折扣券必须填写封顶金额"
    )
    gift_product = models.ForeignKey(
        "customers.Product",
        verbose_name="赠品",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    scope = models.CharField("适用范围", max_length=16, choices=Scope.choices, default=Scope.ALL)
    categories = models.JSONField("适用品类", default=list, blank=True, help_text='如 ["连衣裙", "配饰"]')
    products = models.ManyToManyField(
        "customers.Product", verbose_name="适用商品", blank=True, related_name="coupon_templates"
    )
    channels = models.CharField("可用渠道", max_length=8, choices=Channels.choices, default=Channels.BOTH)
    stores = models.ManyToManyField(
        "associates.Store",
        verbose_name="可用门店",
        blank=True,
        related_name="coupon_templates",
        help_text="留空表示全部门店；只影响门店核销",
    )
    valid_from = models.DateTimeField("有效期开始", null=True, blank=True, help_text="固定有效期：开始")
    valid_until = models.DateTimeField("有效期结束", null=True, blank=True, help_text="固定有效期：结束")
    valid_days = models.PositiveIntegerField(
        "领取后有效天数", null=True, blank=True, help_text="相对有效期：发放后 N 天内有效（与固定有效期二选一）"
    )
    valid_delay_days = models.PositiveIntegerField("发放后几天生效", default=0)
    weekdays = models.JSONField(
        "可用星期", default=list, blank=True, help_text="1=周一 … 7=周日，如 [6, 7]；留空表示每天"
    )
    day_starts = models.TimeField("每日可用开始", null=True, blank=True)
    day_ends = models.TimeField("每日可用结束", null=True, blank=True, help_text="北京时间；留空表示全天")
    total_stock = models.PositiveIntegerField("总库存（张）")
    per_customer_limit = models.PositiveIntegerField("每人限领（张）", default=1)
    per_day_limit = models.PositiveIntegerField("每日限发（张）", null=True, blank=True, help_text="留空表示不限")
    stacking = models.CharField("叠加规则", max_length=16, choices=Stacking.choices, default=Stacking.EXCLUSIVE)
    restore_on_return = models.CharField(
        "退货退券",
        max_length=16,
        choices=RestoreOnReturn.choices,
        default=RestoreOnReturn.NEVER,
        db_default=RestoreOnReturn.NEVER,
        help_text="顾客在任一门店退货时，用在所退商品上的券是否退回（退回后在有效期内可再次使用）",
    )
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Caches of the ledgers, written in the same statements that enforce the limits.
    issued_count = models.PositiveIntegerField("已发放（张）", default=0, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "优惠券批次"
        verbose_name_plural = "优惠券批次"
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(issued_count__lte=F("total_stock")), name="coupon_template_in_stock"),
            models.CheckConstraint(condition=Q(value__gte=0) & Q(threshold__gte=0), name="coupon_template_amounts"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def face_value(self) -> Decimal:
        """What one coupon may cost the brand at most: what a pack's budget is counted in."""
        if self.kind == self.Kind.PERCENT_OFF:
            return self.max_discount or Decimal("0.00")
        return self.value

    @property
    def rule_text(self) -> str:
        """The coupon in words, as the customer reads it: 满300减50, 8.5折 最多减100元, 立减20元, 赠 X."""
        if self.kind == self.Kind.GIFT:
            gift = self.gift_product.name if self.gift_product_id else "赠品"
            return f"满{yuan(self.threshold)}元赠{gift}" if self.threshold else f"赠{gift}"
        if self.kind == self.Kind.PERCENT_OFF:
            text = f"{yuan((Decimal(100) - self.value) / 10)}折，最多减{yuan(self.max_discount or 0)}元"
            return f"满{yuan(self.threshold)}元{text}" if self.threshold else text
        if self.threshold:
            return f"满{yuan(self.threshold)}减{yuan(self.value)}"
        return f"立减{yuan(self.value)}元"


class CouponPack(models.Model):
    """What an associate sends with one tap: templates × quantity, within a budget and a daily quota."""

    class Status(models.TextChoices):
        RUNNING = "running", "可发送"
        PAUSED = "paused", "已暂停"
        STOPPED = "stopped", "已停止"

    class SenderRole(models.TextChoices):
        ANY = "any", "导购和店长"
        STORE_MANAGER = "store_manager", "仅店长"

    name = models.CharField("券包名称", max_length=100)
    description = models.CharField("卡片说明", max_length=200, blank=True, help_text="发到聊天里的卡片描述")
    budget = models.DecimalField(
        "预算（元）", max_digits=14, decimal_places=2, help_text="按券面值累计（折扣券按封顶金额）"
    )
    spent = models.DecimalField(
        "已用预算（元）", max_digits=14, decimal_places=2, default=Decimal("0.00"), editable=False
    )
    stores = models.ManyToManyField(
        "associates.Store",
        verbose_name="可发送门店",
        blank=True,
        related_name="coupon_packs",
        help_text="留空表示全部门店",
    )
    sender_role = models.CharField("可发送角色", max_length=16, choices=SenderRole.choices, default=SenderRole.ANY)
    daily_quota = models.PositiveIntegerField("每位导购每日可发（份）", default=20)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.RUNNING)
    welcome = models.BooleanField(
        "随欢迎语发放",
        default=False,
        help_text="新客户添加本券包门店的导购时自动发放，欢迎语附带领券链接（多个时用最新的）",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "券包"
        verbose_name_plural = "券包"
        ordering = ["-pk"]
        constraints = [models.CheckConstraint(condition=Q(spent__lte=F("budget")), name="coupon_pack_within_budget")]

    def __str__(self) -> str:
        return self.name


class CouponPackItem(models.Model):
    pack = models.ForeignKey(CouponPack, verbose_name="券包", on_delete=models.CASCADE, related_name="items")
    template = models.ForeignKey(
        CouponTemplate, verbose_name="优惠券批次", on_delete=models.PROTECT, related_name="pack_items"
    )
    quantity = models.PositiveSmallIntegerField("张数", default=1)

    class Meta:
        verbose_name = "券包内容"
        verbose_name_plural = "券包内容"
        constraints = [
            models.UniqueConstraint(fields=["pack", "template"], name="coupon_pack_item_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="coupon_pack_item_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.template} × {self.quantity}"


class IssueRequest(models.Model):
    """The ledger of pack sends: one row per request number; its coupons are the result a replay returns."""

    class Source(models.TextChoices):
        SIDEBAR = "sidebar", "侧边栏"
        WELCOME = "welcome", "欢迎语"
        CAMPAIGN = "campaign", "群发活动"
        ADMIN = "admin", "后台"

    # Unique by a constraint rather than unique=True, which on PostgreSQL adds a second (LIKE) index a campaign would
    # write once per customer for no query.
    request_no = models.CharField("请求号", max_length=64)
    # No key of a request is checked by the database: a campaign writes a million requests, and each checked key costs
    # a lookup per row (the customer's, associate's and store's took half of a campaign's writing of its requests; the
    # pack's, the last one, a share-lock of the pack's row per request, 5% of the campaign's database time). Each is
    # read from a live row in the transaction that writes the request; the pack is then held by that transaction's
    # guarded UPDATE (`coupon_pack_send`) or row lock, re-read under it (`coupon_pack_send_many`), so a pack deleted
    # in between rolls the send back; packs, customers, associates and stores are never deleted once they have
    # requests (PROTECT), and the integrity check `coupons.keys` finds a request pointing at none.
    pack = models.ForeignKey(
        CouponPack,
        verbose_name="券包",
        on_delete=models.PROTECT,
        related_name="issue_requests",
        db_constraint=False,
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name="客户",
        on_delete=models.PROTECT,
        related_name="coupon_issue_requests",
        db_constraint=False,
    )
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="发送导购",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupon_issue_requests",
        db_index=False,  # (associate, created_at) below serves every lookup by associate
        db_constraint=False,
    )
    store = models.ForeignKey(
        "associates.Store",
        verbose_name="门店",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    source = models.CharField("来源", max_length=16, choices=Source.choices)
    cost = models.DecimalField("占用预算（元）", max_digits=14, decimal_places=2)
    created_at = models.DateTimeField("发放时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "发券记录"
        verbose_name_plural = "发券记录"
        ordering = ["-pk"]
        indexes = [models.Index(fields=["associate", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["request_no"], name="coupon_issue_request_no_unique")]

    def __str__(self) -> str:
        return self.request_no


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "未使用"
        REDEEMED = "redeemed", "已核销"
        EXPIRED = "expired", "已过期"
        REVOKED = "revoked", "已作废"

    code = models.CharField("券码", max_length=16)
    # No foreign key of a coupon is checked by the database: a campaign writes millions of coupons, and each checked
    # key costs a lookup at commit (a third of a campaign's database time with two). A coupon is written in the
    # transaction that writes its issue request and holds its template's row lock, so both exist at commit; neither
    # is ever deleted once it has coupons (PROTECT), customer, associate and store copy the issue request's, and the
    # integrity check `coupons.keys` finds a coupon whose template or issue request is gone or whose customer is not
    # its issue request's.
    template = models.ForeignKey(
        CouponTemplate, verbose_name="批次", on_delete=models.PROTECT, related_name="coupons", db_constraint=False
    )
    # Not indexed: a request's coupons are read among its customer's (the (customer, status) index), its customer
    # being theirs — a replay's answer, the admin's count and links; issue requests are never deleted (the admin
    # only reads them; their packs and customers are PROTECTed by them): an index entry less per coupon.
    issue_request = models.ForeignKey(
        IssueRequest,
        verbose_name="发券记录",
        on_delete=models.PROTECT,
        related_name="coupons",
        db_constraint=False,
        db_index=False,
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name="客户",
        on_delete=models.PROTECT,
        related_name="coupons",
        db_constraint=False,
        db_index=False,  # (customer, status) below serves every lookup by customer
    )
    # Not indexed: no query looks coupons up by associate (the sidebar, the till and the admin by customer, code,
    # template or store; the daily figures by issue time). An associate's deletion is refused by its issue requests
    # (PROTECT, looked up by their (associate, created_at) index), which every coupon's associate is (the integrity
    # check `coupons.keys`), so the coupons are not looked up for it either (DO_NOTHING): an index entry less for each
    # coupon a campaign writes.
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="发送导购",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="coupons_sent",
        db_constraint=False,
        db_index=False,
    )
    store = models.ForeignKey(
        "associates.Store",
        verbose_name="发送门店",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    valid_from = models.DateTimeField("生效时间")
    valid_until = models.DateTimeField("失效时间")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField("发放时间")
    redeemed_at = models.DateTimeField("核销时间", null=True, blank=True)
    # Set once, when the expiry reminder task was made, so the nightly job never makes two.
    reminded_at = models.DateTimeField("到期提醒时间", null=True, blank=True)

    class Meta:
        verbose_name = "优惠券"
        verbose_name_plural = "优惠券"
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["status", "valid_until"]),
        ]
        constraints = [
            # A constraint rather than unique=True: on PostgreSQL that would add a second (LIKE) index on code.
            models.UniqueConstraint(fields=["code"], name="coupon_code_unique"),
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="coupon_window"),
        ]

    def __str__(self) -> str:
        return code_display(self.code)

    def usable_at(self, now: dt.datetime) -> bool:
        return self.status == self.Status.ISSUED and self.valid_until > now

    def state_at(self, now: dt.datetime) -> str:
        """The status a person should read: an issued coupon past its window is expired before the expiry job runs."""
        if self.status == self.Status.ISSUED and self.valid_until <= now:
            return self.Status.EXPIRED
        return self.status


class Redemption(models.Model):
    """The ledger of redemptions and their reversals (returns), each under its caller's request number."""

    class Kind(models.TextChoices):
        REDEEM = "redeem", "核销"
        RETURN = "return", "退回"

    # Unique by a constraint rather than unique=True, which on PostgreSQL adds a second (LIKE) index that every
    # redemption at a till would pay for and nothing reads.
    request_no = models.CharField("请求号", max_length=64)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    coupon = models.ForeignKey(Coupon, verbose_name="优惠券", on_delete=models.PROTECT, related_name="redemptions")
    channel = models.CharField("渠道", max_length=8, choices=Channels.choices[:2])
    store = models.ForeignKey(
        "associates.Store",
        verbose_name="核销门店",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    order_ref = models.CharField("订单号", max_length=64)
    amount = models.DecimalField("订单金额", max_digits=14, decimal_places=2)
    discount = models.DecimalField("优惠金额", max_digits=14, decimal_places=2)
    # Credit for the sale: the coupon's sender and the store that sent it, copied so reports need no joins.
    credited_associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="业绩归属导购",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupon_redemptions",
    )
    credited_store = models.ForeignKey(
        "associates.Store",
        verbose_name="业绩归属门店",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    api_key = models.ForeignKey(
        "customers.ApiKey",
        verbose_name="接口密钥",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # read per row, never searched by; keys are deactivated, not deleted
    )
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "核销记录"
        verbose_name_plural = "核销记录"
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["request_no"], name="redemption_request_no_unique")]

    def __str__(self) -> str:
        return self.request_no


class CouponOrder(models.Model):
    """Coupons used on one order, held in one row so that stacking is decided in one statement."""

    channel = models.CharField("渠道", max_length=8, choices=Channels.choices[:2])
    order_ref = models.CharField("订单号", max_length=64)
    coupons = models.PositiveSmallIntegerField("用券张数", default=0)
    exclusive = models.BooleanField("含不可叠加券", default=False)

    class Meta:
        verbose_name = "订单用券"
        verbose_name_plural = "订单用券"
        constraints = [models.UniqueConstraint(fields=["channel", "order_ref"], name="coupon_order_unique")]

    def __str__(self) -> str:
        return f"{self.order_ref}: {self.coupons}"


class TemplateDay(models.Model):
    """Coupons of a template issued on one day (Asia/Shanghai): backs the per-day limit."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    issued = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "day"], name="coupon_template_day_unique")]

    def __str__(self) -> str:
        return f"{self.template_id} {self.day}: {self.issued}"


class CustomerHolding(models.Model):
    """Coupons of a template ever issued to one customer: backs the per-customer limit.

    A counter of the coupons ledger, written only in the transaction that writes the coupons it counts, from the
    same template and customer rows (read live there), so checking the holding's own two keys would only repeat
    what that transaction already knows (two checks per coupon, a third of a campaign's checks at commit). Deleting a
    template or a customer still cascades here (Django's collector does it, constraint or not), and the integrity
    check `coupons.holdings` finds a holding whose template or customer is gone."""

    # The key is (customer, template) itself, the only index: a surrogate id and a unique index beside it were two
    # more index entries per coupon a campaign issues. Every query reads holdings by customer (the sidebar and
    # `coupon_pack_send`'s upsert with the template, a campaign's batch by its customers alone, one index descent
    # each). Customers are never deleted (merged or opted out); a template that has holdings has coupons, whose
    # PROTECT refuses its deletion, so the deletion does not look holdings up by template (DO_NOTHING; the integrity
    # check `coupons.holdings` finds a holding without coupons or template).
    pk = models.CompositePrimaryKey("customer", "template")
    template = models.ForeignKey(
        CouponTemplate,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,  # read only with its customer (the primary key)
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,  # the primary key (customer, template) serves every lookup by customer
    )
    issued = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.template_id} × {self.customer_id}: {self.issued}"


class AssociatePackDay(models.Model):
    """Packs one associate sent on one day (Asia/Shanghai): backs the daily send quota."""

    pack = models.ForeignKey(CouponPack, on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey("associates.Associate", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pack", "associate", "day"], name="coupon_associate_pack_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.pack_id} {self.associate_id} {self.day}: {self.sent}"


# A coupon code is read aloud at the till and typed by hand: no I, O, 0 or 1.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12


def code_display(code: str) -> str:
    """ABCD EFGH JKLM: groups of four, as printed on the coupon page."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def code_normalize(text: str) -> str:
    """What a cashier typed or a scanner read, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")
