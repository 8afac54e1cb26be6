"""Store communities (门店社群): the WeCom customer groups behind them, who is in them, and who invited whom.

- `Community`: a store's community, the group chats behind it and the poster design.
- `CommunityInviteCode`: one 加入群聊 join way per associate and community; its `state` names both, so a join
  through it credits the associate.
- `GroupMember` / `GroupMemberEvent`: the current membership of each group, and the ledger of joins and leaves
  (events, never overwrites; each event has a unique key so a re-delivered callback cannot count twice).
- `Invite`: an associate sent a customer the community poster; `status` moves sent → joined.
"""

from django.db import models

from associates.models import Associate, Store


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
        db_table = "associates_groupchat"
        verbose_name = "客户群"
        verbose_name_plural = "客户群"

    def __str__(self) -> str:
        return self.name or self.chat_id


class Community(models.Model):
    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="communities")
    name = models.CharField("社群名称", max_length=50)
    chats = models.ManyToManyField(
        GroupChat,
        verbose_name="客户群",
        blank=True,
        related_name="communities",
        help_text="社群背后的企业微信客户群；一个加入群聊二维码最多对应 5 个群（取最新的 5 个）",
    )
    auto_create_room = models.BooleanField("群满自动建新群", default=True)
    room_base_name = models.CharField("新群名称前缀", max_length=40, blank=True, help_text="留空则用社群名称")
    brand_color = models.CharField("品牌色", max_length=7, default="#07C160", help_text="海报主色，如 #07C160")
    copy_line = models.CharField(
        "海报文案", max_length=40, default="扫码进群，新品速递和会员福利第一时间知道", help_text="一句话，≤40 字"
    )
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "门店社群"
        verbose_name_plural = "门店社群"
        ordering = ["store_id", "pk"]

    def __str__(self) -> str:
        return self.name


class CommunityInviteCode(models.Model):
    """An associate's 加入群聊 QR code for a community, and the poster uploaded to WeCom for it."""

    community = models.ForeignKey(Community, verbose_name="社群", on_delete=models.CASCADE, related_name="invite_codes")
    associate = models.ForeignKey(
        Associate, verbose_name="导购", on_delete=models.PROTECT, related_name="community_invite_codes"
    )
    state = models.CharField("渠道参数 state", max_length=30, unique=True)
    config_id = models.CharField("企业微信 config_id", max_length=64, blank=True)
    qr_url = models.URLField("群二维码", max_length=500, blank=True)
    chat_ids = models.JSONField("对应的群", default=list, blank=True)
    # The poster as uploaded media: reused while WeCom keeps it (3 days) and the design is unchanged.
    poster_media_id = models.CharField("海报 media_id", max_length=128, blank=True)
    poster_digest = models.CharField("海报内容摘要", max_length=64, blank=True)
    poster_uploaded_at = models.DateTimeField("海报上传时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "导购邀请码"
        verbose_name_plural = "导购邀请码"
        constraints = [
            models.UniqueConstraint(fields=["community", "associate"], name="invite_code_once_per_associate")
        ]

    def __str__(self) -> str:
        return self.state


class GroupMember(models.Model):
    """Someone in (or once in) a customer group: a customer (external) or a staff member."""

    class Type(models.IntegerChoices):
        STAFF = 1, "企业成员"
        EXTERNAL = 2, "外部联系人"

    chat = models.ForeignKey(GroupChat, verbose_name="群", on_delete=models.CASCADE, related_name="members")
    userid = models.CharField("UserID / 外部联系人ID", max_length=64)
    member_type = models.PositiveSmallIntegerField("类型", choices=Type.choices)
    unionid = models.CharField("UnionID", max_length=64, blank=True)
    name = models.CharField("名称", max_length=100, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name="客户",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_memberships",
    )
    associate = models.ForeignKey(
        Associate, verbose_name="导购", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_member = models.BooleanField("在群中", default=True)
    joined_at = models.DateTimeField("入群时间", null=True, blank=True)
    # groupchat/get's join_time of the current membership; empty while we know the join only from a callback.
    wecom_join_time = models.PositiveBigIntegerField("企业微信入群时间戳", null=True, blank=True)
    left_at = models.DateTimeField("退群时间", null=True, blank=True)
    join_scene = models.SmallIntegerField("入群方式", null=True, blank=True)
    invitor_userid = models.CharField("邀请人", max_length=64, blank=True)
    state = models.CharField("渠道参数 state", max_length=30, blank=True)
    invite_code = models.ForeignKey(
        CommunityInviteCode,
        verbose_name="邀请码",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )

    class Meta:
        verbose_name = "群成员"
        verbose_name_plural = "群成员"
        constraints = [models.UniqueConstraint(fields=["chat", "userid"], name="group_member_once_per_chat")]
        indexes = [models.Index(fields=["customer", "is_member"])]

    def __str__(self) -> str:
        return self.name or self.userid


class GroupMemberEvent(models.Model):
    """One join or leave. `key` is unique: the same change recorded twice is one row."""

    class Kind(models.TextChoices):
        JOIN = "join", "入群"
        LEAVE = "leave", "退群"

    chat = models.ForeignKey(GroupChat, verbose_name="群", on_delete=models.CASCADE, related_name="member_events")
    member = models.ForeignKey(GroupMember, verbose_name="成员", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField("事件", max_length=8, choices=Kind.choices)
    at = models.DateTimeField("时间")
    key = models.CharField("去重键", max_length=200, unique=True)
    join_scene = models.SmallIntegerField("入群方式", null=True, blank=True)
    quit_scene = models.SmallIntegerField("退群方式", null=True, blank=True)
    state = models.CharField("渠道参数 state", max_length=30, blank=True)
    credited_associate = models.ForeignKey(
        Associate, verbose_name="计入导购", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = "入群/退群记录"
        verbose_name_plural = "入群/退群记录"
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["chat", "kind", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.member_id}"


class Invite(models.Model):
    """An associate invited a customer into the store community (the poster was sent to the chat)."""

    class Status(models.TextChoices):
        SENT = "sent", "已发送"
        JOINED = "joined", "已入群"

    class Channel(models.TextChoices):
        SIDEBAR = "sidebar", "聊天侧边栏"
        WORKBENCH = "workbench", "工作台（群发助手）"

    request_id = models.CharField("请求号", max_length=64, unique=True)
    associate = models.ForeignKey(Associate, verbose_name="导购", on_delete=models.PROTECT, related_name="invites")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="community_invites"
    )
    community = models.ForeignKey(Community, verbose_name="社群", on_delete=models.PROTECT, related_name="invites")
    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="community_invites")
    invite_code = models.ForeignKey(
        CommunityInviteCode, verbose_name="邀请码", on_delete=models.PROTECT, related_name="invites"
    )
    channel = models.CharField("渠道", max_length=16, choices=Channel.choices, default=Channel.SIDEBAR)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.SENT)
    media_id = models.CharField("海报 media_id", max_length=128, blank=True)
    msgid = models.CharField("群发任务 msgid", max_length=64, blank=True)
    sent_at = models.DateTimeField("发送时间")
    joined_at = models.DateTimeField("入群时间", null=True, blank=True)
    joined_chat = models.ForeignKey(
        GroupChat, verbose_name="加入的群", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    left_at = models.DateTimeField("退群时间", null=True, blank=True)

    class Meta:
        verbose_name = "社群邀请"
        verbose_name_plural = "社群邀请"
        ordering = ["-sent_at", "-pk"]
        indexes = [
            models.Index(fields=["customer", "community", "status"]),
            models.Index(fields=["associate", "sent_at"]),
            models.Index(fields=["store", "sent_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.associate_id} → {self.customer_id}"
