"""The numpy helpers the demo's writers share: options drawn from cumulative weights (`cumulative`, `pick`), and
arrays turned into the column values `omni.bulk.bulk_copy` writes: fen into `Decimal`, epoch seconds (`DAY` to a
day) into the datetimes the backend's ORM writes, array indices into ids or None."""

from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection

DAY = 86_400


def money(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def db_datetimes(epoch_seconds: np.ndarray) -> list:
    """Aware datetimes in the form the backend's own ORM writes (SQLite keeps naive UTC text)."""
    aware = pd.to_datetime(epoch_seconds, unit="s", utc=True).to_pydatetime()
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(moment) for moment in aware]


def nullable(ids: np.ndarray, index: np.ndarray) -> list:
    """`ids[index]` as Python ints, None where index is -1."""
    lookup = np.array([None, *ids.tolist()], dtype=object)
    return lookup[index + 1].tolist()


def cumulative(*weights: float) -> np.ndarray:
    cumulative = np.cumsum(weights) / np.sum(weights)
    # Exactly 1.0 from the last option that can happen on, so rounding never lets a draw land on an
    # option of weight zero.
    cumulative[np.flatnonzero(weights)[-1] :] = 1.0
    return cumulative


def pick(rng: np.random.Generator, cumulative: np.ndarray, size: int | None = None) -> np.ndarray:
    """Option indices drawn from cumulative probabilities: one row for `size` draws, or one row per draw."""
    if cumulative.ndim == 1:
        return np.searchsorted(cumulative, rng.random(size), side="right")
    return (rng.random(len(cumulative))[:, None] >= cumulative).sum(axis=1)
