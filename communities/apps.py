from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "communities"
    verbose_name = "社群"

    def ready(self) -> None:
        from clientbook.codes import code_welcome_choices
        from clientbook.services import welcome_attachments
        from communities import handlers, services  # noqa: F401 - register the WeCom callbacks and the groups sync
        from communities.code_welcome import community_choices, welcome_community_invite

        code_welcome_choices("community", community_choices)

        from clientbook.codes import code_renderer
        from communities.code_posters import code_poster_png

        code_renderer("poster", code_poster_png)
        welcome_attachments(welcome_community_invite)
