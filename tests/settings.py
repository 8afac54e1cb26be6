"""The test run's settings: omni.settings, read with OMNI_DEVELOPMENT set.

CI and developers run the suite on PostgreSQL (DATABASE_URL, usually REDIS_URL) without the secret key and hosts a
deployment must name, and its pages are rendered without a `collectstatic` first. OMNI_DEVELOPMENT keeps the
embedded default's fallbacks for exactly that (see omni/settings.py). It is set in the environment, not only here, so
that the processes a test starts (a Celery worker, a fresh interpreter) read the same settings; tests/test_serve.py
removes it for the production processes it starts.
"""

import os

os.environ["OMNI_DEVELOPMENT"] = "1"

from omni.settings import *  # noqa: F403
