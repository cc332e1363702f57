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


# Named *_gpu: CELERY_TASK_ROUTES sends them to the DIFFICULTY_QUEUE ("gpu" unless a deployment has no GPU worker).
@shared_task(bind=True, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_score_difficulty_gpu(self, media_id: int) -> int:
    from classification.services import difficulty_batch_wait, media_score_difficulty

    wait = difficulty_batch_wait(media_id=media_id)
    if wait > 0 and not self.request.is_eager:
        # Not a failure: wait for a fuller batch. The stage stays TEXT_GEOLOCATED, so nothing is lost meanwhile.
        self.apply_async(args=[media_id], countdown=wait)
        return 0
    return media_score_difficulty(media_id=media_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def media_rescore_difficulty_gpu(media_ids: list[int]) -> int:
    from classification.services import media_rescore_difficulty

    return media_rescore_difficulty(media_ids=media_ids)


@shared_task(acks_late=True)
def difficulty_train(crisis_id: int | None = None, user_id: int | None = None, options: dict | None = None) -> int:
    from classification.difficulty_services import model_version_promote_if_better
    from classification.services import difficulty_train as train

    version = train(crisis_id=crisis_id, user_id=user_id, **(options or {}))
    model_version_promote_if_better(version=version)  # the same rule as versions learned in a crisis
    return version.pk


@shared_task(acks_late=True)
def difficulty_learn(crisis_id: int, user_id: int | None = None) -> int | None:
    from classification.difficulty_services import difficulty_learn as learn

    version = learn(crisis_id=crisis_id, user_id=user_id)
    return version.pk if version else None


@shared_task(acks_late=True)
def difficulty_learn_due() -> int:
    from classification.difficulty_services import difficulty_learn_due as due

    return due()


@shared_task(acks_late=True)
def difficulty_retrain_due() -> int:
    from classification.services import difficulty_retrain_due as due

    return due()


@shared_task(acks_late=True)
def relevance_train(crisis_id: int | None = None, user_id: int | None = None, options: dict | None = None) -> int:
    from classification.services import relevance_train as train

    return train(crisis_id=crisis_id, user_id=user_id, **(options or {})).pk


@shared_task(acks_late=True)
def relevance_retrain_due() -> int:
    from classification.services import relevance_retrain_due as due

    return due()
