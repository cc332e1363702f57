"""Celery tasks of the mapping app: take ids, call one service, safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def media_blur(media_id: int) -> None:
    from mapping.services import media_blur as blur

    blur(media_id=media_id)


@shared_task(acks_late=True)
def public_images_blur() -> int:
    from mapping.services import public_images_blur as blur

    return blur()


@shared_task(acks_late=True)
def retention_purge_due() -> int:
    from mapping.services import retention_purge_due as purge

    return purge()


@shared_task(acks_late=True)
def crisis_retention_purge(crisis_id: int) -> None:
    from mapping.services import crisis_retention_purge as purge

    purge(crisis_id=crisis_id)
