"""Writes for consensus: aggregate ratings, place images from their pins, retire them, learn volunteer skill.

Every update recomputes from all answers in the database and overwrites its result, so running it twice, late
or out of order changes nothing (the idempotence the debounced tasks rely on).
"""

import logging
from collections import Counter

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from consensus import selectors
from consensus.aggregation import dawid_skene, item_results, majority_vote
from consensus.agreement import generalised_fleiss_kappa, krippendorff_alpha, rating_counts
from consensus.models import (
    RATING_CLASSES,
    CrisisRatingStats,
    LocationConsensus,
    LocationConsensusChange,
    RatingConsensus,
    VolunteerSkill,
)
from consensus.spatial import answer_weights, haversine_m, retirement_decision, spatial_consensus
from crawling.models import Media
from crawling.services import FINAL_STAGES, media_advance
from geoloc_platform.crises.models import Crisis
from geoloc_platform.exceptions import InvalidTransition
from tasks_app import services as crowd

logger = logging.getLogger(__name__)

DIFFICULTY_CLASSES = 4  # easy..impossible: the ordinal scale for agreement; "not relevant" is nominal only

_STAGE_FOR_STATUS = {
    LocationConsensus.Status.DONE: Media.Stage.PUBLISHED,
    LocationConsensus.Status.NEEDS_EXPERT_REVIEW: Media.Stage.NEEDS_REVIEW,
    LocationConsensus.Status.CANNOT_GEOLOCATE: Media.Stage.CANNOT_GEOLOCATE,
}


# --- ratings ---------------------------------------------------------------------------------------------------


def rating_consensus_update(*, crisis_id: int) -> int:
    """Aggregate every rating of a crisis (Dawid-Skene and majority vote); returns the number of images.

    Images whose result carries a warning are given extra rating slots, once.
    """
    media_ids, volunteer_ids, labels = selectors.rating_answers(crisis_id=crisis_id)
    if media_ids.size == 0:
        return 0
    items, item_idx = np.unique(media_ids, return_inverse=True)
    workers, worker_idx = np.unique(volunteer_ids, return_inverse=True)
    k = len(RATING_CLASSES)
    if settings.CONSENSUS_RATING_METHOD == "majority_vote":
        mv = majority_vote(item_idx=item_idx, label=labels, n_classes=k, n_items=len(items))
        ds = None
    else:
        mv = majority_vote(item_idx=item_idx, label=labels, n_classes=k, n_items=len(items))
        ds = dawid_skene(
            item_idx=item_idx,
            worker_idx=worker_idx,
            label=labels,
            n_classes=k,
            n_items=len(items),
            n_workers=len(workers),
            smoothing=settings.CONSENSUS_DS_SMOOTHING,
            min_answers=settings.CONSENSUS_DS_MIN_ANSWERS,
        )
    now = timezone.now()
    n_ratings = np.bincount(item_idx, minlength=len(items))
    rows = []
    warned_media = []
    if ds is not None:
        for result in item_results(ds=ds, mv=mv, margin=settings.CONSENSUS_WARNING_MARGIN):
            media_id = int(items[result.item])
            rows.append(
                RatingConsensus(
                    media_id=media_id,
                    crisis_id=crisis_id,
                    method="dawid_skene",
                    label=RATING_CLASSES[result.label],
                    posterior=float(result.posterior),
                    probabilities=dict(zip(RATING_CLASSES, map(float, ds.posteriors[result.item]), strict=True)),
                    mv_label=RATING_CLASSES[result.mv_label] if result.mv_label >= 0 else "",
                    mv_share=float(result.mv_share),
                    warnings=list(result.warnings),
                    n_ratings=int(n_ratings[result.item]),
                    computed_at=now,
                )
            )
            if result.warnings:
                warned_media.append(media_id)
    else:
        for index, media_id in enumerate(items):
            warnings = ["mv_tie"] if mv.ties[index] else []
            label = RATING_CLASSES[mv.labels[index]]
            rows.append(
                RatingConsensus(
                    media_id=int(media_id),
                    crisis_id=crisis_id,
                    method="majority_vote",
                    label=label,
                    posterior=float(mv.shares[index].max()),
                    probabilities=dict(zip(RATING_CLASSES, map(float, mv.shares[index]), strict=True)),
                    mv_label=label,
                    mv_share=float(mv.shares[index].max()),
                    warnings=warnings,
                    n_ratings=int(n_ratings[index]),
                    computed_at=now,
                )
            )
            if warnings:
                warned_media.append(int(media_id))
    with transaction.atomic():
        RatingConsensus.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["media"],
            update_fields=[
                "method",
                "label",
                "posterior",
                "probabilities",
                "mv_label",
                "mv_share",
                "warnings",
                "n_ratings",
                "computed_at",
            ],
            batch_size=2000,
        )
        _rating_stats_save(
            crisis_id=crisis_id,
            item_idx=item_idx,
            labels=labels,
            n_items=len(items),
            n_volunteers=len(workers),
            warned=len(warned_media),
        )
        if ds is not None:
            _rating_skills_save(crisis_id=crisis_id, workers=workers, worker_idx=worker_idx, ds=ds)
    _ask_more_ratings(media_ids=warned_media)
    return len(rows)


def _rating_stats_save(*, crisis_id, item_idx, labels, n_items, n_volunteers, warned) -> None:
    ordinal = labels < DIFFICULTY_CLASSES
    counts = rating_counts(
        item_idx=item_idx[ordinal], label=labels[ordinal], n_classes=DIFFICULTY_CLASSES, n_items=n_items
    )
    rated_twice = counts.sum(axis=1) >= 2
    kappa = alpha = None
    if rated_twice.sum() >= 2:
        kappa = _finite(generalised_fleiss_kappa(counts=counts[rated_twice]))
        alpha = _finite(krippendorff_alpha(counts=counts[rated_twice], level="ordinal"))
    CrisisRatingStats.objects.update_or_create(
        crisis_id=crisis_id,
        defaults={
            "n_ratings": int(labels.size),
            "n_images": n_items,
            "n_volunteers": n_volunteers,
            "fleiss_kappa": kappa,
            "krippendorff_alpha_ordinal": alpha,
            "warning_rate": warned / n_items,
            "computed_at": timezone.now(),
        },
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _rating_skills_save(*, crisis_id, workers, worker_idx, ds) -> None:
    answered = np.bincount(worker_idx, minlength=len(workers))
    for index, volunteer_id in enumerate(workers):
        confusion = ds.confusions[index]
        accuracy = float(np.dot(ds.priors, np.diag(confusion)))
        VolunteerSkill.objects.update_or_create(
            volunteer_id=int(volunteer_id),
            crisis_id=crisis_id,
            defaults={
                "n_ratings": int(answered[index]),
                "rating_pooled": bool(ds.pooled[index]),
                "rating_confusion": np.round(confusion, 4).tolist(),
                "rating_accuracy": accuracy,
                "computed_at": timezone.now(),
            },
        )


def _ask_more_ratings(*, media_ids: list[int]) -> None:
    """Warned images get CONSENSUS_EXTRA_RATINGS more slots, once (never beyond redundancy + extra)."""
    extra = settings.CONSENSUS_EXTRA_RATINGS
    if not extra or not media_ids:
        return
    for task in selectors.rating_tasks(media_ids=media_ids).select_related("crisis"):
        ceiling = task.crisis.rating_redundancy + extra
        if task.redundancy < ceiling and task.answers_count >= task.redundancy:
            crowd.crowd_task_set_redundancy(task_id=task.pk, redundancy=ceiling)


def rating_consensus_request(*, crisis_id: int) -> bool:
    """After a new rating: recompute now for a small crisis, else once per debounce window on a worker.

    Returns True when it ran synchronously.
    """
    if selectors.rating_answer_count(crisis_id=crisis_id) <= settings.CONSENSUS_SYNC_MAX_RATINGS:
        rating_consensus_update(crisis_id=crisis_id)
        return True
    from consensus.tasks import rating_consensus_update as rating_consensus_update_task

    debounce = settings.CONSENSUS_DEBOUNCE_SECONDS
    if cache.add(f"consensus:ratings:{crisis_id}", True, timeout=debounce):
        rating_consensus_update_task.apply_async(args=[crisis_id], countdown=debounce)
    return False


# --- locations -------------------------------------------------------------------------------------------------


@transaction.atomic
def location_consensus_update(*, media_id: int) -> LocationConsensus | None:
    """Place one image from its pins, decide whether it retires, and move it on; None without answers.

    The image's row is locked first, so runs for two answers committed at once take turns, and each reads
    every answer committed before it started.
    """
    media = Media.objects.select_for_update(of=("self",)).select_related("crisis").get(pk=media_id)
    answers = selectors.geolocation_answers(media_id=media_id)
    if answers.volunteer_ids.size == 0:
        return None
    crisis = media.crisis
    pinned = answers.pinned
    n_cannot = int((~pinned).sum())
    fields = {
        "lat": None,
        "lon": None,
        "radius_68_m": None,
        "radius_95_m": None,
        "ambiguous": False,
        "candidates": [],
        "precision": "",
    }
    result = None
    if pinned.any():
        precisions = [p for p, keep in zip(answers.precisions, pinned, strict=True) if keep]
        skills = selectors.volunteer_skills(crisis_id=crisis.pk, volunteer_ids=answers.volunteer_ids[pinned])
        weights = answer_weights(
            precisions=precisions,
            skills=[skills.get(int(v), settings.CROWD_NEWCOMER_SKILL) for v in answers.volunteer_ids[pinned]],
        )
        result = spatial_consensus(
            lat=answers.lat[pinned],
            lon=answers.lon[pinned],
            weights=weights,
            cluster_eps_m=settings.CONSENSUS_CLUSTER_EPS_M,
        )
        fields.update(
            lat=result.lat,
            lon=result.lon,
            radius_68_m=result.radius_68_m,
            radius_95_m=result.radius_95_m,
            ambiguous=result.ambiguous,
            precision=Counter(precisions).most_common(1)[0][0],
            candidates=[
                {
                    "lat": site.lat,
                    "lon": site.lon,
                    "radius_68_m": site.radius_68_m,
                    "n_answers": site.n_answers,
                    "weight_share": site.weight_share,
                }
                for site in result.candidates
            ],
        )
    decision = retirement_decision(
        n_answers=int(answers.volunteer_ids.size),
        n_cannot_geolocate=n_cannot,
        radius_68_m=fields["radius_68_m"],
        ambiguous=fields["ambiguous"],
        target_radius_m=settings.CONSENSUS_TARGET_RADIUS_M,
        min_answers=crisis.geolocation_redundancy,
        max_answers=max(crisis.geolocation_redundancy, settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS),
    )
    consensus, _ = LocationConsensus.objects.update_or_create(
        media=media,
        defaults={
            **fields,
            "crisis": crisis,
            "status": str(decision.status),
            "reason": decision.reason[:300],
            "n_answers": int(answers.volunteer_ids.size),
            "n_cannot_geolocate": n_cannot,
            "computed_at": timezone.now(),
            "copied_from": None,
        },
    )
    _apply_retirement(media=media, consensus=consensus)
    _geolocation_skills_save(crisis_id=crisis.pk, answers=answers, consensus=consensus)
    return consensus


def _apply_retirement(*, media: Media, consensus: LocationConsensus) -> None:
    task = selectors.geolocation_task(media_id=media.pk)
    if consensus.status == LocationConsensus.Status.NEEDS_MORE_ANSWERS:
        ceiling = max(media.crisis.geolocation_redundancy, settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS)
        # Only a decision that saw every answer the task asked for may ask for one more: a run that read fewer
        # answers than the task now holds is stale, and the run for the latest answer decides instead.
        if task is not None and consensus.n_answers >= task.redundancy < ceiling:
            crowd.crowd_task_set_redundancy(task_id=task.pk, redundancy=task.redundancy + 1)
        return
    if task is not None:
        crowd.crowd_task_retire(task_id=task.pk, reason=f"{consensus.status}: {consensus.reason}")
    _media_move(media_id=media.pk, to_stage=_STAGE_FOR_STATUS[consensus.status])
    if consensus.status == LocationConsensus.Status.DONE or (
        consensus.status == LocationConsensus.Status.NEEDS_EXPERT_REVIEW and consensus.lat is not None
    ):
        crowd.crowd_review_task_create(
            media_id=media.pk, lat=consensus.lat, lon=consensus.lon, radius_m=consensus.radius_68_m
        )
    duplicates_share_result(media_id=media.pk)


def _media_move(*, media_id: int, to_stage: str) -> bool:
    """Move a non-final image to ``to_stage`` from whatever working stage it is in (a conditional update)."""
    stage = Media.objects.filter(pk=media_id).values_list("stage", flat=True).first()
    if stage is None or stage == to_stage or (stage in FINAL_STAGES and stage != Media.Stage.PUBLISHED):
        return False
    return media_advance(media_id=media_id, from_stage=stage, to_stage=to_stage)


def duplicates_share_result(*, media_id: int) -> int:
    """Copy the representative's location result to the images recorded as its duplicates."""
    source = LocationConsensus.objects.filter(media_id=media_id).first()
    if source is None:
        return 0
    copied = 0
    for duplicate in Media.objects.filter(duplicate_of_id=media_id).only("pk", "crisis_id"):
        LocationConsensus.objects.update_or_create(
            media=duplicate,
            defaults={
                "crisis_id": duplicate.crisis_id,
                "status": source.status,
                "reason": f"duplicate of image {media_id}: {source.reason}"[:300],
                "lat": source.lat,
                "lon": source.lon,
                "radius_68_m": source.radius_68_m,
                "radius_95_m": source.radius_95_m,
                "precision": source.precision,
                "ambiguous": source.ambiguous,
                "candidates": source.candidates,
                "n_answers": source.n_answers,
                "n_cannot_geolocate": source.n_cannot_geolocate,
                "review": source.review,
                "copied_from_id": media_id,
                "computed_at": timezone.now(),
            },
        )
        copied += 1
    return copied


def _geolocation_skills_save(*, crisis_id: int, answers, consensus: LocationConsensus) -> None:
    if consensus.status != LocationConsensus.Status.DONE or consensus.lat is None:
        return
    pinned = answers.pinned
    for volunteer_id in set(answers.volunteer_ids[pinned].tolist()):
        volunteer_skill_recompute(volunteer_id=volunteer_id, crisis_id=crisis_id)


def volunteer_skill_recompute(*, volunteer_id: int, crisis_id: int) -> VolunteerSkill:
    """Median distance to consensus and to gold, time per task, and the skill the scheduler routes by."""
    from tasks_app.models import Answer, CrowdTask

    rows = list(
        Answer.objects.filter(
            volunteer_id=volunteer_id, crisis_id=crisis_id, kind=CrowdTask.Kind.GEOLOCATION
        ).values_list("media_id", "lat", "lon", "time_on_task_s", "gold_error_m", "is_gold")
    )
    centres = dict(
        (m, (lat, lon))
        for m, lat, lon in LocationConsensus.objects.filter(
            media_id__in=[r[0] for r in rows], status=LocationConsensus.Status.DONE, lat__isnull=False
        ).values_list("media_id", "lat", "lon")
    )
    to_consensus = [
        haversine_m(lat1=lat, lon1=lon, lat2=centres[m][0], lon2=centres[m][1])
        for m, lat, lon, _, _, gold in rows
        if not gold and lat is not None and m in centres
    ]
    to_gold = [error for *_, error, gold in rows if gold and error is not None]
    times = [t for _, _, _, t, _, _ in rows if t is not None]
    skill, _ = VolunteerSkill.objects.get_or_create(volunteer_id=volunteer_id, crisis_id=crisis_id)
    skill.n_geolocations = len(rows)
    skill.median_distance_to_consensus_m = float(np.median(to_consensus)) if to_consensus else None
    skill.median_distance_to_gold_m = float(np.median(to_gold)) if to_gold else None
    skill.median_time_on_task_s = float(np.median(times)) if times else None
    skill.skill = skill_score(skill)
    skill.computed_at = timezone.now()
    skill.save()
    crowd.volunteer_skill_set(user_id=volunteer_id, skill=skill.skill)
    return skill


def skill_score(skill: VolunteerSkill) -> float:
    """One number in [0, 1] for routing: closeness of pins (gold counts double) blended with rating accuracy.

    A pin 250 m from the consensus scores 0.5; the score halves again at 750 m. The estimate is shrunk towards
    the newcomer's default by ``CONSENSUS_SKILL_PRIOR_ANSWERS`` pseudo-answers: three lucky pins do not make an
    expert, and the crisis replay showed why it matters (with no shrinkage nearly every volunteer crossed the
    expert threshold within an hour, and easy images stopped going first).
    """
    parts, weights = [], []
    for distance, weight in ((skill.median_distance_to_consensus_m, 1.0), (skill.median_distance_to_gold_m, 2.0)):
        if distance is not None:
            parts.append(1.0 / (1.0 + distance / 250.0))
            weights.append(weight)
    if skill.rating_accuracy is not None and not skill.rating_pooled:
        parts.append(skill.rating_accuracy)
        weights.append(1.0)
    prior = settings.CROWD_NEWCOMER_SKILL
    if not parts:
        return prior
    evidence = skill.n_geolocations + skill.n_ratings
    pseudo = settings.CONSENSUS_SKILL_PRIOR_ANSWERS
    return float((evidence * np.average(parts, weights=weights) + pseudo * prior) / (evidence + pseudo))


# --- reviews and coordinators ----------------------------------------------------------------------------------


@transaction.atomic
def location_consensus_change(
    *,
    consensus: LocationConsensus,
    action: str,
    user,
    lat: float | None = None,
    lon: float | None = None,
    note: str = "",
) -> LocationConsensus:
    """Accept, move or reject a consensus location (a reviewer or a coordinator); every change is audited."""
    locked = LocationConsensus.objects.select_for_update().get(pk=consensus.pk)
    change = LocationConsensusChange(
        consensus=locked, action=action, changed_by=user, from_lat=locked.lat, from_lon=locked.lon, note=note[:500]
    )
    if action == LocationConsensusChange.Action.MOVE:
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InvalidTransition(
                "Moving a location needs a latitude in [-90, 90] and a longitude in [-180, 180].",
                code="invalid_coordinates",
            )
        locked.lat, locked.lon = lat, lon
        locked.review = LocationConsensus.Review.MOVED
        locked.status = LocationConsensus.Status.DONE
        to_stage = Media.Stage.PUBLISHED
    elif action == LocationConsensusChange.Action.ACCEPT:
        if locked.lat is None:
            raise InvalidTransition("There is no location to accept: move it instead.", code="nothing_to_accept")
        locked.review = LocationConsensus.Review.ACCEPTED
        locked.status = LocationConsensus.Status.DONE
        to_stage = Media.Stage.PUBLISHED
    elif action == LocationConsensusChange.Action.REJECT:
        locked.review = LocationConsensus.Review.REJECTED
        to_stage = Media.Stage.NEEDS_REVIEW
    else:
        raise InvalidTransition(f"Unknown action {action!r}.", code="unknown_action")
    change.to_lat, change.to_lon = locked.lat, locked.lon
    locked.save()
    change.save()
    _media_move(media_id=locked.media_id, to_stage=to_stage)
    duplicates_share_result(media_id=locked.media_id)
    return locked


def review_answer_apply(*, answer) -> LocationConsensus | None:
    """A review answer (accept, or correct with a new pin) from a volunteer who did not pin the image."""
    consensus = LocationConsensus.objects.filter(media_id=answer.media_id).first()
    if consensus is None:
        return None
    if answer.verdict == "correct" and answer.lat is not None:
        return location_consensus_change(
            consensus=consensus,
            action="move",
            user=answer.volunteer,
            lat=answer.lat,
            lon=answer.lon,
            note="review: corrected",
        )
    if consensus.lat is None:
        return consensus
    return location_consensus_change(consensus=consensus, action="accept", user=answer.volunteer, note="review")


def answer_recorded(*, answer_id: int) -> None:
    """The hook tasks_app calls after an answer commits: route it to the consensus it feeds."""
    from tasks_app.models import Answer, CrowdTask

    answer = Answer.objects.select_related("task", "volunteer").filter(pk=answer_id).first()
    if answer is None or answer.is_gold or answer.task.status == CrowdTask.Status.GOLD:
        return
    if answer.kind == CrowdTask.Kind.RATING:
        rating_consensus_request(crisis_id=answer.crisis_id)
    elif answer.kind == CrowdTask.Kind.GEOLOCATION:
        location_consensus_update(media_id=answer.media_id)
    elif answer.kind == CrowdTask.Kind.REVIEW:
        review_answer_apply(answer=answer)


def crisis_consensus_refresh(*, crisis_id: int) -> dict:
    """Recompute everything of a crisis (periodic safety net; idempotent)."""
    from tasks_app.models import Answer, CrowdTask

    rated = rating_consensus_update(crisis_id=crisis_id)
    media_ids = (
        Answer.objects.filter(crisis_id=crisis_id, kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)
        .values_list("media_id", flat=True)
        .distinct()
    )
    located = sum(location_consensus_update(media_id=m) is not None for m in media_ids)
    return {"rated": rated, "located": located}


def active_crises_refresh() -> int:
    crisis_ids = list(Crisis.objects.filter(status=Crisis.Status.ACTIVE).values_list("pk", flat=True))
    for crisis_id in crisis_ids:
        crisis_consensus_refresh(crisis_id=crisis_id)
    return len(crisis_ids)
