"""Appointments in a store (试衣 try-on, 量体 fitting, 美妆 beauty): the slots a store offers (`SlotTemplate`, per
weekday, optionally one associate's), the days it is closed (`ClosedDate`), and the customer's `Appointment` with the
holds she will try on (`AppointmentItem` → fulfilment.Pickup) and its history (`AppointmentChange`).

A slot is (template, starts_at): its places are the template's capacity, counted over the booked appointments of that
slot while the template's row is locked (`services.appointment_book`).
"""

from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    TRY_ON = "try_on", "试衣"
    FITTING = "fitting", "量体"
    BEAUTY = "beauty", "美妆"


class SlotTemplate(models.Model):
    class Weekday(models.IntegerChoices):
        MON = 0, "周一"
        TUE = 1, "周二"
        WED = 2, "周三"
        THU = 3, "周四"
        FRI = 4, "周五"
        SAT = 5, "周六"
        SUN = 6, "周日"

    store = models.ForeignKey(
        "associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="slot_templates"
    )
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="导购",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="slot_templates",
        help_text="留空：门店的时段，由预约的导购接待",
    )
    kind = models.CharField("类型", max_length=10, choices=Kind.choices, default=Kind.TRY_ON)
    weekday = models.PositiveSmallIntegerField("星期", choices=Weekday.choices)
    start_time = models.TimeField("开始时间")
    end_time = models.TimeField("结束时间")
    slot_minutes = models.PositiveSmallIntegerField("每个时段（分钟）", default=60)
    capacity = models.PositiveSmallIntegerField("每个时段可约人数", default=1)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "预约时段模板"
        verbose_name_plural = "预约时段模板"
        ordering = ["store", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(condition=Q(end_time__gt=models.F("start_time")), name="slot_template_ends_after"),
            models.CheckConstraint(condition=Q(slot_minutes__gte=10), name="slot_template_minutes_min"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="slot_template_capacity_min"),
        ]

    def __str__(self) -> str:
        who = f" · {self.associate.name}" if self.associate_id else ""
        return (
            f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M} {self.get_kind_display()}{who}"
        )


class ClosedDate(models.Model):
    store = models.ForeignKey(
        "associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="closed_dates"
    )
    date = models.DateField("日期")
    reason = models.CharField("原因", max_length=100, blank=True, default="")

    class Meta:
        verbose_name = "不可预约日期"
        verbose_name_plural = "不可预约日期"
        constraints = [models.UniqueConstraint(fields=["store", "date"], name="closed_date_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}"


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "已预约"
        CANCELLED = "cancelled", "已取消"
        NO_SHOW = "no_show", "未到店"
        DONE = "done", "已到店"

    class Channel(models.TextChoices):
        SIDEBAR = "sidebar", "导购代约"
        CUSTOMER = "customer", "客户自助"

    store = models.ForeignKey(
        "associates.Store", verbose_name="门店", on_delete=models.PROTECT, related_name="appointments"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="appointments"
    )
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="接待导购",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
    )
    template = models.ForeignKey(
        SlotTemplate, verbose_name="时段模板", on_delete=models.PROTECT, related_name="appointments"
    )
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.BOOKED)
    channel = models.CharField("预约方式", max_length=10, choices=Channel.choices)
    token = models.CharField("预约页令牌", max_length=32, unique=True, editable=False)
    request_id = models.CharField("请求号", max_length=64, unique=True, help_text="同一请求号重复提交只预约一次")
    pickups = models.ManyToManyField(
        "fulfilment.Pickup", verbose_name="预留商品", through="AppointmentItem", related_name="appointments", blank=True
    )
    reminded_customer_at = models.DateTimeField("客户提醒时间", null=True, blank=True)
    reminded_associate_at = models.DateTimeField("导购提醒时间", null=True, blank=True)
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "预约"
        verbose_name_plural = "预约"
        ordering = ["starts_at"]
        indexes = [
            models.Index(fields=["template", "starts_at"], name="appointment_slot"),
            models.Index(fields=["store", "starts_at"], name="appointment_store_day"),
            models.Index(fields=["customer", "-starts_at"], name="appointment_customer"),
            # The reminder beat reads only the booked ones.
            models.Index(fields=["starts_at"], name="appointment_booked_start", condition=Q(status="booked")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M}"


class AppointmentItem(models.Model):
    appointment = models.ForeignKey(Appointment, verbose_name="预约", on_delete=models.CASCADE, related_name="items")
    pickup = models.ForeignKey(
        "fulfilment.Pickup", verbose_name="预留", on_delete=models.PROTECT, related_name="appointment_items"
    )

    class Meta:
        verbose_name = "预约试穿的预留"
        verbose_name_plural = "预约试穿的预留"
        constraints = [models.UniqueConstraint(fields=["appointment", "pickup"], name="appointment_item_unique")]

    def __str__(self) -> str:
        return f"{self.pickup_id}"


class AppointmentChange(models.Model):
    class Action(models.TextChoices):
        BOOKED = "booked", "预约"
        RESCHEDULED = "rescheduled", "改期"
        CANCELLED = "cancelled", "取消"
        NO_SHOW = "no_show", "未到店"
        DONE = "done", "已到店"

    appointment = models.ForeignKey(Appointment, verbose_name="预约", on_delete=models.CASCADE, related_name="changes")
    action = models.CharField("操作", max_length=12, choices=Action.choices)
    from_starts_at = models.DateTimeField("原时间", null=True, blank=True)
    to_starts_at = models.DateTimeField("新时间", null=True, blank=True)
    by_associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="操作导购",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "预约变更"
        verbose_name_plural = "预约变更"
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return self.get_action_display()
