from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "library"
    verbose_name = "话术与素材"
