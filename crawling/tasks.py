"""Celery tasks of the crawling app: thin wrappers that take ids and call a service."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_fetch(media_id: int) -> bool:
    from crawling.services import media_fetch as fetch

    return fetch(media_id=media_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_dedup(media_id: int) -> bool:
    from crawling.services import media_dedup as dedup

    return dedup(media_id=media_id)


@shared_task(acks_late=True)
def pipeline_sweep() -> dict:
    from crawling.services import pipeline_sweep as sweep

    return sweep()


@shared_task(acks_late=True)
def media_nudge(media_id: int) -> bool:
    from crawling.services import media_nudge as nudge

    return nudge(media_id=media_id)


@shared_task(acks_late=True)
def crawl_active_crises() -> int:
    from crawling.services import crawl_active_crises as crawl_all

    return crawl_all()


@shared_task(acks_late=True)
def crawl_crisis(crisis_id: int) -> list[str]:
    from crawling.services import crawl_crisis as crawl

    return crawl(crisis_id=crisis_id)


@shared_task(acks_late=True)
def crawl_source(crisis_id: int, source: str) -> dict:
    """Safe to run twice: the crawl lease lets one run at a time, and cursors make the second one resume."""
    from dataclasses import asdict

    from crawling.services import crawl_source as crawl

    return asdict(crawl(crisis_id=crisis_id, source=source))


@shared_task(acks_late=True)
def import_job_run(job_id: int) -> bool:
    """Safe to run twice: the job is claimed by a conditional UPDATE and each row is recorded once."""
    from crawling.services import import_job_run as run

    return run(job_id=job_id)
