"""Demo data for campaigns: per-store journey settings and a draft campaign per store, ready to submit and approve."""

import datetime as dt

from django.utils import timezone

from associates.models import Store
from campaigns.models import Campaign, JourneyConfig
from coupons.models import CouponPack


def campaigns_demo_seed(*, creator, send_at: dt.datetime | None = None) -> dict[str, int]:
    """One JourneyConfig (the defaults) and one draft campaign per active store, created by `creator` and set to go
    out at `send_at` (by default a day from now); a store's running coupon pack is attached when there is one.
    Running it again adds nothing."""
    made = {"journey_configs": 0, "campaigns": 0}
    for store in Store.objects.filter(is_active=True).order_by("pk"):
        _, created = JourneyConfig.objects.get_or_create(store=store)
        made["journey_configs"] += created
        name = f"{store.name} 会员日群发"
        if Campaign.objects.filter(name=name).exists():
            continue
        pack = (
            CouponPack.objects.filter(status=CouponPack.Status.RUNNING, stores=store).order_by("pk").first()
            or CouponPack.objects.filter(status=CouponPack.Status.RUNNING, stores__isnull=True).order_by("pk").first()
        )
        campaign = Campaign.objects.create(
            name=name,
            text="本周六会员日，到店全场 9 折，专属券已放入您的账户，期待您的光临！",
            coupon_pack=pack,
            send_at=send_at or timezone.now() + dt.timedelta(days=1),
            created_by=creator,
        )
        campaign.stores.add(store)
        made["campaigns"] += 1
    return made
