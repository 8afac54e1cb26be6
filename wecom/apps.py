from django.apps import AppConfig


class WeComConfig(AppConfig):
    name = "wecom"
    label = "wecom"
    verbose_name = "企业微信"

    def ready(self) -> None:
        from wecom import retention  # noqa: F401 - registers the callback events' and syncs' retention
