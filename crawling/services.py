"""Writes for posts and images, and the pipeline's stage moves, nudges and sweeper."""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crawling import pipeline
from crawling.imaging import ImageRejected, decode_image
from crawling.models import Media

logger = logging.getLogger(__name__)

FINAL_STAGES = frozenset(
    {
        Media.Stage.REJECTED,
        Media.Stage.DUPLICATE,
        Media.Stage.IRRELEVANT,
        Media.Stage.CANNOT_GEOLOCATE,
        Media.Stage.PUBLISHED,
    }
)


def media_advance(*, media_id: int, from_stage: str, to_stage: str, **fields) -> bool:
    """Move an image from ``from_stage`` to ``to_stage`` if it is still there; nudge its next step on commit.

    The conditional UPDATE is the claim: a duplicate or late message finds the stage moved and writes nothing.
    """
    moved = Media.objects.filter(pk=media_id, stage=from_stage).update(
        stage=to_stage, stage_changed_at=timezone.now(), stage_attempts=0, **fields
    )
    if moved:
        transaction.on_commit(lambda: pipeline.send_step(stage=to_stage, media_id=media_id))
    return moved == 1


def media_nudge(*, media_id: int) -> bool:
    """Send the step for the image's stored stage (what a lost message would have done)."""
    stage = Media.objects.filter(pk=media_id).values_list("stage", flat=True).first()
    return stage is not None and pipeline.send_step(stage=stage, media_id=media_id)


def pipeline_sweep(*, now=None, stuck_after: timedelta | None = None, max_attempts: int | None = None) -> dict:
    """Re-send the work of images stuck in a stage with an automated step; give up after ``max_attempts``.

    Returns counts: ``{"renudged": n, "gave_up": m}``. Each re-send is claimed by bumping ``stage_attempts``
    conditionally, so two sweepers running at once do not both re-send the same image.
    """
    now = now or timezone.now()
    stuck_after = stuck_after or settings.PIPELINE_STUCK_AFTER
    max_attempts = max_attempts or settings.PIPELINE_MAX_ATTEMPTS
    stuck = Media.objects.filter(
        stage__in=pipeline.stages_with_steps(), stage_changed_at__lt=now - stuck_after
    ).values_list("pk", "stage", "stage_attempts")
    renudged = gave_up = 0
    for media_id, stage, attempts in stuck.iterator():
        if attempts >= max_attempts:
            gave_up += Media.objects.filter(pk=media_id, stage=stage, stage_attempts=attempts).update(
                stage=Media.Stage.REJECTED,
                stage_changed_at=now,
                reject_reason=f"stuck: no progress from stage {stage!r} after {attempts} retries",
            )
            continue
        claimed = Media.objects.filter(pk=media_id, stage=stage, stage_attempts=attempts).update(
            stage_attempts=F("stage_attempts") + 1, stage_changed_at=now
        )
        if claimed:
            pipeline.send_step(stage=stage, media_id=media_id)
            renudged += 1
    if renudged or gave_up:
        logger.info("pipeline sweep: re-sent %d stuck images, gave up on %d", renudged, gave_up)
    return {"renudged": renudged, "gave_up": gave_up}


def media_reject(*, media_id: int, from_stage: str, reason: str) -> bool:
    return media_advance(
        media_id=media_id, from_stage=from_stage, to_stage=Media.Stage.REJECTED, reject_reason=reason[:300]
    )


def media_store_image(*, media: Media, data: bytes) -> bool:
    """Validate and store downloaded or imported bytes; NEW -> FETCHED, or REJECTED with the reason."""
    try:
        decoded = decode_image(data)
    except ImageRejected as refusal:
        return media_reject(media_id=media.pk, from_stage=Media.Stage.NEW, reason=refusal.reason)
    name = f"{media.crisis_id}-{media.pk}-{decoded.sha256[:16]}"
    # Files are written first, under content-addressed names, so a lost race leaves only an orphan file.
    stored_original = media.original.storage.save(f"originals/{name}.{decoded.format.lower()}", ContentFile(data))
    stored_clean = media.image.storage.save(f"media/{name}.{decoded.clean_extension}", ContentFile(decoded.clean_bytes))
    with transaction.atomic():
        return media_advance(
            media_id=media.pk,
            from_stage=Media.Stage.NEW,
            to_stage=Media.Stage.FETCHED,
            image=stored_clean,
            original=stored_original,
            content_type=decoded.content_type,
            byte_size=len(data),
            width=decoded.width,
            height=decoded.height,
            sha256=decoded.sha256,
            exif_lat=decoded.exif_lat,
            exif_lon=decoded.exif_lon,
            exif_taken_at=decoded.exif_taken_at,
            fetched_at=timezone.now(),
        )


def media_fetch(*, media_id: int) -> bool:
    """The step out of NEW: read the image from its imported file (downloads arrive with the crawlers)."""
    media = Media.objects.select_related("post").filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.NEW:
        return False
    if not media.source_path:
        return media_reject(media_id=media_id, from_stage=Media.Stage.NEW, reason="no_source: no file or URL to fetch")
    path = Path(media.source_path)
    limit = settings.IMAGE_MAX_BYTES
    try:
        if path.stat().st_size > limit:
            return media_reject(media_id=media_id, from_stage=Media.Stage.NEW, reason=f"too_large: over {limit} bytes")
        data = path.read_bytes()
    except OSError as error:
        return media_reject(media_id=media_id, from_stage=Media.Stage.NEW, reason=f"unreadable: {error.strerror}")
    return media_store_image(media=media, data=data)
