"""What waits in a store for a customer to collect: an associate's hold, or an online order picked up in store (BOPIS).

Both are a `Pickup` with a code the till scans. A hold reserves its lines' units in `customers.StoreStock.held`
while it is open (held or ready); an order's stock is the brand's OMS's business.
"""

from django.db import models
from django.db.models import Q


class Pickup(models.Model):
    class Kind(models.TextChoices):
        HOLD = "hold", "门店预留"
        ORDER = "order", "线上下单门店自提"

    class Status(models.TextChoices):
        HELD = "held", "已预留"
        PENDING = "pending", "备货中"
        READY = "ready", "待取货"
        COLLECTED = "collected", "已取货"
        EXPIRED = "expired", "已过期"
        CANCELLED = "cancelled", "已取消"
        REFUSED = "refused", "门店拒绝"

    OPEN = (Status.HELD, Status.PENDING, Status.READY)

    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    status = models.CharField("状态", max_length=12, choices=Status.choices)
    code = models.CharField("取货码", max_length=16, unique=True, help_text="客户出示、收银台扫描的取货码")
    token = models.CharField("取货卡令牌", max_length=32, unique=True, editable=False)
    store = models.ForeignKey(
        "associates.Store", verbose_name="取货门店", on_delete=models.PROTECT, related_name="pickups"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.PROTECT, related_name="pickups"
    )
    associate = models.ForeignKey(
        "associates.Associate",
        verbose_name="预留导购",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pickups",
        help_text="预留的导购；取货成交的业绩归属于他和取货门店",
    )
    order = models.ForeignKey(
        "customers.Order",
        verbose_name="订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pickups",
        help_text="自提订单的线上订单；预留取货后为成交订单",
    )
    request_id = models.CharField("请求号", max_length=64, help_text="同一请求号重复提交只建一次")
    expires_at = models.DateTimeField("保留至")
    confirmed_at = models.DateTimeField("门店确认时间", null=True, blank=True)
    ready_at = models.DateTimeField("备货完成时间", null=True, blank=True)
    reminded_at = models.DateTimeField("到期提醒时间", null=True, blank=True)
    # BOPIS: when the "ready for pickup" message to the customer was claimed (sent once; fulfilment.bopis).
    ready_notified_at = models.DateTimeField("到店通知时间", null=True, blank=True)
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)
    close_reason = models.CharField("结束说明", max_length=200, blank=True, default="")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "预留/自提"
        verbose_name_plural = "预留/自提"
        constraints = [models.UniqueConstraint(fields=["kind", "request_id"], name="pickup_kind_request_unique")]
        indexes = [
            models.Index(fields=["store", "status"], name="pickup_store_status"),
            models.Index(fields=["customer", "-created_at"], name="pickup_customer_recent"),
            # The expiry beat reads only the open ones.
            models.Index(
                fields=["expires_at"], name="pickup_open_expiry", condition=Q(status__in=["held", "pending", "ready"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code}"


class PickupLine(models.Model):
    pickup = models.ForeignKey(Pickup, verbose_name="预留/自提", on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "customers.Product", verbose_name="商品", on_delete=models.PROTECT, related_name="pickup_lines"
    )
    quantity = models.PositiveIntegerField("数量")

    class Meta:
        verbose_name = "预留商品"
        verbose_name_plural = "预留商品"
        constraints = [
            models.UniqueConstraint(fields=["pickup", "product"], name="pickup_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="pickup_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} × {self.quantity}"
