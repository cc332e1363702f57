"""Test-only Celery app that loads the inference code at start and, asked to, stalls in the middle of inference.

Started as ``celery -A tests.integration.slow_worker worker ...`` (``celery_process(app=...)``). With
``SLOW_INFERENCE_MARKER`` set, scoring a batch writes that file (the worker is now inside inference), then sleeps;
the test waits for the file and kills the worker's process group. Without it the worker only has torch and the
model code loaded before it is ready, as a GPU worker serving a model would. No fault hook lives in the
production code.
"""

import os
import time
from pathlib import Path

from classification.difficulty import inference
from geoloc_platform.celery import app  # noqa: F401 (celery -A finds the app here)

STALL_SECONDS = 600


def _stall_inference(marker: Path) -> None:
    score = inference.images_score

    def images_score_stalled(*args, **kwargs):
        marker.write_text(str(os.getpid()))
        time.sleep(STALL_SECONDS)
        return score(*args, **kwargs)

    inference.images_score = images_score_stalled


# Patched here, before the prefork pool forks: its child processes inherit the stalled inference.
if os.environ.get("SLOW_INFERENCE_MARKER"):
    _stall_inference(Path(os.environ["SLOW_INFERENCE_MARKER"]))
