"""Project package: settings, URLs, the Celery app, and the crises and accounts apps."""

from geoloc_platform.celery import app as celery_app

__all__ = ("celery_app",)
