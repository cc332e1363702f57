"""Run the Celery beat schedule in this process: the embedded platform's stand-in for beat + workers.

With no broker configured, tasks execute eagerly, so sending a periodic task here runs it here.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Run the periodic tasks of CELERY_BEAT_SCHEDULE in-process (embedded default, no broker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every periodic task once and exit.")

    def handle(self, *args, once: bool = False, **options):
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("A broker is configured: run `celery beat` and workers instead.")
        schedule = {name: entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
        next_run = dict.fromkeys(schedule, 0.0)
        while True:
            now = time.monotonic()
            for name, entry in schedule.items():
                if now < next_run[name]:
                    continue
                close_old_connections()
                try:
                    import_string(entry["task"]).apply(args=entry.get("args", ()))
                except Exception as error:
                    self.stderr.write(f"{name}: {type(error).__name__}: {error}")
                next_run[name] = now + entry["schedule"].total_seconds()
            if once:
                return
            time.sleep(max(0.5, min(next_run.values()) - time.monotonic()))
