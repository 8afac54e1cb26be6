from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    name = "fulfilment"
    verbose_name = "预留与自提"

    def ready(self) -> None:
        # BOPIS: an orders batch's store-pickup orders become pickups once it commits (customers is a lower floor).
        from customers.ingestion import orders_recorded_register
        from fulfilment.tasks import bopis_orders_recorded_queue

        orders_recorded_register(bopis_orders_recorded_queue)
