from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "communities"
    verbose_name = "社群"

    def ready(self) -> None:
        from communities import handlers, services  # noqa: F401 - register the WeCom callbacks and the groups sync
