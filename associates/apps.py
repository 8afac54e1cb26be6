from django.apps import AppConfig


class AssociatesConfig(AppConfig):
    name = "associates"
    verbose_name = "门店与导购"

    def ready(self) -> None:
        # Registers the WeCom checks of the visible range and the customer-contact permission (wecom.checks).
        from associates import wecom_checks  # noqa: F401
