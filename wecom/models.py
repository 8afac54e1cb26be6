"""Raw WeCom callback events, stored before they are acted on, each processed once (on PostgreSQL partitioned by
day of receipt, omni.partitions, their dedupe keys apart); full syncs from WeCom and, for those that fan out
(contacts: one part per associate), their parts."""

from django.db import models


class CallbackEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "待处理"
        DONE = "done", "已处理"
        FAILED = "failed", "处理失败"

    # sha256 of the decrypted event: WeCom re-delivers the identical event when we are slow.
    dedupe_key = models.CharField("去重键", max_length=64, unique=True)
    event = models.CharField("事件", max_length=64)
    change_type = models.CharField("变更类型", max_length=64, blank=True)
    payload = models.JSONField("内容")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("处理次数", default=0)
    error = models.TextField("错误", blank=True)
    received_at = models.DateTimeField("接收时间", auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "企业微信回调事件"
        verbose_name_plural = "企业微信回调事件"
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type} #{self.pk}"


class CallbackEventKey(models.Model):
    """The dedupe key of each stored callback event, on PostgreSQL (on SQLite the event's own unique key serves).

    There the events are partitioned by day of receipt (wecom/migrations/0002), and a unique index on a
    partitioned table must hold the partition key, which a redelivery does not share with the first delivery. The
    keys are unique here instead, written in the same statement as the event (wecom.services.callback_event_store):
    partitioned by day of the event's own CreateTime, which is part of what the key digests, so a redelivery, however
    late, meets its first delivery's key in the same partition; retention drops their days like the events'."""

    pk = models.CompositePrimaryKey("dedupe_key", "event_time")
    dedupe_key = models.CharField("去重键", max_length=64)
    event_time = models.DateTimeField("事件时间", help_text="事件的 CreateTime（缺失时为接收时间）")

    class Meta:
        verbose_name = "企业微信回调去重键"
        verbose_name_plural = "企业微信回调去重键"

    def __str__(self) -> str:
        return self.dedupe_key


class SyncRun(models.Model):
    """One full sync from WeCom, advanced page by page; `state` holds the cursor so it can resume."""

    class Kind(models.TextChoices):
        CONTACTS = "contacts", "客户"
        TAGS = "tags", "企业标签"
        GROUPS = "groups", "客户群"

    class Status(models.TextChoices):
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    kind = models.CharField("类型", max_length=16, choices=Kind.choices)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.RUNNING)
    state = models.JSONField("进度", default=dict)
    pages = models.PositiveIntegerField("已同步页数", default=0)
    items = models.PositiveIntegerField("已同步条数", default=0)
    error = models.TextField("错误", blank=True)
    started_at = models.DateTimeField("开始时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "企业微信同步"
        verbose_name_plural = "企业微信同步"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(status="running"), name="one_running_sync_per_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.get_status_display()}"


class SyncPart(models.Model):
    """One part of a sync that fans out (contacts: one associate, by WeCom userid), synced by its own task; its cursor
    commits with each page's writes, so a part whose worker died resumes at the page it was on."""

    class Status(models.TextChoices):
        PENDING = "pending", "待同步"
        QUEUED = "queued", "已排队"
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    run = models.ForeignKey(SyncRun, verbose_name="同步", on_delete=models.CASCADE, related_name="parts")
    key = models.CharField("成员 userid", max_length=64)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.PENDING)
    cursor = models.CharField("游标", max_length=512, blank=True)
    pages = models.PositiveIntegerField("已同步页数", default=0)
    items = models.PositiveIntegerField("已同步条数", default=0)
    # Relations WeCom no longer lists for this member, marked ended when the part completes.
    lost = models.PositiveIntegerField("已失去的好友", default=0)
    error = models.TextField("错误", blank=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "同步分片（按成员）"
        verbose_name_plural = "同步分片（按成员）"
        ordering = ["run", "pk"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="sync_part_run_key_unique")]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.key} {self.get_status_display()}"
