"""The demo customers' WeCom contacts (`follows_write`): each customer with a WeCom external_userid is their
associate's contact from the day they joined, and those added in the last COUPON_DAYS got the welcome message,
with the welcome pack that `demo.coupons` sends."""

import numpy as np

from clientbook.models import FollowRelation
from demo.arrays import DAY, db_datetimes
from demo.brand import COUPON_DAYS
from demo.people import People
from demo.world import DemoSummary, World
from omni.bulk import bulk_copy, next_ids


def follows_write(
    *,
    rng: np.random.Generator,
    world: World,
    people: People,
    customer_ids: np.ndarray,
    holders: np.ndarray,
    external_userids: list[str],
    summary: DemoSummary,
) -> None:
    """Each customer with a WeCom id is their associate's WeCom contact, added at the till when they joined; those
    added since the welcome pack came in got the welcome message with it (see demo.coupons.coupons_write)."""
    followed_at = people.joined_at[holders] + rng.integers(60, 20 * 60, len(holders))
    welcomed = followed_at >= world.reference_epoch - COUPON_DAYS * DAY
    summary.add(
        "企业微信好友",
        bulk_copy(
            FollowRelation,
            (
                "id", "associate_id", "customer_id", "external_userid", "add_way", "contact_type", "state", "remark",
                "followed_at", "ended_reason", "welcome",
            ),
            zip(
                next_ids(FollowRelation, len(holders)),
                world.associate_ids[people.associate[holders]].tolist(),
                customer_ids[holders].tolist(),
                external_userids,
                np.where(rng.random(len(holders)) < 0.8, 1, 2).tolist(),  # scanned the QR code, or searched the phone
                [FollowRelation.ContactType.WECHAT.value] * len(holders),
                [""] * len(holders),
                [""] * len(holders),
                db_datetimes(followed_at),
                [""] * len(holders),
                np.where(welcomed, FollowRelation.Welcome.SENT.value, FollowRelation.Welcome.NONE.value).tolist(),
                strict=True,
            ),
        ),
    )  # fmt: skip
