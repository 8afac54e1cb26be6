from django.apps import AppConfig


class AssociatesConfig(AppConfig):
    name = "associates"
    verbose_name = "门店与导购"

    def ready(self):
        # Registers the WeCom callback handlers.
        from associates import services  # noqa: F401
