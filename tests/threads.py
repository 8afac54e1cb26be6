"""Real threads racing one operation, for the PostgreSQL tests of locks and constraints."""

import threading

from django.db import connection


def race(contenders: int, attempt) -> list:
    """Run `attempt` in `contenders` threads released together; every outcome, an exception too, in a list."""
    barrier, outcomes, lock = threading.Barrier(contenders), [], threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            result = attempt()
        except Exception as exc:  # every outcome, failures too, is reported to the test
            result = exc
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
