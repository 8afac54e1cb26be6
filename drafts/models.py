"""What the drafter showed an associate, and why: one row per draft asked for in the sidebar.

When the model's text was refused (the fact checker found something not in her facts, or the provider failed), the
row keeps the model's text and the findings beside the template draft that was shown instead: what an operator needs
to see whether the configured model can be trusted.
"""

from django.db import models


class Draft(models.Model):
    class Drafter(models.TextChoices):
        TEMPLATE = "template", "模板"
        PROVIDER = "provider", "大模型"

    class Outcome(models.TextChoices):
        TEMPLATE = "template", "模板草稿（未配置大模型）"
        ACCEPTED = "accepted", "大模型草稿通过核对"
        REFUSED = "refused", "大模型草稿未通过核对，改用模板"
        FAILED = "failed", "大模型调用失败，改用模板"

    associate = models.ForeignKey(
        "associates.Associate", verbose_name="导购", on_delete=models.CASCADE, related_name="drafts"
    )
    store = models.ForeignKey("associates.Store", verbose_name="门店", on_delete=models.CASCADE, related_name="drafts")
    customer = models.ForeignKey(
        "customers.Customer", verbose_name="客户", on_delete=models.CASCADE, related_name="drafts"
    )
    purpose = models.CharField("目的", max_length=32)
    drafter = models.CharField("草稿来源", max_length=10, choices=Drafter.choices)
    outcome = models.CharField("结果", max_length=10, choices=Outcome.choices)
    text = models.TextField("展示的草稿")
    provider_text = models.TextField("大模型原文", blank=True, default="")
    reason = models.CharField("原因", max_length=200, blank=True, default="")
    findings = models.JSONField(
        "核对发现", default=list, blank=True, help_text='如 [{"kind": "sku", "value": "QM-X9"}]'
    )
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "消息草稿"
        verbose_name_plural = "消息草稿"
        indexes = [models.Index(fields=["outcome", "-created_at"], name="draft_outcome_recent")]

    def __str__(self) -> str:
        return f"{self.purpose} · {self.get_outcome_display()}"
