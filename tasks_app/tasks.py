"""Celery tasks of crowd work: thin wrappers that take ids and call a service; safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True)
def media_queue_scored(media_id: int) -> bool:
    from tasks_app.services import media_queue_scored as queue

    return queue(media_id=media_id)


@shared_task(acks_late=True)
def media_queue_for_crowd(media_id: int) -> bool:
    from tasks_app.services import media_queue_for_crowd as queue

    return queue(media_id=media_id)


@shared_task(acks_late=True)
def lease_expire_due() -> int:
    from tasks_app.services import lease_expire_due as expire

    return expire()
