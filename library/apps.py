from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "library"
    verbose_name = "话术与素材"

    def ready(self) -> None:
        from clientbook.codes import code_welcome_choices
        from clientbook.services import welcome_attachments
        from library.code_welcome import material_choices, welcome_materials

        code_welcome_choices("material", material_choices)
        welcome_attachments(welcome_materials)
