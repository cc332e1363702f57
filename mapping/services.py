"""Writes of the mapping app: dashboard snapshots, blurred copies for public maps, privacy policy, retention purge."""

from __future__ import annotations

import io
import logging
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageOps

from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis
from mapping import privacy, selectors
from mapping.models import BlurredImage, CrisisPrivacy, DashboardSnapshot

logger = logging.getLogger(__name__)


def dashboard_snapshot_refresh(*, crisis_id: int) -> DashboardSnapshot:
    """Recompute one crisis's dashboard statistics and store them (one row per crisis, replaced)."""
    started = time.monotonic()
    now = timezone.now()
    data = selectors.dashboard_statistics(crisis_id=crisis_id, now=now)
    snapshot, _ = DashboardSnapshot.objects.update_or_create(
        crisis_id=crisis_id,
        defaults={"data": data, "computed_at": now, "duration_ms": int((time.monotonic() - started) * 1000)},
    )
    return snapshot


def dashboard_snapshot_fresh(*, crisis: Crisis) -> DashboardSnapshot:
    """The crisis's dashboard statistics, at most ``MAP_DASHBOARD_MAX_AGE_SECONDS`` old: recomputed here when older.

    Computed only while someone looks. One request at a time recomputes a crisis's statistics (a cache key taken
    with ``add``, atomic in Redis and the database cache); the others meanwhile get the snapshot being replaced.
    """
    snapshot = selectors.dashboard_snapshot(crisis=crisis)
    max_age = settings.MAP_DASHBOARD_MAX_AGE_SECONDS
    if snapshot is not None and (timezone.now() - snapshot.computed_at).total_seconds() < max_age:
        return snapshot
    if snapshot is None or cache.add(f"dashboard-refresh:{crisis.pk}", 1, timeout=max(1, max_age)):
        snapshot = dashboard_snapshot_refresh(crisis_id=crisis.pk)
    return snapshot


def media_blur(*, media_id: int) -> BlurredImage | None:
    """Make (once) the copy of an image with faces and licence plates blurred; None when the image has no file.

    Safe to run twice: the detection runs outside any transaction and a second writer loses on the unique key.
    """
    existing = selectors.blurred_image(media_id=media_id)
    if existing is not None:
        return existing
    media = Media.objects.filter(pk=media_id).only("pk", "image").first()
    if media is None or not media.image:
        return None
    with media.image.open("rb") as handle:
        image = ImageOps.exif_transpose(Image.open(handle))
        image.load()
    found = privacy.sensitive_regions(image)
    blurred = privacy.blur_regions(image, [*found.faces, *found.plates])
    out = io.BytesIO()
    blurred.save(out, "JPEG", quality=85)
    record = BlurredImage(
        media_id=media_id, faces=len(found.faces), plates=len(found.plates), detector=privacy.detector_name()
    )
    record.image.save(f"{media_id}.jpg", ContentFile(out.getvalue()), save=False)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        record.image.delete(save=False)
        return selectors.blurred_image(media_id=media_id)
    return record


def public_images_blur(*, limit: int = 50) -> int:
    """Blur the next images shown on public maps that have no blurred copy yet."""
    done = 0
    for media_id in selectors.media_needing_blur(limit=limit):
        if media_blur(media_id=media_id) is not None:
            done += 1
    return done


LEASE_IMAGE_SALT = "mapping.lease-image"


def volunteer_image_url(*, media: Media, lease_id: int, volunteer_id: int) -> str:
    """The image URL of a lease's page: it works for that volunteer, signed in, while the lease is open
    (``views.lease_image`` checks), and serves the blurred copy when the crisis asks for it. Signed, so the lease
    and image cannot be swapped for another's. An image never stored (its post's own URL) is returned as is.

    For tasks_app's lease payload: ``image_url = volunteer_image_url(media=..., lease_id=..., volunteer_id=...)``.
    """
    if not media.image:
        return media.remote_url
    token = signing.dumps([lease_id, media.pk, volunteer_id], salt=LEASE_IMAGE_SALT)
    return reverse("mapping:lease-image", args=[token])


def lease_image_token_read(*, token: str) -> tuple[int, int, int] | None:
    """(lease id, media id, volunteer id) of a token made by ``volunteer_image_url``; None if forged."""
    try:
        lease_id, media_id, volunteer_id = signing.loads(token, salt=LEASE_IMAGE_SALT)
        return int(lease_id), int(media_id), int(volunteer_id)
    except (signing.BadSignature, TypeError, ValueError):
        return None


def crisis_privacy_set(*, crisis: Crisis, blur_for_volunteers: bool) -> CrisisPrivacy:
    policy, _ = CrisisPrivacy.objects.update_or_create(
        crisis=crisis, defaults={"blur_for_volunteers": blur_for_volunteers}
    )
    return policy


def crisis_retention_purge(*, crisis_id: int) -> dict:
    """Purge source posts and originals of a closed crisis; keep locations, consensus and derived images.

    Acts only on a closed crisis not yet purged; the marker row is claimed first, so a second run does nothing.
    """
    with transaction.atomic():
        crisis = Crisis.objects.select_for_update().get(pk=crisis_id)
        if crisis.status != Crisis.Status.CLOSED:
            return {"purged": False}
        policy, _ = CrisisPrivacy.objects.select_for_update().get_or_create(
            crisis=crisis, defaults={"blur_for_volunteers": settings.MAP_BLUR_FOR_VOLUNTEERS_DEFAULT}
        )
        if policy.purged_at is not None:
            return {"purged": False}
        posts = Post.objects.filter(crisis_id=crisis_id).update(
            text="", author_handle="", raw={}, geo_place="", hashtags=[]
        )
        originals = list(
            Media.objects.filter(crisis_id=crisis_id).exclude(original="").values_list("original", flat=True)
        )
        Media.objects.filter(crisis_id=crisis_id).update(
            original="", exif_lat=None, exif_lon=None, exif_taken_at=None, alt_text=""
        )
        policy.purged_at = timezone.now()
        policy.save(update_fields=["purged_at"])
        # Files go after the commit: a rolled-back purge must not have lost them.
        transaction.on_commit(lambda: _files_delete(originals))
    logger.info("Retention purge of crisis %s: %d posts, %d originals", crisis_id, posts, len(originals))
    return {"purged": True, "posts": posts, "originals": len(originals)}


def _files_delete(names: list[str]) -> None:
    storage = Media._meta.get_field("original").storage
    for name in names:
        storage.delete(name)


def retention_purge_due() -> int:
    count = 0
    for crisis in selectors.crises_due_for_purge(now=timezone.now()):
        if crisis_retention_purge(crisis_id=crisis.pk)["purged"]:
            count += 1
    return count
