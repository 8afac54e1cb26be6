from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "communities"
    verbose_name = "社群"

    def ready(self) -> None:
        from communities import services  # noqa: F401 - registers the change_external_chat handlers
