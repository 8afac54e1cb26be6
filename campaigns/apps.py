from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "群发活动"

    def ready(self) -> None:
        from campaigns import integrity, retention  # noqa: F401 - register the recipients' integrity check, retention
