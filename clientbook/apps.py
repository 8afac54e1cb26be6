from django.apps import AppConfig


class ClientbookConfig(AppConfig):
    name = "clientbook"
    verbose_name = "客户关系与交接"

    def ready(self) -> None:
        # Importing these registers WeCom's callback handlers (change_external_contact, transfer_fail), the full-sync
        # pages (contacts, tags) and the integrity checks; a merge of two customers moves their friendships too.
        from clientbook import handlers, handover, integrity, sync  # noqa: F401
        from clientbook.models import FollowRelation
        from customers.services import merge_moves_register

        merge_moves_register("follows", FollowRelation)
