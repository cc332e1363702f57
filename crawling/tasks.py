"""Celery tasks of the crawling app: thin wrappers that take ids and call a service."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_fetch(media_id: int) -> bool:
    from crawling.services import media_fetch as fetch

    return fetch(media_id=media_id)


@shared_task(acks_late=True)
def pipeline_sweep() -> dict:
    from crawling.services import pipeline_sweep as sweep

    return sweep()


@shared_task(acks_late=True)
def media_nudge(media_id: int) -> bool:
    from crawling.services import media_nudge as nudge

    return nudge(media_id=media_id)
