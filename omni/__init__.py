"""Omni: the store associate's assistant inside WeCom. Project package: settings, URLs, Celery."""

from omni.celery import app as celery_app

__all__ = ["celery_app"]
