"""Celery tasks of the consensus app: take ids, call a service; every service recomputes, so reruns are safe."""

from celery import shared_task


@shared_task(acks_late=True)
def rating_consensus_update(crisis_id: int) -> int:
    from django.core.cache import cache

    from consensus.services import rating_consensus_update as update

    cache.delete(f"consensus:ratings:{crisis_id}")  # reopen the debounce window before reading the answers
    return update(crisis_id=crisis_id)


@shared_task(acks_late=True)
def answer_recorded(answer_id: int) -> None:
    from consensus.services import answer_recorded as recorded

    recorded(answer_id=answer_id)


@shared_task(acks_late=True)
def active_crises_refresh() -> int:
    from consensus.services import active_crises_refresh as refresh

    return refresh()


@shared_task(acks_late=True)
def location_reviewed(media_id: int) -> int:
    from consensus.services import location_reviewed as reviewed

    return reviewed(media_id=media_id)
