"""Omni's settings with the test views of tests/observability_urls.py, for the Sentry test's subprocess."""

from omni.settings import *  # noqa: F403

ROOT_URLCONF = "tests.observability_urls"
