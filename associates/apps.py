from django.apps import AppConfig


class AssociatesConfig(AppConfig):
    name = "associates"
    verbose_name = "门店与导购"
