from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "客户与订单"

    def ready(self) -> None:
        # Registers One ID's integrity checks and the audit log's retention.
        from customers import integrity, retention  # noqa: F401
