from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "业绩与交接"

    def ready(self) -> None:
        from insights import services  # noqa: F401 - registers the transfer_fail handler
