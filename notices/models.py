"""Notices to an associate, delivered as WeCom app messages (应用消息): one row per thing to tell, unique by its dedupe
key, with the associate's quiet hours and daily cap (`NoticePreference`)."""

from datetime import time

from django.db import models

from associates.models import Associate

QUIET_START_DEFAULT = time(22, 0)
QUIET_END_DEFAULT = time(8, 0)
DAILY_CAP_DEFAULT = 20


class NoticePreference(models.Model):
    """An associate's quiet hours (local time, Asia/Shanghai; start after end wraps past midnight) and daily cap.
    Its row is also the lock under which the day's count is checked (`notice_send`)."""

    associate = models.OneToOneField(
        Associate, verbose_name="导购", on_delete=models.CASCADE, related_name="notice_preference"
    )
    quiet_start = models.TimeField("免打扰开始", default=QUIET_START_DEFAULT)
    quiet_end = models.TimeField("免打扰结束", default=QUIET_END_DEFAULT)
    daily_cap = models.PositiveSmallIntegerField("每日上限", default=DAILY_CAP_DEFAULT)

    class Meta:
        verbose_name = "通知设置"
        verbose_name_plural = "通知设置"

    def __str__(self) -> str:
        return f"{self.associate}"


class Notice(models.Model):
    class Kind(models.TextChoices):
        NEW_CUSTOMER = "new_customer", "新客户添加"
        CUSTOMER_LEFT = "customer_left", "客户删除"
        SALE = "sale", "客户成交"
        COUPON_REDEEMED = "coupon_redeemed", "客户核销券"
        DIGEST = "digest", "今日任务"
        CAMPAIGN_CONFIRM = "campaign_confirm", "群发待确认"
        TASK_DUE = "task_due", "任务到期"
        HOLD = "hold", "门店预留"

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENT = "sent", "已发送"
        FOLDED = "folded", "并入摘要"
        FAILED = "failed", "发送失败"

    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField("类型", max_length=32, choices=Kind.choices)
    # One thing told once: a re-delivered callback, a second run of a job finds its row.
    dedupe_key = models.CharField("去重键", max_length=200, unique=True)
    title = models.CharField("标题", max_length=40)
    description = models.CharField("内容", max_length=170)
    url = models.CharField("链接", max_length=1000)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    # Not before: the end of quiet hours, or the next try after an error.
    send_after = models.DateTimeField("发送时间")
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    last_error = models.CharField("最近错误", max_length=300, blank=True)
    msgid = models.CharField("消息 ID", max_length=64, blank=True)
    folded_into = models.ForeignKey(
        "self", verbose_name="并入摘要", null=True, blank=True, on_delete=models.SET_NULL, related_name="folded"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    sent_at = models.DateTimeField("发送于", null=True, blank=True)

    class Meta:
        verbose_name = "导购通知"
        verbose_name_plural = "导购通知"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "send_after"], name="notice_due"),
            models.Index(fields=["associate", "created_at"], name="notice_associate_day"),
        ]

    def __str__(self) -> str:
        return self.title
