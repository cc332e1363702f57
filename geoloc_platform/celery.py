"""The Celery app. Queues: ``cpu`` (default) and ``gpu`` (batched model inference only)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")

app = Celery("geoloc_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
