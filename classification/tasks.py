"""Celery tasks of the classification app: thin wrappers that take ids and call a service."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_filter_relevance(media_id: int) -> bool:
    from classification.services import media_filter_relevance as filter_relevance

    return filter_relevance(media_id=media_id)


@shared_task(acks_late=True)
def media_geolocate_text(media_id: int) -> bool:
    from classification.services import media_geolocate_text as geolocate

    return geolocate(media_id=media_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def post_geolocate_text(post_id: int) -> int | None:
    from classification.services import post_geolocate_text as geolocate

    location = geolocate(post_id=post_id)
    return location.pk if location else None
