"""One ID customers and their identities, catalog and stock, orders from every channel.

A Customer is the golden record; each channel's id for that person is an Identity row, unique by
(kind, value) across all customers. Orders are unique by (channel, external_id) and are never
deleted: a return is a status or negative lines.
"""

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from customers.phones import phone_mask


class Channel(models.TextChoices):
    STORE_POS = "store_pos", "门店POS"
    MINI_PROGRAM = "mini_program", "小程序"
    ONLINE_MALL = "online_mall", "线上商城"
    MARKETPLACE = "marketplace", "第三方平台"


class Customer(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "unknown", "未知"
        MALE = "male", "男"
        FEMALE = "female", "女"

    name = models.CharField("姓名", max_length=100, blank=True)
    gender = models.CharField("性别", max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField("生日", null=True, blank=True)
    # db_default: the importer and the demo seeder insert customers with raw SQL / COPY naming their columns.
    avatar_url = models.URLField("头像", max_length=500, blank=True, default="", db_default="")
    phone = models.CharField(
        "手机号", max_length=20, blank=True, db_index=True, help_text="E.164 规范化存储，展示时脱敏"
    )
    primary_store = models.ForeignKey(
        "associates.Store",
        verbose_name="归属门店",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    primary_associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="专属导购",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    marketing_consent = models.BooleanField("同意接收营销信息", default=False)
    opted_out = models.BooleanField("已退订", default=False, help_text="客户要求不再接收任何营销信息")
    merged_into = models.ForeignKey(
        "self",
        verbose_name="已合并到",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "客户"
        verbose_name_plural = "客户"
        indexes = [models.Index(fields=["primary_store", "primary_associate"])]
        constraints = [
            models.CheckConstraint(condition=~Q(merged_into=F("pk")), name="customer_not_merged_into_itself")
        ]

    def __str__(self) -> str:
        return self.name or f"客户 #{self.pk}"

    @property
    def phone_masked(self) -> str:
        return phone_mask(self.phone)


class Identity(models.Model):
    class Kind(models.TextChoices):
        WECOM_EXTERNAL_USERID = "wecom_external_userid", "企业微信外部联系人ID"
        WECHAT_UNIONID = "wechat_unionid", "微信 UnionID"
        MINI_PROGRAM_OPENID = "mini_program_openid", "小程序 OpenID"
        WECHAT_OA_OPENID = "wechat_oa_openid", "公众号 OpenID"
        POS_MEMBER_NO = "pos_member_no", "POS 会员号"
        MALL_ACCOUNT = "mall_account", "商城账号"
        MARKETPLACE_BUYER = "marketplace_buyer", "第三方平台买家ID"
        PHONE = "phone", "手机号"

    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.PROTECT, related_name="identities")
    kind = models.CharField("类型", max_length=32, choices=Kind.choices)
    value = models.CharField("值", max_length=128)
    source = models.CharField("来源", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "身份标识"
        verbose_name_plural = "身份标识"
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.masked_value}"

    @property
    def masked_value(self) -> str:
        if self.kind == self.Kind.PHONE:
            return phone_mask(self.value)
        if len(self.value) <= 4:
            return "*" * len(self.value)
        keep = max(2, len(self.value) // 5)
        return f"{self.value[:keep]}{'*' * 4}{self.value[-keep:]}"


# The identity kind of a member's own id in each channel, shared by the API and file imports.
CHANNEL_MEMBER_IDENTITY_KIND = {
    Channel.STORE_POS: Identity.Kind.POS_MEMBER_NO,
    Channel.MINI_PROGRAM: Identity.Kind.MINI_PROGRAM_OPENID,
    Channel.ONLINE_MALL: Identity.Kind.MALL_ACCOUNT,
    Channel.MARKETPLACE: Identity.Kind.MARKETPLACE_BUYER,
}


class IdentityConflict(models.Model):
    """Incoming identities that point at more than one customer: kept for a person to review."""

    class Status(models.TextChoices):
        OPEN = "open", "待处理"
        MERGED = "merged", "已合并"
        CONFIRMED = "confirmed", "已确认关联"
        DISMISSED = "dismissed", "已驳回"

    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.OPEN)
    source = models.CharField("来源", max_length=64)
    incoming = models.JSONField("收到的数据", help_text="冲突发生时收到的身份标识与资料")
    linked_to = models.ForeignKey(
        Customer, verbose_name="本次关联到", on_delete=models.PROTECT, related_name="+", null=True
    )
    customers = models.ManyToManyField(Customer, verbose_name="涉及客户", related_name="identity_conflicts")
    created_at = models.DateTimeField("发现时间", auto_now_add=True)
    resolved_at = models.DateTimeField("处理时间", null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="处理人", null=True, blank=True, on_delete=models.SET_NULL
    )
    merge = models.ForeignKey(
        "CustomerMerge", verbose_name="对应合并", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "身份冲突"
        verbose_name_plural = "身份冲突"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"冲突 #{self.pk}（{self.get_status_display()}）"


class IdentityClaim(models.Model):
    """What an associate typed to say who a chat contact is: a claim waiting for proof, never proof itself.

    It becomes the contact's identity (or merges the contact into the member who owns it) only when the customer
    confirms from the chat card in their WeChat, the brand's system sends the identity with the contact's, or a
    manager approves its `conflict` in admin (`customers.services.identity_claim_confirm`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待确认"
        CONFIRMED = "confirmed", "已确认"
        DISMISSED = "dismissed", "已驳回"

    class Via(models.TextChoices):
        CUSTOMER = "customer", "客户在微信中确认"
        BRAND_SYSTEM = "brand_system", "品牌系统同步"
        MANAGER = "manager", "店长审核"

    customer = models.ForeignKey(
        Customer, verbose_name="聊天中的客户", on_delete=models.PROTECT, related_name="identity_claims"
    )
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="提交导购", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    identities = models.JSONField("声明的身份", help_text='[{"kind": …, "value": …}]，已规范化')
    request_id = models.CharField("请求号", max_length=64)
    token = models.CharField("确认链接令牌", max_length=64, unique=True, editable=False)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    conflict = models.OneToOneField(
        IdentityConflict, verbose_name="待审核", null=True, on_delete=models.SET_NULL, related_name="claim"
    )
    customer_confirmed_at = models.DateTimeField(
        "客户确认时间", null=True, blank=True, help_text="客户已在微信中确认，但只能由店长审核完成时记录"
    )
    confirmed_via = models.CharField("确认方式", max_length=16, choices=Via.choices, blank=True)
    merge = models.ForeignKey(
        "CustomerMerge", verbose_name="对应合并", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("提交时间", auto_now_add=True)
    resolved_at = models.DateTimeField("处理时间", null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="处理人", null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = "身份声明"
        verbose_name_plural = "身份声明"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["associate", "request_id"], name="identity_claim_request_unique")
        ]
        indexes = [models.Index(fields=["customer", "status"])]

    def __str__(self) -> str:
        return f"声明 #{self.pk}（{self.get_status_display()}）"

    @property
    def identities_masked(self) -> list[str]:
        return [
            f"{Identity.Kind(item['kind']).label} {Identity(kind=item['kind'], value=item['value']).masked_value}"
            for item in self.identities
        ]


class CustomerMerge(models.Model):
    """An audited merge of `source` into `target`, with exactly what moved so it can be undone."""

    source = models.ForeignKey(Customer, verbose_name="被合并客户", on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(Customer, verbose_name="保留客户", on_delete=models.PROTECT, related_name="+")
    moved = models.JSONField("迁移记录", help_text="迁移的身份、订单、备注、标签的主键，以及补全的资料字段")
    reason = models.CharField("原因", max_length=200, blank=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_at = models.DateTimeField("合并时间", auto_now_add=True)
    undone_at = models.DateTimeField("撤销时间", null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="撤销人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "客户合并"
        verbose_name_plural = "客户合并"
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"#{self.source_id} → #{self.target_id}"


class AuditLog(models.Model):
    """Who did or saw what to a customer's personal data. Append-only."""

    class Action(models.TextChoices):
        PROFILE_VIEW = "profile_view", "查看客户资料"
        CUSTOMER_MERGE = "customer_merge", "合并客户"
        CUSTOMER_MERGE_UNDO = "customer_merge_undo", "撤销合并"
        IDENTITY_CONFLICT = "identity_conflict", "身份冲突"
        IDENTITY_CONFLICT_DISMISS = "identity_conflict_dismiss", "驳回身份冲突"
        IDENTITY_LINK = "identity_link", "导购关联会员身份"
        IDENTITY_CLAIM = "identity_claim", "导购提交会员身份待确认"

    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    action = models.CharField("操作", max_length=40, choices=Action.choices)
    customer = models.ForeignKey(
        Customer, verbose_name="客户", null=True, on_delete=models.SET_NULL, related_name="audit_logs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="后台账号", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField("IP", null=True)
    detail = models.JSONField("详情", default=dict)

    class Meta:
        verbose_name = "审计日志"
        verbose_name_plural = "审计日志"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()}"


class TagGroup(models.Model):
    """A corp tag group (企业客户标签组) as WeCom has it; `store` set: a group only that store's associates use."""

    name = models.CharField("标签组", max_length=50)
    wecom_group_id = models.CharField("企业微信标签组ID", max_length=64, null=True, blank=True, unique=True)
    order = models.IntegerField("排序", default=0, help_text="企业微信中 order 越大越靠前")
    store = models.ForeignKey(
        "associates.Store",
        verbose_name="仅限门店",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tag_groups",
        help_text="留空则所有门店可用",
    )

    class Meta:
        verbose_name = "标签组"
        verbose_name_plural = "标签组"
        constraints = [models.UniqueConstraint(fields=["name"], name="tag_group_name_unique_name")]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField("标签", max_length=50)
    # The group's name, kept beside the foreign key (written with it by customers.tags): the readers that show
    # "group/name" and the (group, name) uniqueness predate TagGroup.
    group = models.CharField("标签组", max_length=50, blank=True)
    tag_group = models.ForeignKey(
        TagGroup, verbose_name="所属标签组", null=True, blank=True, on_delete=models.CASCADE, related_name="tags"
    )
    order = models.IntegerField("排序", default=0)
    wecom_tag_id = models.CharField("企业微信标签ID", max_length=64, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = "标签"
        verbose_name_plural = "标签"
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="tag_group_name_unique")]

    def __str__(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name


class AutoTagRule(models.Model):
    """A rule that tags the customers it selects (customers.tags_rules evaluates it set-based, nightly and on the
    events that change it); the customers it no longer selects lose the tags it gave them."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "按购买（品类、金额、频次、最近购买、RFM 分层）"
        CODE = "code", "按渠道活码（state）"
        COMMUNITY = "community", "按加入社群"
        COUPON = "coupon", "按核销优惠券"

    name = models.CharField("规则名称", max_length=100)
    kind = models.CharField("规则类型", max_length=16, choices=Kind.choices)
    tag = models.ForeignKey(Tag, verbose_name="打上标签", on_delete=models.CASCADE, related_name="auto_rules")
    active = models.BooleanField("启用", default=True)
    category = models.CharField("品类", max_length=50, blank=True, help_text="按购买：买过该品类")
    min_spend = models.DecimalField(
        "累计消费不少于", max_digits=14, decimal_places=2, null=True, blank=True, help_text="按购买：有效订单金额合计"
    )
    min_orders = models.PositiveIntegerField("订单数不少于", null=True, blank=True)
    within_days = models.PositiveIntegerField(
        "统计近 N 天", null=True, blank=True, help_text="按购买：只看最近 N 天的订单（同时是最近购买的要求）"
    )
    segment = models.CharField("RFM 分层", max_length=16, blank=True, help_text="如 重要价值、重要挽回、新客")
    code_state = models.CharField("渠道活码 state", max_length=30, blank=True, help_text="按渠道活码：经此码添加")
    community_id = models.PositiveIntegerField("社群 ID", null=True, blank=True, help_text="按加入社群：当前在群内")
    coupon_template_id = models.PositiveIntegerField(
        "券模板 ID", null=True, blank=True, help_text="按核销优惠券：核销过该模板的券（留空为任意券）"
    )
    last_run_at = models.DateTimeField("上次运行", null=True, blank=True)
    last_count = models.PositiveIntegerField("上次命中人数", default=0)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "自动标签规则"
        verbose_name_plural = "自动标签规则"

    def __str__(self) -> str:
        return self.name


class CustomerTag(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "导购/后台"
        WECOM = "wecom", "企业微信"
        RULE = "rule", "自动标签规则"

    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, verbose_name="标签", on_delete=models.CASCADE, related_name="customer_tags")
    added_by = models.ForeignKey(
        "associates.Associate", verbose_name="打标导购", null=True, blank=True, on_delete=models.SET_NULL
    )
    # db_default too: bulk writers (the demo's COPY, benchmarks) name only the columns they know.
    source = models.CharField(
        "来源", max_length=8, choices=Source.choices, default=Source.MANUAL, db_default=Source.MANUAL
    )
    rule = models.ForeignKey(
        AutoTagRule,
        verbose_name="打标规则",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="customer_tags",
        help_text="自动标签：哪条规则打的",
    )
    created_at = models.DateTimeField("打标时间", auto_now_add=True)

    class Meta:
        verbose_name = "客户标签"
        verbose_name_plural = "客户标签"
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique")]
        indexes = [models.Index(fields=["rule", "customer"], name="customer_tag_rule_customer")]

    def __str__(self) -> str:
        return str(self.tag)


class CustomerNote(models.Model):
    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        "associates.Associate", verbose_name="作者", null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField("内容", max_length=2000)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "客户备注"
        verbose_name_plural = "客户备注"
        ordering = ["-created_at"]
        # A customer's newest notes (the profile, the timeline) by index, however many the customer has.
        indexes = [models.Index(fields=["customer", "created_at"], name="customer_note_customer_at")]

    def __str__(self) -> str:
        return self.text[:30]


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField("名称", max_length=200)
    category = models.CharField("品类", max_length=50, blank=True, db_index=True)
    size = models.CharField(
        "尺码",
        max_length=20,
        blank=True,
        default="",
        db_default="",
        help_text="服装、鞋的尺码（如 M、38）；护肤品等留空",
    )
    style_code = models.CharField(
        "款号",
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="同一款号的商品只有颜色、尺码不同；推荐时同款只出现一个",
    )
    colour = models.CharField(
        "颜色", max_length=30, blank=True, default="", db_default="", help_text="同款不同色的商品各有一个 SKU"
    )
    price = models.DecimalField("价格", max_digits=12, decimal_places=2, default=Decimal("0.00"))
    image_url = models.URLField("图片", max_length=500, blank=True)
    barcode = models.CharField(
        "条码",
        max_length=32,
        blank=True,
        default="",
        db_default="",
        help_text="商品条码（如 EAN-13 6901234567890）；导购在企业微信里扫码即可找到商品",
    )
    is_active = models.BooleanField("在售", default=True)
    # A column left out of a COPY is NULL, "not sold online": no db_default needed.
    online_stock = models.PositiveIntegerField("线上库存", null=True, blank=True, help_text="为空表示不在线上销售")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "商品"
        verbose_name_plural = "商品"
        ordering = ["sku"]
        # A scan looks one barcode up exactly; most rows of a brand without barcodes stay out of the index.
        indexes = [
            models.Index(fields=["barcode"], name="product_barcode", condition=~Q(barcode="")),
            # A search result lists its style's sizes and colours.
            models.Index(fields=["style_code"], name="product_style", condition=~Q(style_code="")),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.sku}）"


class StoreStock(models.Model):
    store = models.ForeignKey("associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="stock")
    product = models.ForeignKey(Product, verbose_name="商品", on_delete=models.CASCADE, related_name="stock")
    quantity = models.IntegerField("库存")
    # Units reserved by holds (fulfilment.Pickup): available = quantity − held. A stock update from the brand's systems
    # writes quantity only, so holds survive it; held may then exceed quantity (nothing more can be held).
    held = models.IntegerField("已预留", default=0, db_default=0)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "门店库存"
        verbose_name_plural = "门店库存"
        constraints = [
            models.UniqueConstraint(fields=["store", "product"], name="store_stock_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="store_stock_not_negative"),
            models.CheckConstraint(condition=Q(held__gte=0), name="store_stock_held_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}×{self.product_id}: {self.quantity}"


class Membership(models.Model):
    """The member's standing in the brand's loyalty system, as its members API last reported it.

    Omni keeps these figures to show them; it runs no points engine.
    """

    customer = models.OneToOneField(
        Customer, verbose_name="客户", on_delete=models.CASCADE, primary_key=True, related_name="membership"
    )
    level = models.CharField("会员等级", max_length=30, blank=True, default="")
    points = models.IntegerField("积分余额", default=0)
    points_expiring = models.IntegerField("即将过期积分", default=0)
    points_expire_on = models.DateField("积分过期日", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "会员权益"
        verbose_name_plural = "会员权益"

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.level} {self.points}"

    def expiring_on(self, today) -> bool:
        """Whether some points are still to expire (on `points_expire_on`, today or later)."""
        return bool(self.points_expiring and self.points_expire_on and self.points_expire_on >= today)


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "已下单"
        PAID = "paid", "已支付"
        COMPLETED = "completed", "已完成"
        CANCELLED = "cancelled", "已取消"
        RETURNED = "returned", "已退货"

    class Fulfilment(models.TextChoices):
        IN_STORE = "in_store", "门店购买"
        DELIVERY = "delivery", "快递配送"
        STORE_PICKUP = "store_pickup", "门店自提"

    channel = models.CharField("渠道", max_length=20, choices=Channel.choices)
    external_id = models.CharField("外部单号", max_length=64)
    store = models.ForeignKey(
        "associates.Store", verbose_name="门店", null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name="客户",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="为空表示匿名销售",
    )
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="业绩归属导购",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attributed_orders",
    )
    placed_at = models.DateTimeField("下单时间")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.COMPLETED)
    fulfilment = models.CharField("履约方式", max_length=16, choices=Fulfilment.choices, default=Fulfilment.IN_STORE)
    currency = models.CharField("币种", max_length=3, default="CNY")
    # A return taken back at a till (customers.returns): negative lines against this order, in any store.
    original = models.ForeignKey(
        "self",
        verbose_name="原订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returns",
        help_text="退货单所退的原订单",
        db_index=False,  # the partial index below: only returns have one
    )
    # A cache of the sum of the lines, written with them; lines never change once recorded.
    total_amount = models.DecimalField("金额", max_digits=14, decimal_places=2, default=Decimal("0.00"))
    created_at = models.DateTimeField("接收时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "订单"
        verbose_name_plural = "订单"
        constraints = [models.UniqueConstraint(fields=["channel", "external_id"], name="order_channel_external_unique")]
        indexes = [
            models.Index(fields=["customer", "-placed_at"]),
            models.Index(fields=["store", "-placed_at"]),
            models.Index(fields=["original"], condition=Q(original__isnull=False), name="order_original_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.external_id}"


class OrderLine(models.Model):
    # The (order, line_no) unique index serves every lookup by order; a second index only slows inserts.
    order = models.ForeignKey(
        Order, verbose_name="订单", on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    line_no = models.PositiveIntegerField("行号")
    product = models.ForeignKey(Product, verbose_name="商品", on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.IntegerField("数量", help_text="退货为负数")
    unit_price = models.DecimalField("单价", max_digits=12, decimal_places=2)
    discount = models.DecimalField("优惠", max_digits=12, decimal_places=2, default=Decimal("0.00"))
    # A return's line: the original order's line it takes back (its quantity negative, its discount the share of
    # the original's discount it gives back), so what is left to return is the line's quantity plus these.
    original_line = models.ForeignKey(
        "self",
        verbose_name="原订单行",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returned_by",
        db_index=False,  # the partial index below: only returns' lines have one
    )

    class Meta:
        verbose_name = "订单行"
        verbose_name_plural = "订单行"
        constraints = [models.UniqueConstraint(fields=["order", "line_no"], name="order_line_no_unique")]
        indexes = [
            models.Index(
                fields=["original_line"], condition=Q(original_line__isnull=False), name="orderline_original_line_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.line_no}: {self.product_id} × {self.quantity}"

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price - self.discount


class ApiKey(models.Model):
    """A brand system's key for the ingestion and coupon APIs: one channel, its stores, and what it may do (scopes).

    A scope names a family of operations; `catalogue` rewrites what every store sells, so only a key not limited
    to stores may hold it (customers.ingestion.api_key_scopes_check); `stock` writes store stock, only for the
    key's stores, so a store's POS sends its own."""

    class Scope(models.TextChoices):
        CATALOGUE = "catalogue", "商品目录（全品牌，仅限不限门店的密钥）"
        MEMBERS = "members", "会员"
        ORDERS = "orders", "订单"
        COUPONS = "coupons", "优惠券核销与退回"
        STOCK = "stock", "门店库存（仅限密钥可写的门店）"
        PICKUPS = "pickups", "门店预留与自提（查看、确认、拒绝、取货核销）"

    name = models.CharField("名称", max_length=100)
    channel = models.CharField("渠道", max_length=20, choices=Channel.choices)
    stores = models.ManyToManyField(
        "associates.Store", verbose_name="可写门店", blank=True, help_text="留空表示不限门店（如线上商城）"
    )
    # A list of Scope values: portable (SQLite and PostgreSQL), read on the till's path in the key's statement.
    scopes = models.JSONField("权限范围", default=list, blank=True)
    prefix = models.CharField("前缀", max_length=12, unique=True, editable=False)
    key_hash = models.CharField("密钥摘要", max_length=64, editable=False)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "接口密钥"
        verbose_name_plural = "接口密钥"

    def __str__(self) -> str:
        return f"{self.name}（{self.prefix}…）"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()


class ImportJob(models.Model):
    """One bulk import of an order file; `rows_done` lets an interrupted import resume."""

    class Status(models.TextChoices):
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    file_name = models.CharField("文件", max_length=500)
    file_sha256 = models.CharField("文件摘要", max_length=64)
    input_key = models.CharField(
        "输入指纹", max_length=64, unique=True, help_text="文件摘要、字段映射与渠道的摘要：同一输入只导入一次"
    )
    mapping = models.JSONField("字段映射")
    channel = models.CharField("渠道", max_length=20, choices=Channel.choices)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.RUNNING)
    rows_total = models.PositiveIntegerField("总行数", default=0)
    rows_done = models.PositiveIntegerField("已处理行数", default=0)
    rows_rejected = models.PositiveIntegerField("拒绝行数", default=0)
    rejects = models.JSONField("拒绝原因统计", default=dict)
    started_at = models.DateTimeField("开始时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "批量导入"
        verbose_name_plural = "批量导入"

    def __str__(self) -> str:
        return f"{self.file_name}（{self.get_status_display()}）"


class ConsentChange(models.Model):
    """One change of a customer's marketing consent, with where it came from and when (`customers.consent`).
    Append-only: the customer's `opted_out` / `marketing_consent` are the latest row's, this keeps every one."""

    class Source(models.TextChoices):
        COUPON_PAGE = "coupon_page", "券包页面「不再接收」"
        SIDEBAR = "sidebar", "导购在侧边栏标记"
        API = "api", "品牌系统 API"
        INGESTION = "ingestion", "会员资料同步"
        ADMIN = "admin", "后台"

    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="consents")
    opted_out = models.BooleanField("已退订")
    marketing_consent = models.BooleanField("同意接收营销信息")
    source = models.CharField("来源", max_length=16, choices=Source.choices)
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "customers.ApiKey", verbose_name="API 密钥", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField("说明", max_length=200, blank=True)
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = verbose_name_plural = "营销授权记录"
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {'退订' if self.opted_out else '订阅'} {self.get_source_display()}"


class ContactBudget(models.Model):
    """How many marketing contacts a customer may get per week (Monday to Sunday, Asia/Shanghai), across associates
    and channels: the brand's row (no store) and a store's override for its customers (`customers.budget`)."""

    store = models.OneToOneField(
        "associates.Store",
        verbose_name="门店",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="contact_budget",
        help_text="留空：品牌默认",
    )
    per_week = models.PositiveSmallIntegerField("每周最多联系次数", default=3)
    allow_override = models.BooleanField(
        "允许导购记录例外", default=False, help_text="超出上限时，导购可记录原因后再发送一次"
    )

    class Meta:
        verbose_name = verbose_name_plural = "联系预算"
        constraints = [
            # One brand row (no store): a store's row is unique already (one to one).
            models.UniqueConstraint(Coalesce("store", Value(0)), name="contact_budget_one_per_store_or_brand"),
        ]

    def __str__(self) -> str:
        return f"{self.store or '品牌默认'}：每周 {self.per_week} 次"


class ContactCount(models.Model):
    """A customer's marketing contacts in one week: the counter every sender takes a unit from with a guarded
    UPDATE … WHERE used < limit, so two senders at once cannot both pass the limit."""

    customer = models.ForeignKey(
        Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="contact_counts", db_index=False
    )
    week = models.DateField("周（周一）")
    used = models.PositiveIntegerField("已联系次数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "每周联系次数"
        constraints = [models.UniqueConstraint(fields=["customer", "week"], name="contact_count_customer_week")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.week}: {self.used}"


class ContactTouch(models.Model):
    """One 1:1 marketing contact charged to the budget (a campaign's recipients are their own record), and the
    overrides: `key` names the send, so a retried send is charged once."""

    class Channel(models.TextChoices):
        COUPON = "sidebar_coupon", "侧边栏发券包"
        PRODUCT = "sidebar_product", "侧边栏发商品"
        MATERIAL = "sidebar_material", "侧边栏发素材"

    customer = models.ForeignKey(
        Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="contact_touches"
    )
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField("渠道", max_length=20, choices=Channel.choices)
    key = models.CharField("发送编号", max_length=100, unique=True)
    week = models.DateField("周（周一）")
    at = models.DateTimeField("时间")
    override = models.BooleanField("例外（超出上限）", default=False)
    override_reason = models.CharField("例外原因", max_length=200, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "一对一营销联系"
        ordering = ["-at"]
        indexes = [models.Index(fields=["customer", "week"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.get_channel_display()} {self.at:%Y-%m-%d}"


class ContactOverride(models.Model):
    """An associate's logged exception to the budget: one more send to this customer this week, with the reason.
    Taken by the next send of hers that the budget would refuse (`used_at`)."""

    customer = models.ForeignKey(Customer, verbose_name="客户", on_delete=models.CASCADE, related_name="+")
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", on_delete=models.CASCADE, related_name="+"
    )
    week = models.DateField("周（周一）")
    reason = models.CharField("原因", max_length=200)
    created_at = models.DateTimeField("时间", auto_now_add=True)
    used_at = models.DateTimeField("已使用", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "联系预算例外"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.reason}"
