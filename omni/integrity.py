"""Integrity checks of the ledgers: invariants the code keeps by construction (guarded counters, the redemption
ledger, merges), verified from the rows themselves, for `manage.py check_integrity` (after a restore, or when a figure
looks wrong).

Each app registers its checks from its `AppConfig.ready()` with `@integrity_check("name")`; a check is set-based SQL
over the whole table and returns what breaks its invariant (nothing when all is well). This module imports no app.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One row (or group of rows) that breaks a check's invariant, in words an operator can act on."""

    subject: str  # e.g. "coupon 123", "template 7"
    detail: str  # what was found against what was expected


Check = Callable[[], list[Finding]]

_checks: dict[str, tuple[str, Check]] = {}


def integrity_check(name: str, *, what: str) -> Callable[[Check], Check]:
    """Register `check` under `name`; `what` says in one line the invariant it verifies."""

    def register(check: Check) -> Check:
        _checks[name] = (what, check)
        return check

    return register


def integrity_checks() -> dict[str, tuple[str, Check]]:
    """Every registered check by name, in name order: {name: (what it verifies, the check)}."""
    return dict(sorted(_checks.items()))
