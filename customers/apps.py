from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "客户与订单"

    def ready(self) -> None:
        from customers import integrity  # noqa: F401 - registers One ID's integrity checks
