"""Push campaigns (群发活动): an audience, content, a schedule and a manager's approval, sent as WeCom mass messages.

A Campaign is resolved once, at send time, into CampaignRecipient rows (one per customer, unique) that say who
gets it through which associate or why they were skipped; the recipients of one associate are split into
CampaignChunk rows of at most 10,000, one add_msg_template call each, keyed (campaign, associate, index) so a
retried or resumed send can never create a second WeCom task for the same chunk.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Customer


def _landing_token() -> str:
    return secrets.token_urlsafe(16)


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        SUBMITTED = "submitted", "待审批"
        APPROVED = "approved", "已审批"
        SCHEDULED = "scheduled", "已排期"
        SENDING = "sending", "发送中"
        DONE = "done", "已完成"
        CANCELLED = "cancelled", "已取消"

    name = models.CharField("活动名称", max_length=100)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.DRAFT)

    # Audience -----------------------------------------------------------------------------------------------
    stores = models.ManyToManyField(
        "associates.Store", verbose_name="门店", related_name="campaigns", help_text="客户的归属门店"
    )
    tags = models.ManyToManyField(
        "customers.Tag", verbose_name="标签", blank=True, related_name="campaigns", help_text="有其中任一标签"
    )
    tiers = models.JSONField("会员等级", default=list, blank=True, help_text='如 ["金卡", "黑金"]，留空不限')
    segments = models.JSONField("客户分层", default=list, blank=True, help_text='如 ["重要挽回"]，留空不限')
    last_purchase_after = models.DateField("最近购买晚于", null=True, blank=True)
    last_purchase_before = models.DateField("最近购买早于", null=True, blank=True)
    bought_category = models.CharField("买过品类", max_length=50, blank=True)
    holds_unused_coupon = models.BooleanField("持有未使用的券", default=False)
    birthday_month = models.PositiveSmallIntegerField("生日月份", null=True, blank=True)
    community = models.ForeignKey(
        "communities.Community",
        verbose_name="社群",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="与“社群成员”一起使用：只发给在（或不在）这个社群里的客户",
    )
    community_membership = models.CharField(
        "社群成员",
        max_length=8,
        blank=True,
        choices=[("", "不限"), ("in", "在社群中"), ("not_in", "不在社群中")],
    )

    # Content ------------------------------------------------------------------------------------------------
    text = models.TextField("群发文字", blank=True, help_text="不超过 4000 字节")
    coupon_pack = models.ForeignKey(
        "coupons.CouponPack",
        verbose_name="券包",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="发送时给每位收件人各发一份（在券包预算内）",
    )
    product = models.ForeignKey(
        "customers.Product",
        verbose_name="商品卡片",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    image_url = models.URLField("图片", blank=True)
    miniprogram_title = models.CharField("小程序卡片标题", max_length=64, blank=True)
    miniprogram_appid = models.CharField("小程序 AppID", max_length=64, blank=True)
    miniprogram_page = models.CharField("小程序页面", max_length=200, blank=True)
    miniprogram_pic_media_id = models.CharField("小程序封面 media_id", max_length=128, blank=True)

    # Schedule and approval ----------------------------------------------------------------------------------
    send_at = models.DateTimeField("发送时间", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="创建人", on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="审批人",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    audience_size = models.PositiveIntegerField("提交时人数", null=True, blank=True, editable=False)
    landing_token = models.CharField(max_length=32, unique=True, default=_landing_token, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    approved_at = models.DateTimeField("审批时间", null=True, blank=True)
    resolved_at = models.DateTimeField("确定收件人时间", null=True, blank=True)
    # The resolution's resume point: the audience is resolved in keyset ranges of customer ids, each committed
    # with the last id it covered here (campaigns.services.campaign_resolve).
    resolved_through = models.BigIntegerField("已确定至客户ID", null=True, blank=True, editable=False)
    # The exact audience size, counted in the background for the filters whose fingerprint is audience_count_key
    # (campaigns.selectors.campaign_audience_key); the admin shows an estimate until it matches.
    audience_count = models.PositiveIntegerField("精确人数", null=True, blank=True, editable=False)
    audience_count_key = models.CharField(max_length=32, blank=True, editable=False)
    audience_counted_at = models.DateTimeField("精确人数统计时间", null=True, blank=True, editable=False)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True)
    # The recipients' counts, kept here before retention deletes their rows (campaigns.retention); from then on
    # the campaign's progress reads these: {"by_status": {status: n}, "skipped_by_reason": {reason: n}}.
    recipients_summary = models.JSONField("收件人统计（明细已清理）", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "群发活动"
        verbose_name_plural = "群发活动"
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "send_at"])]

    def __str__(self) -> str:
        return self.name


class CampaignChunk(models.Model):
    """One add_msg_template call: one associate's recipients, at most 10,000, in a deterministic slice."""

    class Status(models.TextChoices):
        PENDING = "pending", "待创建"
        CREATING = "creating", "创建中"
        CREATED = "created", "已创建"
        FAILED = "failed", "失败"
        CANCELLED = "cancelled", "已取消"

    campaign = models.ForeignKey(Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="chunks")
    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", on_delete=models.PROTECT, related_name="campaign_chunks"
    )
    index = models.PositiveIntegerField("分片序号")
    size = models.PositiveIntegerField("人数")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    msgid = models.CharField("群发 msgid", max_length=64, blank=True)
    error = models.CharField("失败原因", max_length=300, blank=True)
    attempts = models.PositiveIntegerField("尝试次数", default=0)
    claimed_at = models.DateTimeField("开始创建时间", null=True, blank=True)
    created_at = models.DateTimeField("WeCom 任务创建时间", null=True, blank=True)
    # The associate's confirmation, from get_groupmsg_task.
    confirmed_at = models.DateTimeField("导购确认时间", null=True, blank=True)
    results_final = models.BooleanField("结果已收齐", default=False)
    reminds = models.PositiveSmallIntegerField("已提醒次数", default=0)
    reminded_at = models.DateTimeField("最近提醒时间", null=True, blank=True)
    polled_at = models.DateTimeField("最近查询时间", null=True, blank=True)

    class Meta:
        verbose_name = "群发分片"
        verbose_name_plural = "群发分片（导购确认）"
        ordering = ["campaign", "associate", "index"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "associate", "index"], name="campaign_chunk_key_unique")
        ]
        indexes = [models.Index(fields=["status", "results_final"])]

    def __str__(self) -> str:
        return self.key

    @property
    def key(self) -> str:
        """Deterministic: also written into the message's link, so a lost answer can be found in WeCom's list."""
        return f"c{self.campaign_id}-a{self.associate_id}-{self.index}"


class CampaignRecipient(models.Model):
    """One customer of a campaign: through whom, or why not, and what WeCom says happened.

    The attribution work reads (associate, customer, status, sent_at) here: status SENT with sent_at is a
    mass-message touch by that associate.
    """

    class Status(models.TextChoices):
        SKIPPED = "skipped", "未发送（已跳过）"
        QUEUED = "queued", "待创建群发"
        AWAITING = "awaiting", "待导购确认"
        SENT = "sent", "已送达"
        NOT_FRIEND = "not_friend", "不是好友"
        RECEIVED_OTHER = "received_other", "已收到其他群发"
        UNCONFIRMED = "unconfirmed", "导购未确认"
        FAILED = "failed", "创建失败"
        CANCELLED = "cancelled", "已取消"

    class Skip(models.TextChoices):
        NONE = "", "—"
        NO_FOLLOWER = "no_follower", "没有导购好友"
        OPTED_OUT = "opted_out", "已退订"
        NO_CONSENT = "no_consent", "未同意营销"
        FREQUENCY_CAP = "frequency_cap", "超过频次上限"
        MONTHLY_CAP = "monthly_cap", "超过企业微信每月上限"
        CONTACT_BUDGET = "contact_budget", "本周联系次数已达上限"

    # Each foreign key's lookups are served by a composite index that starts with it (the unique constraint and
    # Meta.indexes), so none has an index of its own: four fewer indexes to write per recipient.
    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="recipients", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name="客户",
        on_delete=models.PROTECT,
        related_name="campaign_receipts",
        db_index=False,
    )
    # associate and chunk carry no database constraint: a queued recipient's chunk comes from a join with the chunks
    # the same transaction wrote, and its associate is that chunk's (whose own keys the database checks); a skipped
    # one's associate is the follower found, for the record. Checking them again would cost two lookups per
    # recipient at commit, half of the audience's checks. Django still applies on_delete, and the integrity check
    # `campaigns.recipients` finds a recipient whose chunk or associate is gone or disagrees.
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="发送导购",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaign_receipts",
        db_index=False,
        db_constraint=False,
    )
    chunk = models.ForeignKey(
        CampaignChunk,
        verbose_name="分片",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
        db_constraint=False,
    )
    external_userid = models.CharField("外部联系人ID", max_length=64, blank=True)
    status = models.CharField("状态", max_length=16, choices=Status.choices)
    skip_reason = models.CharField("跳过原因", max_length=16, choices=Skip.choices, blank=True, default="")
    sent_at = models.DateTimeField("送达时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "群发收件人"
        verbose_name_plural = "群发收件人"
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_recipient_unique"),
            models.CheckConstraint(
                condition=Q(status="skipped", chunk__isnull=True) | (~Q(status="skipped") & Q(chunk__isnull=False)),
                name="campaign_recipient_chunk_unless_skipped",
            ),
        ]
        indexes = [
            models.Index(fields=["chunk", "external_userid"]),
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["associate", "sent_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.customer_id}"


class JourneyConfig(models.Model):
    """Per store: which automatic journeys make follow-up tasks for associates, and when."""

    store = models.OneToOneField(
        "associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="journey_config"
    )
    birthday = models.BooleanField("生日问候", default=True)
    birthday_days_before = models.PositiveSmallIntegerField("提前几天提醒生日", default=3)
    post_purchase_days = models.PositiveSmallIntegerField(
        "购后回访（天）", null=True, blank=True, default=7, help_text="下单 N 天后提醒回访；留空关闭"
    )
    lapsing_days = models.PositiveSmallIntegerField(
        "沉睡唤醒（天）", null=True, blank=True, default=90, help_text="N 天未购买时提醒；留空关闭"
    )

    class Meta:
        verbose_name = "自动旅程设置"
        verbose_name_plural = "自动旅程设置"

    def __str__(self) -> str:
        return str(self.store)


class LapsedCustomer(Customer):
    """Admin's lapse list: customers with no purchase in their store's 沉睡唤醒 days (`JourneyConfig.lapsing_days`,
    90 when the store has none): a view of Customer (`clientbook.churn.customers_lapsed`)."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "沉睡客户"
