from django.apps import AppConfig


class CouponsConfig(AppConfig):
    name = "coupons"
    verbose_name = "优惠券"

    def ready(self) -> None:
        from clientbook.services import welcome_attachments
        from coupons import (
            integrity,  # noqa: F401 - registers the ledgers' integrity checks
            tag_rules,  # noqa: F401 - registers the coupon kind of auto-tag rules
        )
        from coupons.returns import coupons_restore_on_return
        from coupons.welcome import welcome_coupons
        from customers.returns import order_return_hook

        welcome_attachments(welcome_coupons)
        order_return_hook(coupons_restore_on_return)

        from clientbook.codes import code_welcome_choices
        from coupons.welcome import welcome_pack_choices

        code_welcome_choices("pack", welcome_pack_choices)
