"""The Celery app. Queues: ``cpu`` (default) and ``gpu`` (batched model inference only)."""

import logging
import os
import time

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")

app = Celery("geoloc_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


def worker_queues(worker) -> set[str]:
    """The queues a starting worker consumes (``-Q``), or the default queue when it names none."""
    consume_from = worker.app.amqp.queues.consume_from
    return set(consume_from) if consume_from else {worker.app.conf.task_default_queue}


@worker_init.connect
def gazetteer_preload_before_fork(sender, **kwargs) -> None:
    """A ``cpu`` worker loads the gazetteer in its parent process, before the pool forks its children.

    Text geolocation runs on the ``cpu`` queue and needs the gazetteer (about 1.3 GB in a process). Loaded here,
    every child shares its pages copy-on-write instead of loading its own (README, "Worker memory"). Only the
    loader's public entry point is called: the index's internals are the classification app's business.
    """
    from django.conf import settings

    if not settings.GEOLOC_GAZETTEER_PRELOAD or settings.CELERY_TASK_DEFAULT_QUEUE not in worker_queues(sender):
        return
    from django.db import connections

    from classification.geolocation.loader import geolocator_preload

    started = time.perf_counter()
    geolocator_preload()
    seconds = time.perf_counter() - started
    logger.info("gazetteer loaded before forking: %.1f s in worker process %d", seconds, os.getpid())
    # The loader read the Place table: a connection opened here must not be inherited by the forked children.
    connections.close_all()
