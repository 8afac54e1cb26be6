"""The client book: who follows whom in WeCom (friendships and the contact-me codes they came through), the
associate's follow-up tasks, and handovers of customers between associates.

The tables keep the names they had in `associates` and `insights` (db_table), where these models began.
"""

from django.conf import settings
from django.db import models

from associates.models import Associate, Store

# follow_user.add_way: how the associate and the customer became friends (WeCom Doc 92114, 来源定义).
ADD_WAY_LABELS = {
    0: "未知来源",
    1: "扫描二维码",
    2: "搜索手机号",
    3: "名片分享",
    4: "群聊",
    5: "手机通讯录",
    6: "微信联系人",
    8: "安装第三方应用时自动添加的管理员或负责人",
    9: "搜索邮箱",
    10: "视频号添加",
    11: "通过日程参与人添加",
    12: "通过会议参与人添加",
    13: "添加微信好友对应的企业微信",
    14: "通过智慧硬件专属客服添加",
    15: "通过上门服务客服添加",
    16: "通过获客链接添加",
    17: "通过定制开发添加",
    18: "通过需求回复添加",
    201: "内部成员共享",
    202: "管理员/负责人分配",
}


def add_way_label(add_way: int | None) -> str:
    """The label of a WeCom add_way code: "" when WeCom did not say, 其他来源 for a code newer than this list."""
    if add_way is None:
        return ""
    return ADD_WAY_LABELS.get(add_way, "其他来源")


class ContactWay(models.Model):
    """A 联系我 QR code, or an acquisition link (获客链接). Its `state` comes back when a customer adds an associate
    through it; the code's welcome, tags and routing apply to that add (clientbook.codes)."""

    class Kind(models.TextChoices):
        ASSOCIATE = "associate", "导购码"
        STORE = "store", "门店码"
        CHANNEL = "channel", "渠道码"
        LINK = "link", "获客链接"
        MEMBER = "member", "会员专属码"

    class Channel(models.TextChoices):
        NONE = "", "—"
        POSTER = "poster", "海报"
        PACKAGE_INSERT = "insert", "包裹卡"
        COUNTER = "counter", "门店收银台"
        MINI_PROGRAM = "miniprogram", "小程序"
        SMS = "sms", "短信"
        MALL = "mall", "商场"
        ADS = "ads", "广告"

    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="contact_ways")
    associate = models.ForeignKey(
        Associate, verbose_name="导购", null=True, blank=True, on_delete=models.PROTECT, related_name="contact_ways"
    )
    label = models.CharField("用途", max_length=100, blank=True, help_text="如：门店收银台、某活动")
    state = models.CharField("渠道参数 state", max_length=30, unique=True)
    config_id = models.CharField("企业微信 config_id", max_length=64, unique=True, null=True, blank=True)
    qr_code = models.URLField("二维码", max_length=500, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices, default=Kind.ASSOCIATE)
    channel = models.CharField("渠道", max_length=16, choices=Channel.choices, blank=True)
    # A member's own code counts toward the store code it was made from.
    parent = models.ForeignKey(
        "self", verbose_name="所属渠道码", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    welcome_text = models.TextField(
        "欢迎语", blank=True, help_text="留空使用门店欢迎语；可用 {store} 门店名、{associate} 导购名"
    )
    # What the apps above the client book offer (clientbook.codes.code_welcome_choices): ids, not foreign keys,
    # so that the client book does not point up at coupons, communities or the library.
    welcome_pack_id = models.PositiveIntegerField("欢迎券包", null=True, blank=True)
    welcome_community_id = models.PositiveIntegerField("入群邀请（社群）", null=True, blank=True)
    welcome_material_ids = models.JSONField("素材", default=list, blank=True)
    tags = models.ManyToManyField("customers.Tag", verbose_name="添加后打标签", blank=True, related_name="+")
    link_id = models.CharField("获客链接 link_id", max_length=64, unique=True, null=True, blank=True)
    link_url = models.URLField("获客链接", max_length=500, blank=True)
    # The members the code's WeCom config holds now (routing writes it with update_contact_way / update_link).
    routed_userids = models.JSONField("当前接待导购", default=list, blank=True)
    deleted_at = models.DateTimeField("删除时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        db_table = "associates_contactway"
        verbose_name = "渠道活码"
        verbose_name_plural = "渠道活码"

    def __str__(self) -> str:
        return self.label or self.state


class ContactWaySlot(models.Model):
    """Who answers a store or channel code when: an associate on some weekdays between two hours (Asia/Shanghai),
    up to a daily number of adds; backups answer only when no one regular can."""

    contact_way = models.ForeignKey(ContactWay, verbose_name="渠道活码", on_delete=models.CASCADE, related_name="slots")
    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.CASCADE, related_name="+")
    weekdays = models.CharField("星期", max_length=7, default="1234567", help_text="1=周一 … 7=周日，如 12345")
    start_hour = models.PositiveSmallIntegerField("开始（时）", default=0)
    end_hour = models.PositiveSmallIntegerField("结束（时）", default=24)
    daily_limit = models.PositiveIntegerField("每日添加上限", default=0, help_text="0 表示不限")
    is_backup = models.BooleanField("备用导购", default=False)

    class Meta:
        verbose_name = verbose_name_plural = "接待排班"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_hour__lt=models.F("end_hour"), end_hour__lte=24), name="slot_hours_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.associate_id} {self.weekdays} {self.start_hour}-{self.end_hour}"


class FollowRelation(models.Model):
    """An associate ↔ customer friendship in WeCom (one row per associate and external contact)."""

    class Welcome(models.TextChoices):
        NONE = "none", "无欢迎语"
        PENDING = "pending", "待发送"
        SENT = "sent", "已发送"
        ALREADY_SENT = "already_sent", "已由其他方式发送"
        EXPIRED = "expired", "已超时"
        FAILED = "failed", "发送失败"

    class Ended(models.TextChoices):
        CUSTOMER = "customer_deleted", "客户删除了导购"
        ASSOCIATE = "associate_deleted", "导购删除了客户"
        TRANSFERRED = "transferred", "已转接给其他导购"
        SYNC_MISSING = "sync_missing", "同步时企业微信已无此好友"

    class ContactType(models.IntegerChoices):
        """external_contact.type in WeCom."""

        WECHAT = 1, "微信用户"
        WECOM = 2, "企业微信用户"

    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.PROTECT, related_name="follows")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="follows"
    )
    external_userid = models.CharField("外部联系人ID", max_length=64)
    add_way = models.SmallIntegerField("添加方式", null=True, blank=True)
    contact_type = models.PositiveSmallIntegerField("客户类型", choices=ContactType.choices, null=True, blank=True)
    state = models.CharField("渠道参数 state", max_length=30, blank=True)
    contact_way = models.ForeignKey(
        ContactWay, verbose_name="来源二维码", null=True, blank=True, on_delete=models.SET_NULL, related_name="follows"
    )
    remark = models.CharField("备注名", max_length=100, blank=True)
    followed_at = models.DateTimeField("添加时间")
    ended_at = models.DateTimeField("结束时间", null=True, blank=True)
    ended_reason = models.CharField("结束原因", max_length=20, choices=Ended.choices, blank=True)
    welcome = models.CharField("欢迎语", max_length=16, choices=Welcome.choices, default=Welcome.NONE)

    class Meta:
        db_table = "associates_followrelation"
        verbose_name = "好友关系"
        verbose_name_plural = "好友关系"
        constraints = [
            models.UniqueConstraint(fields=["associate", "external_userid"], name="follow_associate_external_unique")
        ]
        indexes = [
            models.Index(fields=["customer", "associate"]),
            models.Index(fields=["contact_way", "followed_at"], name="follow_code_day"),
        ]

    def __str__(self) -> str:
        return f"{self.associate_id} ↔ {self.external_userid}"

    @property
    def add_way_label(self) -> str:
        return add_way_label(self.add_way)

    @property
    def contact_type_label(self) -> str:
        return self.ContactType(self.contact_type).label if self.contact_type in self.ContactType.values else ""


class ContactsSeen(models.Model):
    """The external contacts one write of a contacts sync part (one associate's pass) found in WeCom, committed with
    the part's cursor: when the pass ends, the associate's friendships none of its rows name are ended (SYNC_MISSING),
    and the rows are deleted. One row a write rather than a mark on each friendship, so a night in which a friendship
    did not change writes nothing to it."""

    part = models.ForeignKey("wecom.SyncPart", verbose_name="同步分片", on_delete=models.CASCADE, related_name="+")
    external_userids = models.JSONField("外部联系人ID", default=list)

    class Meta:
        verbose_name = verbose_name_plural = "同步已见好友"

    def __str__(self) -> str:
        return f"{self.part_id}: {len(self.external_userids)}"


class FollowUpTask(models.Model):
    """Something an associate means to do for a customer (call back, invite, remind), with a due date."""

    class Action(models.TextChoices):
        SEND_COUPON = "send_coupon", "发券包"
        SEND_PRODUCT = "send_product", "发商品"
        ANY_MESSAGE = "any_message", "发任意消息"

    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.CASCADE, related_name="tasks")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.CASCADE, related_name="follow_up_tasks"
    )
    title = models.CharField("任务", max_length=200)
    due_on = models.DateField("截止日期")
    # Set by automatic journeys (e.g. "birthday:2026"), so one occasion never makes two tasks.
    occasion = models.CharField("场景", max_length=64, blank=True)
    done_at = models.DateTimeField("完成时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    # What does the task: a send of this kind from the sidebar to this customer by the task's associate closes it
    # (`follow_up_tasks_close_by_send`); any_message is closed by any send.
    action = models.CharField("完成方式", max_length=20, choices=Action.choices, blank=True)
    closed_by = models.ForeignKey(
        Associate, verbose_name="完成人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_note = models.CharField("完成说明", max_length=200, blank=True)

    class Meta:
        db_table = "associates_followuptask"
        verbose_name = "跟进任务"
        verbose_name_plural = "跟进任务"
        ordering = ["done_at", "due_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["associate", "customer", "occasion"],
                condition=~models.Q(occasion=""),
                name="follow_up_task_once_per_occasion",
            )
        ]
        indexes = [models.Index(fields=["associate", "done_at", "due_on"])]

    def __str__(self) -> str:
        return self.title


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
        db_table = "insights_handover"
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
        db_table = "insights_handoveritem"
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


class LostCustomer(FollowRelation):
    """Admin's list of friendships lost to churn (`clientbook.churn.follows_lost`): a view of FollowRelation."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "流失客户"
