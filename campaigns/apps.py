from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "群发活动"

    def ready(self) -> None:
        from campaigns import retention  # noqa: F401 - registers the recipients' retention
