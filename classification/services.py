"""Writes of the classification app: the relevance filter, text geolocation of posts, restores and labels.

Each pipeline step acts only from the stage stored in the database (``crawling.services.media_advance`` is the
conditional claim), so a duplicate or late message changes nothing. Slow work (decoding, OCR, recognition)
runs outside any transaction.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from PIL import Image

from classification.geolocation.geocoder import CachedGeocoder
from classification.geolocation.loader import geolocator
from classification.geolocation.resolver import CrisisContext, GeolocationResult
from classification.models import MediaRelevance, PostGeolocation, RelevanceLabel
from classification.relevance import rules
from classification.relevance.ocr import read_text
from classification.selectors import post_text_sources
from crawling.models import Media, Post
from crawling.services import media_advance
from geoloc_platform.crises.models import Crisis

logger = logging.getLogger(__name__)


# --- Relevance filter ----------------------------------------------------------------------------------------
def relevance_thresholds() -> rules.Thresholds:
    return rules.Thresholds(
        min_side_px=settings.RELEVANCE_MIN_SIDE_PX,
        max_aspect_ratio=settings.RELEVANCE_MAX_ASPECT_RATIO,
        max_text_area=settings.RELEVANCE_MAX_TEXT_AREA,
        max_flat_fraction=settings.RELEVANCE_MAX_FLAT_FRACTION,
    )


def media_filter_relevance(*, media_id: int) -> bool:
    """UNIQUE -> RELEVANT or IRRELEVANT by the rules; the decision is kept, nothing is deleted."""
    media = Media.objects.filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.UNIQUE:
        return False
    try:
        with media.image.open("rb") as stream, Image.open(stream) as image:
            image.load()
            verdict = rules.judge(
                image,
                alt_text=media.alt_text,
                url=media.remote_url,
                thresholds=relevance_thresholds(),
                ocr=read_text if settings.RELEVANCE_OCR_ENABLED else None,
            )
    except (OSError, ValueError) as error:
        # The image was decoded when fetched; unreadable now means storage trouble: keep it for the crowd.
        logger.warning("relevance: image %s unreadable (%s), kept", media_id, error)
        verdict = rules.Verdict(False, details={"error": str(error)[:200]})
    to_stage = Media.Stage.IRRELEVANT if verdict.drop else Media.Stage.RELEVANT
    with transaction.atomic():
        moved = media_advance(
            media_id=media_id,
            from_stage=Media.Stage.UNIQUE,
            to_stage=to_stage,
            reject_reason=f"irrelevant: {verdict.rule}" if verdict.drop else "",
        )
        if moved:
            MediaRelevance.objects.update_or_create(
                media_id=media_id,
                defaults={
                    "dropped": verdict.drop,
                    "rule": verdict.rule,
                    "score": verdict.score,
                    "details": verdict.details,
                    "ocr_text": verdict.ocr_text,
                },
            )
    return moved


@transaction.atomic
def media_restore_relevance(*, media_id: int, user=None) -> bool:
    """A coordinator overrules the filter: IRRELEVANT -> RELEVANT, recorded as a training label."""
    rule = MediaRelevance.objects.filter(media_id=media_id).values_list("rule", flat=True).first() or ""
    moved = media_advance(
        media_id=media_id, from_stage=Media.Stage.IRRELEVANT, to_stage=Media.Stage.RELEVANT, reject_reason=""
    )
    if moved:
        RelevanceLabel.objects.create(
            media_id=media_id, relevant=True, source=RelevanceLabel.Source.RESTORE, rule=rule, labelled_by=user
        )
    return moved


def relevance_label_record(*, media_id: int, relevant: bool, source: str, user=None) -> RelevanceLabel:
    """Record a human relevance judgement (a coordinator's confirmation, a crowd "not relevant" answer)."""
    rule = MediaRelevance.objects.filter(media_id=media_id).values_list("rule", flat=True).first() or ""
    return RelevanceLabel.objects.create(
        media_id=media_id, relevant=relevant, source=source, rule=rule, labelled_by=user
    )


# --- Text geolocation ----------------------------------------------------------------------------------------
def crisis_context(*, crisis: Crisis) -> CrisisContext:
    keywords = [word for words in (crisis.keywords or {}).values() for word in words]
    return geolocator().context(
        name=crisis.name,
        countries=crisis.country_codes or [],
        area_geojson=crisis.affected_area,
        hashtags=crisis.hashtags or [],
        keywords=keywords,
    )


def post_locate(*, post: Post) -> GeolocationResult:
    """Compute (without storing) the text location of a post. Native coordinates win when the post has them."""
    context = crisis_context(crisis=post.crisis)
    sources = post_text_sources(
        post=post, alt_weight=settings.GEOLOC_ALT_TEXT_WEIGHT, ocr_weight=settings.GEOLOC_OCR_WEIGHT
    )
    geocoder = CachedGeocoder(area=context.area)
    result = geolocator().locate(sources, context, geocode=geocoder if geocoder else None)
    result.provenance["geocoder"] = (
        {
            "provider": geocoder.provider,
            "sent": geocoder.sent,
            "cache_hits": geocoder.cache_hits,
        }
        if geocoder
        else None
    )
    if post.geo_lat is not None and post.geo_lon is not None:
        accuracy_km = (post.geo_accuracy_m or 1000.0) / 1000.0
        result.provenance["text_point"] = [result.lat, result.lon, result.radius_km, result.method]
        result.lat, result.lon, result.radius_km = post.geo_lat, post.geo_lon, round(max(accuracy_km, 0.01), 3)
        result.method, result.is_fallback = PostGeolocation.Method.NATIVE, False
    return result


def post_geolocate_text(*, post_id: int) -> PostGeolocation | None:
    """Geolocate a post from its texts once, then move its RELEVANT images on. Safe to run twice."""
    location = PostGeolocation.objects.filter(post_id=post_id).first()
    if location is None:
        post = Post.objects.select_related("crisis").filter(pk=post_id).first()
        if post is None:
            return None
        result = post_locate(post=post)  # slow: recognition and maybe the geocoder, outside any transaction
        try:
            with transaction.atomic():
                location = PostGeolocation.objects.create(
                    post_id=post_id,
                    lat=result.lat,
                    lon=result.lon,
                    radius_km=result.radius_km,
                    method=result.method,
                    is_fallback=result.is_fallback,
                    score=result.score,
                    candidates=result.candidates,
                    spans=result.spans,
                    provenance=result.provenance,
                )
        except IntegrityError:  # a concurrent run stored it first: theirs stands
            location = PostGeolocation.objects.get(post_id=post_id)
    with transaction.atomic():
        for media_id in Media.objects.filter(post_id=post_id, stage=Media.Stage.RELEVANT).values_list("pk", flat=True):
            media_advance(media_id=media_id, from_stage=Media.Stage.RELEVANT, to_stage=Media.Stage.TEXT_GEOLOCATED)
    return location


def media_geolocate_text(*, media_id: int) -> bool:
    """The step out of RELEVANT: reuse the post's location, or ask for it once (the post task moves us on)."""
    post_id = Media.objects.filter(pk=media_id, stage=Media.Stage.RELEVANT).values_list("post_id", flat=True).first()
    if post_id is None:
        return False
    if PostGeolocation.objects.filter(post_id=post_id).exists():
        return media_advance(media_id=media_id, from_stage=Media.Stage.RELEVANT, to_stage=Media.Stage.TEXT_GEOLOCATED)
    from classification.tasks import post_geolocate_text as post_geolocate_text_task

    transaction.on_commit(lambda: post_geolocate_text_task.delay(post_id))
    return False
