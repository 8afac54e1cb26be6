from django.apps import AppConfig


class DraftsConfig(AppConfig):
    name = "drafts"
    verbose_name = "消息草稿"

    def ready(self):
        from drafts import retention  # noqa: F401 - register the drafts' retention rule
