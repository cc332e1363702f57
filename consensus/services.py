"""Writes for consensus: aggregate ratings, place images from their pins, retire them, learn volunteer skill.

Every update recomputes from all answers in the database and overwrites its result, so running it twice, late
or out of order changes nothing (the idempotence the debounced tasks rely on).
"""

import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from classification.selectors import km_outside_countries
from consensus import selectors
from consensus.aggregation import dawid_skene, item_results, majority_vote
from consensus.agreement import generalised_fleiss_kappa, krippendorff_alpha, rating_counts
from consensus.evidence import Check, Pin, Reason, Rule, decide
from consensus.models import (
    RATING_CLASSES,
    CrisisRatingStats,
    LocationConsensus,
    LocationConsensusChange,
    RatingConsensus,
    VolunteerSkill,
)
from consensus.spatial import distance_outside_area_m, haversine_m
from crawling.models import Media
from crawling.services import FINAL_STAGES, media_advance
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_is_coordinator
from geoloc_platform.exceptions import InvalidTransition
from tasks_app import selectors as crowd_selectors
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

HUMAN_REVIEWS = (
    LocationConsensus.Review.ACCEPTED,
    LocationConsensus.Review.MOVED,
    LocationConsensus.Review.REJECTED,
)


def publication_rule(*, crisis: Crisis) -> Rule:
    """The crisis's rule for publishing a point, with the platform's thresholds (consensus README, "Trust")."""
    return Rule(
        adaptive=crisis.redundancy_policy == Crisis.RedundancyPolicy.ADAPTIVE,
        requires_record=crisis.publish_requires_record,
        target_radius_m=settings.CONSENSUS_TARGET_RADIUS_M,
        min_answers=crisis.geolocation_redundancy,
        max_answers=max(crisis.geolocation_redundancy, settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS),
        cluster_eps_m=settings.CONSENSUS_CLUSTER_EPS_M,
        skilled_skill=settings.CONSENSUS_SKILLED_SKILL,
        verified_pin_skill=settings.CONSENSUS_VERIFIED_PIN_SKILL,
        prior_weight=settings.CONSENSUS_PRIOR_CONFIRM_WEIGHT,
        check_radius_m=settings.CROWD_VERIFY_YES_M,
        nearby_m=settings.CROWD_VERIFY_NEARBY_M,
        countries=_outside_is_measured_from_countries(crisis),
    )


def _outside_is_measured_from_countries(crisis: Crisis) -> tuple[str, ...]:
    """The countries a pin is "outside" of when the crisis has no drawn area (named in the reasons, so that a
    coordinator who set the wrong ones sees which); none with a drawn area."""
    if crisis.affected_area or not crisis.country_codes:
        return ()
    return tuple(crisis.country_codes)


def _distance_outside_crisis_m(crisis: Crisis, *, lat: float, lon: float) -> float:
    """Metres outside the crisis's drawn area; without one, outside its countries (the crisis's extent then)."""
    if crisis.affected_area:
        return distance_outside_area_m(lat=lat, lon=lon, area=crisis.affected_area)
    countries = frozenset(crisis.country_codes or ())
    return km_outside_countries(lat=lat, lon=lon, country_codes=countries) * 1000 if countries else 0.0


def location_evidence(*, media: Media) -> tuple[list[Pin], list[Check], int]:
    """An image's pins and checks with what is known of their authors, and its "cannot geolocate" count."""
    crisis = media.crisis
    rows = selectors.pin_rows(media_id=media.pk)
    checks = selectors.check_rows(media_id=media.pk)
    volunteer_ids = {row.volunteer_id for row in rows} | {row[0] for row in checks}
    standings = crowd_selectors.volunteer_standings(crisis=crisis, volunteer_ids=volunteer_ids)
    skills = selectors.volunteer_skills(crisis_id=crisis.pk, volunteer_ids=volunteer_ids)
    margin_m = crisis.area_margin_km * 1000
    pins = []
    for row in rows:
        if row.lat is None:
            continue
        standing = standings[row.volunteer_id]
        outside = _distance_outside_crisis_m(crisis, lat=row.lat, lon=row.lon) - margin_m
        pins.append(
            Pin(
                answer_id=row.answer_id,
                volunteer_id=row.volunteer_id,
                lat=row.lat,
                lon=row.lon,
                precision=row.precision,
                has_streetview=row.pano_lat is not None,
                has_clues=bool(row.clue_tags),
                confirms_prior=row.confirms_prior,
                outside_area_m=max(0.0, outside),
                skill=skills.get(row.volunteer_id, standing.skill),
                record=standing.record_correct,
                gold_correct=standing.gold_correct,
                trusted=standing.has_record,
                coordinator=standing.coordinator,
            )
        )
    check_list = [
        Check(
            volunteer_id=volunteer_id,
            lat=lat,
            lon=lon,
            verdict=verdict,
            trusted=standings[volunteer_id].has_record,
            record=standings[volunteer_id].record_correct,
            gold_correct=standings[volunteer_id].gold_correct,
            coordinator=standings[volunteer_id].coordinator,
            skill=skills.get(volunteer_id, standings[volunteer_id].skill),
        )
        for volunteer_id, lat, lon, verdict in checks
    ]
    n_cannot = sum(1 for row in rows if row.lat is None)
    return pins, check_list, n_cannot


@transaction.atomic
def location_consensus_update(*, media_id: int) -> LocationConsensus | None:
    """Place one image from its pins and checks, decide what it needs next, and move it on; None without answers.

    The image's row is locked first, so runs for two answers committed at once take turns, and each reads
    every answer committed before it started. A location a coordinator or reviewer decided on stays decided:
    later answers only update the counts.
    """
    media = Media.objects.select_for_update(of=("self",)).select_related("crisis").get(pk=media_id)
    pins, checks, n_cannot = location_evidence(media=media)
    if not pins and not n_cannot:
        return None
    crisis = media.crisis
    existing = LocationConsensus.objects.filter(media=media).first()
    if existing is not None and existing.review in HUMAN_REVIEWS:
        LocationConsensus.objects.filter(pk=existing.pk).update(
            n_answers=len(pins) + n_cannot, n_cannot_geolocate=n_cannot
        )
        return existing
    decision = decide(pins=pins, checks=checks, n_cannot=n_cannot, rule=publication_rule(crisis=crisis))
    evidence = {**decision.evidence, "trusted_by": _trusted_by(pins=pins, checks=checks, decision=decision)}
    consensus, _ = LocationConsensus.objects.update_or_create(
        media=media,
        defaults={
            "crisis": crisis,
            "status": str(decision.outcome),
            "reason": decision.reason[:300],
            "lat": decision.lat,
            "lon": decision.lon,
            "radius_68_m": decision.radius_68_m,
            "radius_95_m": decision.radius_95_m,
            "precision": decision.precision,
            "ambiguous": decision.ambiguous,
            "candidates": list(decision.candidates),
            "n_answers": len(pins) + n_cannot,
            "n_cannot_geolocate": n_cannot,
            "trusted": decision.trusted,
            "evidence": evidence,
            "computed_at": timezone.now(),
            "copied_from": None,
        },
    )
    _apply_retirement(media=media, consensus=consensus, verify=decision.verify, why=decision.why)
    if consensus.status == LocationConsensus.Status.DONE:
        _skills_after_trusted_result(
            crisis_id=crisis.pk, volunteer_ids={p.volunteer_id for p in pins} | {c.volunteer_id for c in checks}
        )
    return consensus


def _trusted_by(*, pins, checks, decision) -> list[int]:
    """Who made a result trusted: the record holders among the agreeing pins and the "yes" checks."""
    if not decision.trusted or decision.lat is None:
        return []
    near = decision.radius_68_m or settings.CONSENSUS_TARGET_RADIUS_M
    ids = {
        p.volunteer_id
        for p in pins
        if p.trusted and haversine_m(lat1=p.lat, lon1=p.lon, lat2=decision.lat, lon2=decision.lon) <= max(near, 1.0)
    }
    ids |= {c.volunteer_id for c in checks if c.trusted and c.verdict == "yes"}
    return sorted(ids)


def _apply_retirement(
    *, media: Media, consensus: LocationConsensus, verify: Pin | None = None, why: Reason | None = None
) -> None:
    task = selectors.geolocation_task(media_id=media.pk)
    status = consensus.status
    if status == LocationConsensus.Status.AWAITING_VERIFICATION:
        if verify is not None:
            crowd.crowd_verification_task_create(answer_id=verify.answer_id)
        return
    if status == LocationConsensus.Status.NEEDS_MORE_ANSWERS:
        ceiling = max(media.crisis.geolocation_redundancy, settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS)
        # Only a decision that saw every answer the task asked for may ask for one more: a run that read fewer
        # answers than the task now holds is stale, and the run for the latest answer decides instead.
        if task is not None and consensus.n_answers >= task.redundancy < ceiling:
            crowd.crowd_task_set_redundancy(task_id=task.pk, redundancy=task.redundancy + 1)
        return
    if task is not None:
        crowd.crowd_task_retire(task_id=task.pk, reason=f"{consensus.status}: {consensus.reason}")
    verification = selectors.verification_task(media_id=media.pk)
    if verification is not None:
        crowd.crowd_task_retire(task_id=verification.pk, reason=f"{consensus.status}: {consensus.reason}")
    _media_move(media_id=media.pk, to_stage=_STAGE_FOR_STATUS[consensus.status])
    adaptive = media.crisis.redundancy_policy == Crisis.RedundancyPolicy.ADAPTIVE
    # Under adaptive redundancy the check before publication is the review; a fixed-redundancy point gets one
    # after, and an expert review with a location gets one from a volunteer with a record either way.
    if (status == LocationConsensus.Status.DONE and not adaptive) or (
        status == LocationConsensus.Status.NEEDS_EXPERT_REVIEW and consensus.lat is not None
    ):
        crowd.crowd_review_task_create(
            media_id=media.pk,
            lat=consensus.lat,
            lon=consensus.lon,
            radius_m=consensus.radius_68_m,
            reason=why.template if why is not None else "",
            reason_values=why.values if why is not None else None,
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
                "trusted": source.trusted,
                "evidence": source.evidence,
                "copied_from_id": media_id,
                "computed_at": timezone.now(),
            },
        )
        copied += 1
    return copied


def _skills_after_trusted_result(*, crisis_id: int, volunteer_ids) -> None:
    for volunteer_id in sorted(volunteer_ids):
        volunteer_skill_recompute(volunteer_id=volunteer_id, crisis_id=crisis_id)


@dataclass
class _RecordCount:
    """A volunteer's answers checked against something trusted in one crisis (VolunteerSkill's record fields)."""

    gold_checked: int = 0
    gold_correct: int = 0
    confirmed: int = 0
    contradicted: int = 0
    checks_right: int = 0  # verification answers alone: they score the skill of checking
    checks_scored: int = 0

    def pin(self, *, distance_m: float, radius_m: float) -> None:
        if distance_m <= settings.CONSENSUS_TARGET_RADIUS_M:
            self.confirmed += 1
        elif distance_m > max(1000.0, 4 * radius_m):
            self.contradicted += 1

    def check(self, *, verdict: str, expected: str, gold: bool = False) -> None:
        right = verdict == expected
        wrong = {verdict, expected} == {"yes", "no"}  # "nearby" against yes or no is a matter of metres
        self.checks_right += right
        self.checks_scored += right or wrong
        if gold:
            self.gold_correct += right
        elif right:
            self.confirmed += 1
        elif wrong:
            self.contradicted += 1


def volunteer_skill_recompute(*, volunteer_id: int, crisis_id: int) -> VolunteerSkill:
    """Distance to consensus and to gold, time per task, the track record, and the skill the scheduler routes by.

    The record counts answers checked against gold images and against trusted results whose trust came from
    someone else (a volunteer can never confirm themself), so accounts agreeing among themselves build none.
    """
    from tasks_app.models import Answer, CrowdTask

    rows = list(
        Answer.objects.filter(
            volunteer_id=volunteer_id,
            crisis_id=crisis_id,
            kind__in=[CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION],
        ).values_list(
            "media_id", "kind", "lat", "lon", "verdict", "time_on_task_s", "gold_error_m", "is_gold", "task__gold_label"
        )
    )
    results = {
        m: (lat, lon, radius or 0.0, trusted, review, evidence.get("trusted_by", []))
        for m, lat, lon, radius, trusted, review, evidence in LocationConsensus.objects.filter(
            media_id__in={r[0] for r in rows}, status=LocationConsensus.Status.DONE, lat__isnull=False
        ).values_list("media_id", "lat", "lon", "radius_68_m", "trusted", "review", "evidence")
    }
    record = _RecordCount()
    to_consensus, to_gold, times, n_geolocations = [], [], [], 0
    for media_id, kind, lat, lon, verdict, seconds, gold_error, is_gold, gold_label in rows:
        geolocation = kind == CrowdTask.Kind.GEOLOCATION
        n_geolocations += geolocation
        if seconds is not None and geolocation:
            times.append(seconds)
        if is_gold:
            record.gold_checked += 1
            if geolocation and gold_error is not None:
                to_gold.append(gold_error)
                record.gold_correct += gold_error <= settings.CONSENSUS_GOLD_CORRECT_M
            elif not geolocation:
                record.check(verdict=verdict, expected=gold_label, gold=True)
            continue
        result = results.get(media_id)
        if result is None or lat is None:
            continue
        c_lat, c_lon, radius, trusted, review, trusted_by = result
        distance = float(haversine_m(lat1=lat, lon1=lon, lat2=c_lat, lon2=c_lon))
        if geolocation:
            to_consensus.append(distance)
        by_someone_else = review in (LocationConsensus.Review.ACCEPTED, LocationConsensus.Review.MOVED) or (
            trusted and set(trusted_by) - {volunteer_id}
        )
        if not by_someone_else:
            continue
        if geolocation:
            record.pin(distance_m=distance, radius_m=radius)
        else:
            record.check(verdict=verdict, expected=crowd.expected_verdict(distance_m=distance, radius_m=radius))
    skill, _ = VolunteerSkill.objects.get_or_create(volunteer_id=volunteer_id, crisis_id=crisis_id)
    skill.n_geolocations = n_geolocations
    skill.median_distance_to_consensus_m = float(np.median(to_consensus)) if to_consensus else None
    skill.median_distance_to_gold_m = float(np.median(to_gold)) if to_gold else None
    skill.median_time_on_task_s = float(np.median(times)) if times else None
    skill.n_gold_checked, skill.n_gold_correct = record.gold_checked, record.gold_correct
    skill.n_confirmed, skill.n_contradicted = record.confirmed, record.contradicted
    skill.skill = skill_score(skill, checks=(record.checks_right, record.checks_scored))
    skill.computed_at = timezone.now()
    skill.save()
    crowd.volunteer_skill_set(
        user_id=volunteer_id, skill=skill.skill, record=selectors.volunteer_record(volunteer_id=volunteer_id)
    )
    return skill


def skill_score(skill: VolunteerSkill, *, checks: tuple[int, int] = (0, 0)) -> float:
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
    right, scored = checks
    if scored:
        # Verification answers checked against gold or a trusted result: the check doubles as gold for skill.
        parts.append(right / scored)
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
    """Accept, move or reject a consensus location (a reviewer or a coordinator); every change is audited.

    An accepted or moved location is trusted (a person with the standing to check it did), and precision claimed
    without evidence is no longer capped: the review is the evidence.
    """
    locked = LocationConsensus.objects.select_for_update().select_related("crisis").get(pk=consensus.pk)
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
    if locked.review != LocationConsensus.Review.REJECTED:
        role = "coordinator" if user_is_coordinator(user=user, crisis=locked.crisis) else "reviewer"
        locked.trusted = True
        trusted_by = sorted({*locked.evidence.get("trusted_by", []), user.pk})
        locked.evidence = {**locked.evidence, "reviewed_by": role, "trusted_by": trusted_by}
        if action == LocationConsensusChange.Action.ACCEPT:
            locked.precision = locked.evidence.get("claimed_precision") or locked.precision
    change.to_lat, change.to_lon = locked.lat, locked.lon
    locked.save()
    change.save()
    _media_move(media_id=locked.media_id, to_stage=to_stage)
    if locked.review != LocationConsensus.Review.REJECTED:
        for task in selectors.open_location_tasks(media_id=locked.media_id):
            crowd.crowd_task_retire(task_id=task.pk, reason=f"{action} by a {role}")
    duplicates_share_result(media_id=locked.media_id)
    if locked.review != LocationConsensus.Review.REJECTED:
        from consensus.tasks import location_reviewed as location_reviewed_task

        transaction.on_commit(lambda: location_reviewed_task.delay(locked.media_id))
    return locked


def location_reviewed(*, media_id: int) -> int:
    """After a review: the pins and checks of the image now stand against a trusted result (track records)."""
    media = Media.objects.filter(pk=media_id).only("pk", "crisis_id").first()
    if media is None:
        return 0
    volunteer_ids = {row.volunteer_id for row in selectors.pin_rows(media_id=media_id)}
    volunteer_ids |= {row[0] for row in selectors.check_rows(media_id=media_id)}
    _skills_after_trusted_result(crisis_id=media.crisis_id, volunteer_ids=volunteer_ids)
    return len(volunteer_ids)


def review_answer_apply(*, answer) -> LocationConsensus | None:
    """A review answer (accept, or correct with a new pin) from a volunteer who did not pin the image.

    Reviews are handed only to volunteers with a track record; one who lost it since is recorded, not applied.
    """
    consensus = LocationConsensus.objects.filter(media_id=answer.media_id).first()
    if consensus is None:
        return None
    if not crowd_selectors.volunteer_has_record(volunteer=answer.volunteer, crisis=consensus.crisis):
        return consensus
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
    if answer is None:
        return
    if answer.is_gold or answer.task.status == CrowdTask.Status.GOLD:
        # A practice answer feeds only the volunteer's skill and track record.
        if answer.kind in (CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION):
            volunteer_skill_recompute(volunteer_id=answer.volunteer_id, crisis_id=answer.crisis_id)
        return
    if answer.kind == CrowdTask.Kind.RATING:
        rating_consensus_request(crisis_id=answer.crisis_id)
    elif answer.kind in (CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION):
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
