"""Stores, associates (WeCom members) and the store managers who run them."""

from django.conf import settings
from django.db import models


class Store(models.Model):
    code = models.CharField("门店编码", max_length=32, unique=True, help_text="品牌系统（POS）使用的门店编码")
    name = models.CharField("门店名称", max_length=100)
    city = models.CharField("城市", max_length=50, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    is_active = models.BooleanField("营业中", default=True)
    opening_hours = models.CharField(
        "营业时间",
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text="如 10:00–22:00；写在给客户的取货卡上",
    )
    hold_hours = models.PositiveSmallIntegerField(
        "预留时长（小时）", default=48, db_default=48, help_text="导购为客户预留商品的默认保留时长"
    )
    # Optional: with both, "nearby stores" are the nearest by distance; without, the stores of the same city.
    latitude = models.DecimalField(
        "纬度",
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="如 31.228611；用于按距离查找附近门店的库存",
    )
    longitude = models.DecimalField(
        "经度", max_digits=9, decimal_places=6, null=True, blank=True, help_text="如 121.454722"
    )
    wecom_department_id = models.PositiveIntegerField(
        "企业微信部门 ID",
        null=True,
        blank=True,
        help_text="本门店在企业微信通讯录中的部门（管理后台 → 通讯录 → 部门 → 部门ID）；"
        "企业微信接入检查据此确认应用的可见范围覆盖本门店",
    )
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

    @property
    def is_store_manager(self) -> bool:
        return self.role == self.Role.STORE_MANAGER

    def manages(self, store_id: int) -> bool:
        """A store manager manages her own store (its associates' months and tasks), and no other."""
        return self.is_store_manager and self.store_id == store_id
