from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "communities"
    verbose_name = "社群"

    def ready(self) -> None:
        from communities import (  # noqa: F401 - register the WeCom callbacks, the groups sync, the auto-tag kind
            handlers,
            services,
            tag_rules,
        )
