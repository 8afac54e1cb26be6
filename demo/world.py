"""What the seed's writers share: the World, that is the fixed part's ids and the lookup arrays (catalogue, prices
and discounts, stores and their staff, tags, coupon packs, the history's days) every chunk of customers is drawn
against, and the DemoSummary every writer counts its rows into."""

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from demo.brand import DemoLogin
from demo.catalog import Catalog


@dataclass
class DemoSummary:
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[DemoLogin] = field(default_factory=list)

    def add(self, label: str, count: int) -> None:
        self.counts[label] = self.counts.get(label, 0) + count


@dataclass(frozen=True)
class World:
    catalog: Catalog
    product_ids: np.ndarray
    prices: np.ndarray  # product → Decimal price (objects, shared by every line)
    discount_fen: np.ndarray  # (product, level) → discount per unit in fen
    discounts: np.ndarray  # (product, level, quantity - 1) → Decimal discount of the line
    store_ids: np.ndarray
    store_codes: np.ndarray
    store_cum: np.ndarray  # cumulative member share per store
    associate_ids: np.ndarray
    store_staff: np.ndarray  # (store, k) → associate index, -1 padded
    staff_cum: np.ndarray  # (store, k) cumulative chance a member is assigned to staff k
    tag_ids: dict[tuple[str, str], int]
    pack_ids: dict[str, int]  # the demo's coupon packs by name
    reference: datetime  # where the history ends: midnight starting the reference day, Asia/Shanghai
    reference_epoch: int
    window_start_epoch: int  # HISTORY_DAYS before the reference: day 0 of the orders
    day_strings: np.ndarray  # history day → "YYYYMMDD", for order numbers
