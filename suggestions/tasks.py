"""Celery tasks of the suggestions app: the model build, nightly (omni.celery beat) and on demand (admin)."""

import logging

from celery import shared_task

from omni.errors import ApplicationError
from suggestions.services import suggestion_model_build

logger = logging.getLogger(__name__)


# On the bulk queue (the default route): a build takes up to a minute and a couple of GB. Not retried and not
# acks_late: a failed build is recorded and the previous model keeps serving until the next night's build.
@shared_task
def suggestion_model_build_task() -> None:
    try:
        suggestion_model_build()
    except ApplicationError as error:
        logger.info("Suggestion model build skipped: %s", error.message)
