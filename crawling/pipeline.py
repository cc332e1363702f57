"""Which Celery task moves an image on from each pipeline stage.

Apps register their step in ``AppConfig.ready()``. The sweeper and ``media_nudge`` look a stage up here,
so a lost message only delays an image: the stage stored in the database says what is still to do.
"""

from django.utils.module_loading import import_string

_STEP_TASKS: dict[str, str] = {}


def register_step(stage: str, task_name: str) -> None:
    """Declare that ``task_name(media_id)`` advances an image out of ``stage``."""
    _STEP_TASKS[str(stage)] = task_name


def step_task_name(stage: str) -> str | None:
    return _STEP_TASKS.get(str(stage))


def stages_with_steps() -> list[str]:
    return list(_STEP_TASKS)


def send_step(*, stage: str, media_id: int) -> bool:
    """Send the step of ``stage`` for this image; False when no automated step starts from it."""
    task_name = step_task_name(stage)
    if task_name is None:
        return False
    # Importing the task registers it, whether or not this process ran Celery's autodiscovery.
    import_string(task_name).delay(media_id)  # runs in-process on the embedded default
    return True
