"""Reads of the geolocatability estimators: the version that scores a crisis, what is known around an image, the
crisis's training labels and held-back images, cached embeddings, and the dashboard's figures."""

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from classification.difficulty.data import rating_class
from classification.difficulty.geolocatability import ImageEvidence, TextTier
from classification.models import DifficultyPrediction, MediaEmbedding, ModelVersion, PostGeolocation
from crawling.models import Media

STREET_LABELS = {"STREET", "FAC"}
TOWN_KINDS = {"city", "local"}
REGION_KINDS = {"admin1", "admin2", "country", "continent"}
OCR_MIN_CHARACTERS = 6  # letters or digits: fewer is usually noise (a logo, a watermark's fragment)


# --- held-back images --------------------------------------------------------------------------------------------
def held_back(*, media_id: int, share: float | None = None) -> bool:
    """Whether an image is kept out of every difficulty training set, to judge versions on images none of them saw.

    A fixed function of the image's id: the same images stay held back as ratings grow, so each new version is
    compared with the active one on images that neither trained on.
    """
    share = settings.DIFFICULTY_LEARN_HELD_BACK_SHARE if share is None else share
    digest = hashlib.sha256(f"difficulty-held-back:{media_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


@dataclass(frozen=True)
class LearningLabel:
    media_id: int
    group: str  # duplicates share their representative's group
    label: int  # 1: easy


def learning_labels(*, crisis_id: int | None) -> list[LearningLabel]:
    """The crisis's consensus ratings (every crisis's when None) as easy (1) / difficult (0) under
    DIFFICULTY_CLASS_MAPPING; ratings the mapping leaves out (Medium in the paper's) are not returned."""
    from consensus.selectors import training_labels

    rows = training_labels(crisis_id=crisis_id, exclude_warned=settings.DIFFICULTY_EXCLUDE_WARNED)
    field = "mv_label" if settings.DIFFICULTY_LABEL_METHOD == "majority_vote" else "label"
    labels = []
    for media_id, duplicate_of_id, rating in rows.values_list("media_id", "media__duplicate_of_id", field):
        name = rating_class(rating or "", mapping=settings.DIFFICULTY_CLASS_MAPPING)
        if name is not None:
            labels.append(LearningLabel(media_id, str(duplicate_of_id or media_id), int(name == "easy")))
    return labels


# --- the version that scores a crisis ----------------------------------------------------------------------------
def difficulty_versions(*, crisis_id: int) -> list[ModelVersion]:
    """The crisis's own difficulty versions and the global ones, newest first: the history the dashboard shows."""
    return list(
        ModelVersion.objects.filter(purpose=ModelVersion.Purpose.DIFFICULTY)
        .filter(Q(crisis_id=crisis_id) | Q(crisis__isnull=True))
        .order_by("-created_at")
    )


def cold_start_version(*, checkpoint: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        purpose=ModelVersion.Purpose.DIFFICULTY, estimator=ModelVersion.Estimator.COLD_START, checkpoint=checkpoint
    ).first()


# --- evidence around an image ------------------------------------------------------------------------------------
def _text_tier(location: PostGeolocation | None) -> TextTier:
    if location is None or location.is_fallback:
        return TextTier.NONE
    if location.method == PostGeolocation.Method.NATIVE:
        return TextTier.NATIVE
    if location.method == PostGeolocation.Method.GEOCODER or any(
        span.get("label") in STREET_LABELS for span in location.spans or []
    ):
        return TextTier.STREET
    kind = (location.candidates or [{}])[0].get("kind", "")
    if kind in TOWN_KINDS:
        return TextTier.TOWN
    if kind in REGION_KINDS:
        return TextTier.REGION
    return TextTier.NONE


_TIER_RANK = {tier: rank for rank, tier in enumerate(reversed(TextTier))}  # NONE lowest, NATIVE highest


def media_evidence(*, media: list[Media]) -> dict[int, ImageEvidence]:
    """What the post, the image's text and its copies say, per image: a few queries for the whole batch."""
    ids = [image.pk for image in media]
    copies: dict[int, list[int]] = {}
    for representative, post_id in Media.objects.filter(duplicate_of_id__in=ids).values_list(
        "duplicate_of_id", "post_id"
    ):
        copies.setdefault(representative, []).append(post_id)
    post_ids = {image.post_id for image in media} | {p for posts in copies.values() for p in posts}
    locations = {row.post_id: row for row in PostGeolocation.objects.filter(post_id__in=post_ids)}
    ocr = dict(Media.objects.filter(pk__in=ids, relevance__isnull=False).values_list("pk", "relevance__ocr_text"))
    located = _located_elsewhere(media)
    evidence = {}
    for image in media:
        # The best text among the image's own post and the posts that shared a copy of it.
        tiers = [_text_tier(locations.get(post)) for post in [image.post_id, *copies.get(image.pk, [])]]
        tier = max(tiers, key=_TIER_RANK.__getitem__)
        text = ocr.get(image.pk) or ""
        own = locations.get(image.post_id)
        ocr_place = bool(own) and any(
            span.get("source") == "ocr" and span.get("ref") == image.pk for span in own.spans or []
        )
        evidence[image.pk] = ImageEvidence(
            text_tier=tier,
            ocr_text=len(re.findall(r"\w", text)) >= OCR_MIN_CHARACTERS,
            ocr_place=ocr_place,
            duplicate_located=image.pk in located,
        )
    return evidence


def _located_elsewhere(media: list[Media]) -> set[int]:
    """Images of the batch with an identical or near-identical copy (PHash within DEDUP_MAX_DISTANCE) published in
    another crisis. Within a crisis copies never reach the crowd: deduplication sends only one of them."""
    from consensus.models import LocationConsensus
    from crawling.dedup import hamming_distances

    crisis_ids = {image.crisis_id for image in media}
    published = list(
        LocationConsensus.objects.filter(status=LocationConsensus.Status.DONE)
        .exclude(crisis_id__in=crisis_ids)
        .exclude(media__phash="")
        .values_list("crisis_id", "media__sha256", "media__phash")
    )
    if not published:
        return set()
    hashes = [phash for _, _, phash in published]
    found = set()
    for image in media:
        if (image.sha256 and any(sha == image.sha256 for _, sha, _ in published)) or (
            image.phash and hamming_distances(image.phash, hashes).min() <= settings.DEDUP_MAX_DISTANCE
        ):
            found.add(image.pk)
    return found


# --- cached embeddings -------------------------------------------------------------------------------------------
def embedding_vectors(*, media_ids: list[int], backbone: str, views: int) -> dict[int, np.ndarray]:
    rows = MediaEmbedding.objects.filter(media_id__in=media_ids, backbone=backbone, views=views)
    return {
        media_id: np.frombuffer(bytes(vector), dtype="<f2").astype(np.float32)
        for media_id, vector in rows.values_list("media_id", "vector")
    }


# --- the dashboard -----------------------------------------------------------------------------------------------
DECISIONS = {
    "promoted": gettext_lazy("promoted"),
    "kept_incumbent": gettext_lazy("not better than the active version"),
    "not_decided": gettext_lazy("not decided"),
}


def _quality(version: ModelVersion) -> dict:
    """The figures that say how good a version is, and on what they were measured."""
    metrics = version.metrics or {}
    evaluation = version.evaluation or {}
    if version.estimator == ModelVersion.Estimator.COLD_START:
        record = (version.training_settings or {}).get("record", {})
        measured_on = _("%(count)s images of %(folder)s from groups it never trained on") % {
            "count": record.get("split", {}).get("validation_images", "?"),
            "folder": record.get("data", {}).get("folder", "?"),
        }
    elif evaluation.get("held_back"):
        measured_on = _("%(count)s held-back images of the crisis") % {"count": evaluation["held_back"]}
    else:
        measured_on = _("its test split")
    return {
        "measured_on": measured_on,
        "accuracy": (metrics.get("accuracy") or {}).get("value"),
        "accuracy_low": (metrics.get("accuracy") or {}).get("low"),
        "accuracy_high": (metrics.get("accuracy") or {}).get("high"),
        "roc_auc": (metrics.get("roc_auc") or {}).get("value"),
        "precision_easy_top_20": metrics.get("precision_easy_top_20"),
    }


def _version_row(version: ModelVersion) -> dict:
    evaluation = version.evaluation or {}
    return {
        "id": version.pk,
        "name": version.name,
        "estimator": version.estimator,
        "estimator_display": version.get_estimator_display(),
        "scope": "crisis" if version.crisis_id else "global",
        "is_active": version.is_active,
        "created_at": version.created_at,
        "activated_at": version.activated_at,
        "labels": version.consensus_labels,
        "quality": _quality(version),
        "decision": DECISIONS.get(evaluation.get("decision", ""), evaluation.get("decision", "")),
        "reason": evaluation.get("reason", ""),
        "incumbent_accuracy": ((evaluation.get("incumbent") or {}).get("metrics") or {}).get("accuracy"),
    }


def difficulty_dashboard(*, crisis_id: int, history: int = 10) -> dict:
    """Which version scores the crisis, how good it measured, which versions scored the images waiting for the
    crowd, and the crisis's version history with each promotion decision."""
    from classification.models import ModelVersion as Version
    from classification.selectors import model_version_active

    active = model_version_active(crisis_id=crisis_id)
    waiting = (
        DifficultyPrediction.objects.filter(
            media__crisis_id=crisis_id, media__stage__in=[Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK]
        )
        .values("model_version_id")
        .annotate(images=Count("pk"))
    )
    names = dict(Version.objects.filter(pk__in=[row["model_version_id"] for row in waiting]).values_list("pk", "name"))
    scored_by = sorted(
        (
            {"version_id": row["model_version_id"], "name": names.get(row["model_version_id"]), "images": row["images"]}
            for row in waiting
        ),
        key=lambda row: -row["images"],
    )
    unscored_waiting = Media.objects.filter(
        crisis_id=crisis_id,
        stage__in=[Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK],
        difficulty_prediction__isnull=True,
    ).count()
    if unscored_waiting:
        scored_by.append({"version_id": None, "name": None, "images": unscored_waiting})
    labels = learning_labels(crisis_id=crisis_id)
    return {
        "active": _version_row(active) if active else None,
        "queue_scored_by": scored_by,
        "history": [_version_row(v) for v in difficulty_versions(crisis_id=crisis_id)[:history]],
        "learning": {
            "labels": len(labels),
            "held_back": sum(held_back(media_id=label.media_id) for label in labels),
            "min_ratings": settings.DIFFICULTY_LEARN_MIN_RATINGS,
        },
    }
