"""Reads for consensus: the crowd's answers as arrays, and results for other apps.

Answers are tasks_app's rows; reading them here (rather than through a tasks_app selector per shape) keeps the
answer-to-array conversion next to the algorithms that need it. Nothing here writes.
"""

from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet, Sum

from consensus.models import RATING_CLASSES, LocationConsensus, RatingConsensus, VolunteerSkill
from tasks_app.models import Answer, CrowdTask


@dataclass(frozen=True)
class GeolocationAnswers:
    volunteer_ids: np.ndarray
    lat: np.ndarray  # NaN for "cannot geolocate"
    lon: np.ndarray
    precisions: list[str]
    time_on_task_s: np.ndarray

    @property
    def pinned(self) -> np.ndarray:
        return ~np.isnan(self.lat)


def rating_answers(*, crisis_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(media ids, volunteer ids, class index into RATING_CLASSES) of a crisis's ratings; skips are not ratings."""
    rows = (
        Answer.objects.filter(crisis_id=crisis_id, kind=CrowdTask.Kind.RATING, difficulty__in=RATING_CLASSES)
        .exclude(is_gold=True)
        .values_list("media_id", "volunteer_id", "difficulty")
    )
    class_index = {name: index for index, name in enumerate(RATING_CLASSES)}
    media, volunteers, labels = [], [], []
    for media_id, volunteer_id, difficulty in rows.iterator(chunk_size=10_000):
        media.append(media_id)
        volunteers.append(volunteer_id)
        labels.append(class_index[difficulty])
    return np.array(media, dtype=np.int64), np.array(volunteers, dtype=np.int64), np.array(labels, dtype=np.int64)


def rating_answer_count(*, crisis_id: int) -> int:
    return Answer.objects.filter(crisis_id=crisis_id, kind=CrowdTask.Kind.RATING).count()


def geolocation_answers(*, media_id: int) -> GeolocationAnswers:
    """The non-gold geolocation answers of one image, pins and "cannot geolocate" alike."""
    rows = list(
        Answer.objects.filter(media_id=media_id, kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)
        .order_by("id")
        .values_list("volunteer_id", "lat", "lon", "precision", "time_on_task_s")
    )
    return GeolocationAnswers(
        volunteer_ids=np.array([r[0] for r in rows], dtype=np.int64),
        lat=np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=float),
        lon=np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float),
        precisions=[r[3] for r in rows],
        time_on_task_s=np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=float),
    )


@dataclass(frozen=True)
class PinRow:
    """One geolocation answer of an image as consensus weighs it (lat None: "cannot geolocate")."""

    answer_id: int
    volunteer_id: int
    lat: float | None
    lon: float | None
    precision: str
    clue_tags: list
    pano_lat: float | None
    confirms_prior: bool


def pin_rows(*, media_id: int) -> list[PinRow]:
    """The non-gold geolocation answers of one image, pins and "cannot geolocate" alike, oldest first."""
    return [
        PinRow(*row)
        for row in Answer.objects.filter(media_id=media_id, kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)
        .order_by("id")
        .values_list("id", "volunteer_id", "lat", "lon", "precision", "clue_tags", "pano_lat", "confirms_prior")
    ]


def check_rows(*, media_id: int) -> list[tuple[int, float, float, str]]:
    """(volunteer id, pin lat, pin lon, verdict) of the image's non-gold verification answers."""
    return list(
        Answer.objects.filter(media_id=media_id, kind=CrowdTask.Kind.VERIFICATION, is_gold=False)
        .order_by("id")
        .values_list("volunteer_id", "lat", "lon", "verdict")
    )


def volunteer_record(*, volunteer_id: int) -> tuple[int, int, int]:
    """(correct, checked, gold correct) over every crisis: a track record follows the volunteer."""
    totals = VolunteerSkill.objects.filter(volunteer_id=volunteer_id).aggregate(
        gold_checked=Sum("n_gold_checked"),
        gold_correct=Sum("n_gold_correct"),
        confirmed=Sum("n_confirmed"),
        contradicted=Sum("n_contradicted"),
    )
    totals = {key: value or 0 for key, value in totals.items()}
    correct = totals["gold_correct"] + totals["confirmed"]
    checked = totals["gold_checked"] + totals["confirmed"] + totals["contradicted"]
    return correct, checked, totals["gold_correct"]


def volunteer_skills(*, crisis_id: int, volunteer_ids) -> dict[int, float]:
    return dict(
        VolunteerSkill.objects.filter(crisis_id=crisis_id, volunteer_id__in=list(volunteer_ids)).values_list(
            "volunteer_id", "skill"
        )
    )


def geolocation_task(*, media_id: int) -> CrowdTask | None:
    return CrowdTask.objects.filter(media_id=media_id, kind=CrowdTask.Kind.GEOLOCATION).first()


def open_location_tasks(*, media_id: int) -> QuerySet[CrowdTask]:
    """The image's geolocation and verification tasks still waiting for answers (gold ones aside)."""
    return CrowdTask.objects.filter(
        media_id=media_id,
        kind__in=[CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION],
        status__in=[CrowdTask.Status.OPEN, CrowdTask.Status.FULL, CrowdTask.Status.DONE],
    )


def verification_task(*, media_id: int) -> CrowdTask | None:
    return (
        CrowdTask.objects.filter(media_id=media_id, kind=CrowdTask.Kind.VERIFICATION)
        .exclude(status=CrowdTask.Status.GOLD)
        .first()
    )


def rating_tasks(*, media_ids) -> QuerySet[CrowdTask]:
    return CrowdTask.objects.filter(media_id__in=list(media_ids), kind=CrowdTask.Kind.RATING)


def location_consensus_for_map(*, crisis_id: int) -> QuerySet[LocationConsensus]:
    """Locations to draw: retired as done and not rejected by a coordinator."""
    return LocationConsensus.objects.filter(
        crisis_id=crisis_id, status=LocationConsensus.Status.DONE, lat__isnull=False
    ).exclude(review=LocationConsensus.Review.REJECTED)


def training_labels(*, crisis_id: int | None = None, exclude_warned: bool = False) -> QuerySet[RatingConsensus]:
    """Rating consensus rows for the difficulty classifier's training set."""
    rows = RatingConsensus.objects.exclude(label="not_relevant")
    if crisis_id is not None:
        rows = rows.filter(crisis_id=crisis_id)
    if exclude_warned:
        rows = rows.filter(warnings=[])
    return rows
