"""Stores, associates (WeCom members) and the store managers who run them."""

from django.conf import settings
from django.db import models

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


class Store(models.Model):
    code = models.CharField("门店编码", max_length=32, unique=True, help_text="品牌系统（POS）使用的门店编码")
    name = models.CharField("门店名称", max_length=100)
    city = models.CharField("城市", max_length=50, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    is_active = models.BooleanField("营业中", default=True)
    welcome_text = models.CharField(
        "欢迎语",
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="客户添加导购后自动发送；可用 {associate} 和 {store}。留空则使用默认欢迎语",
    )
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name="店长账号",
        blank=True,
        related_name="managed_stores",
        help_text="可在后台管理本门店数据的员工账号",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "门店"
        verbose_name_plural = "门店"
        ordering = ["code"]
        permissions = [("view_all_stores", "总部：可查看和管理全部门店")]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class Associate(models.Model):
    class Role(models.TextChoices):
        ASSOCIATE = "associate", "导购"
        STORE_MANAGER = "store_manager", "店长"

    wecom_userid = models.CharField("企业微信 UserID", max_length=64, unique=True)
    name = models.CharField("姓名", max_length=50)
    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="associates")
    role = models.CharField("角色", max_length=20, choices=Role.choices, default=Role.ASSOCIATE)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="后台账号",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="associate",
    )
    is_active = models.BooleanField("在职", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "导购"
        verbose_name_plural = "导购"
        ordering = ["store_id", "name"]

    def __str__(self) -> str:
        return f"{self.name}（{self.wecom_userid}）"


class ContactWay(models.Model):
    """A 联系我 QR code. Its `state` comes back when a customer adds an associate through it."""

    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="contact_ways")
    associate = models.ForeignKey(
        Associate, verbose_name="导购", null=True, blank=True, on_delete=models.PROTECT, related_name="contact_ways"
    )
    label = models.CharField("用途", max_length=100, blank=True, help_text="如：门店收银台、某活动")
    state = models.CharField("渠道参数 state", max_length=30, unique=True)
    config_id = models.CharField("企业微信 config_id", max_length=64, unique=True, null=True, blank=True)
    qr_code = models.URLField("二维码", max_length=500, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "联系我二维码"
        verbose_name_plural = "联系我二维码"

    def __str__(self) -> str:
        return self.label or self.state


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
        verbose_name = "好友关系"
        verbose_name_plural = "好友关系"
        constraints = [
            models.UniqueConstraint(fields=["associate", "external_userid"], name="follow_associate_external_unique")
        ]
        indexes = [models.Index(fields=["customer", "associate"])]

    def __str__(self) -> str:
        return f"{self.associate_id} ↔ {self.external_userid}"

    @property
    def add_way_label(self) -> str:
        return add_way_label(self.add_way)

    @property
    def contact_type_label(self) -> str:
        return self.ContactType(self.contact_type).label if self.contact_type in self.ContactType.values else ""


class GroupChat(models.Model):
    """A WeCom customer group (客户群), kept in step by sync and callbacks."""

    class Status(models.TextChoices):
        ACTIVE = "active", "正常"
        DISMISSED = "dismissed", "已解散"

    chat_id = models.CharField("群ID", max_length=64, unique=True)
    name = models.CharField("群名", max_length=100, blank=True)
    owner = models.ForeignKey(
        Associate, verbose_name="群主", null=True, blank=True, on_delete=models.SET_NULL, related_name="group_chats"
    )
    owner_userid = models.CharField("群主 UserID", max_length=64, blank=True)
    member_count = models.PositiveIntegerField("成员数", default=0)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ACTIVE)
    synced_at = models.DateTimeField("同步时间", null=True, blank=True)
    # groupchat/get's member_version: a digest of the member list, so a re-fetch that changed nothing is cheap.
    member_version = models.CharField("成员版本", max_length=64, blank=True, default="", db_default="")
    wecom_created_at = models.DateTimeField("建群时间", null=True, blank=True)
    dismissed_at = models.DateTimeField("解散时间", null=True, blank=True)

    class Meta:
        verbose_name = "客户群"
        verbose_name_plural = "客户群"

    def __str__(self) -> str:
        return self.name or self.chat_id


class FollowUpTask(models.Model):
    """Something an associate means to do for a customer (call back, invite, remind), with a due date."""

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

    class Meta:
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
