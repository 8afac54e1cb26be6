"""Real threads racing one operation, for the PostgreSQL tests of locks and constraints (docs/concurrency.md):
every concurrency test runs its contenders through `run_concurrently`."""

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.db import connection

from omni.errors import ApplicationError

T = TypeVar("T")
_NO_ARGUMENT = object()


def run_concurrently(
    attempt: Callable[..., T], *, contenders: int | None = None, each: Iterable[Any] | None = None
) -> list[T | Exception]:
    """Run `attempt` in several threads released together by a barrier, each on its own database connection
    (closed when it is done): `contenders` threads calling `attempt()`, or one thread per item of `each` calling
    `attempt(item)`. Returns every contender's outcome in their order: what it returned, or the exception it raised.
    """
    if (contenders is None) == (each is None):
        raise TypeError("run_concurrently takes either contenders or each")
    arguments = [_NO_ARGUMENT] * contenders if contenders is not None else list(each)
    barrier, outcomes = threading.Barrier(len(arguments)), [None] * len(arguments)

    def run(index: int, argument: Any) -> None:
        try:
            barrier.wait()
            outcomes[index] = attempt() if argument is _NO_ARGUMENT else attempt(argument)
        except Exception as exc:  # every outcome, failures too, is reported to the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(arguments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def failures(outcomes: list) -> list[Exception]:
    """The exceptions among `outcomes`."""
    return [outcome for outcome in outcomes if isinstance(outcome, Exception)]


def results_and_codes(outcomes: list) -> tuple[list, Counter]:
    """What the contenders that succeeded returned, and how many failed with each `ApplicationError` code (any other
    exception is counted under its type's name, for the test to assert absent)."""
    codes = Counter(
        outcome.code if isinstance(outcome, ApplicationError) else type(outcome).__name__
        for outcome in failures(outcomes)
    )
    return [outcome for outcome in outcomes if not isinstance(outcome, Exception)], codes
