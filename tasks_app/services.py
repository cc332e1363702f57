"""Writes of crowd work: creating tasks, granting and expiring leases, answers, skips, reports, gold, leaderboard.

Lock order, everywhere: an assignment row before its task row; a grant locks only the task (its assignment is a
new row). Services that expect a held lock say so.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.dispatch import Signal
from django.utils import timezone

from classification.geolocation.geo import haversine_km
from crawling.models import Media
from crawling.services import media_advance
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_can_contribute
from geoloc_platform.prepared import PreparedQuery, PreparedUpdate
from tasks_app import selectors
from tasks_app.errors import (
    AlreadyAnswered,
    CannotContribute,
    LeaseClosed,
    LeaseExpired,
    LeaseNotYours,
    NotQueueable,
    NoTrackRecord,
    PinChanged,
    UnknownLease,
    WrongAnswerKind,
)
from tasks_app.models import Answer, Assignment, CrowdTask, LeaderboardEntry, Report, VolunteerProfile

logger = logging.getLogger(__name__)

# Sent on commit after every accepted answer: the consensus app connects here (kwargs: answer_id, task_id,
# media_id, kind). A signal keeps tasks_app free of imports from consensus.
answer_submitted = Signal()

# Weights of the difficulty-priority score; ease dominates (the paper: easy images first).
PRIORITY_WEIGHTS = {"ease": 0.55, "relevance": 0.2, "recency": 0.15, "coverage": 0.1}
LABEL_EASE = {"easy": 1.0, "medium": 0.66, "difficult": 0.33, "impossible": 0.0}
DEFAULT_EASE = 0.5
DEFAULT_RELEVANCE = 0.5
GOLD_REDUNDANCY = 32767  # gold tasks are answered by everyone who is handed one
AREA_CELL_DEGREES = 0.01  # about 1 km: images in the same cell cover the same part of the area
QUEUEABLE_STAGES = (
    Media.Stage.FETCHED,
    Media.Stage.UNIQUE,
    Media.Stage.RELEVANT,
    Media.Stage.TEXT_GEOLOCATED,
    Media.Stage.DIFFICULTY_SCORED,
)
WITHHOLD_LABELS = {CrowdTask.PredictedLabel.IMPOSSIBLE}
CHECK_KINDS = (CrowdTask.Kind.REVIEW, CrowdTask.Kind.VERIFICATION)  # for volunteers with a track record
GOLD_KINDS = (CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION)  # served with known answers at times
INTERACTION_KEYS = ("map_moved", "map_zoomed", "place_searched", "streetview_opened")


def task_priority(*, ease: float, relevance: float, recency: float, coverage: float, expert: bool = False) -> float:
    """The sort key of difficulty priority (higher first). Experts get the same score with ease turned around."""
    w = PRIORITY_WEIGHTS
    ease_term = (1.0 - ease) if expert else ease
    return w["ease"] * ease_term + w["relevance"] * relevance + w["recency"] * recency + w["coverage"] * coverage


def _recency(posted_at, now) -> float:
    """1 for a post made now, 0.5 a day old, tending to 0: live posts before a backlog import."""
    if posted_at is None:
        return 0.5
    age_hours = max(0.0, (now - posted_at).total_seconds() / 3600)
    return 1.0 / (1.0 + age_hours / 24)


def _area_cell(lat: float, lon: float) -> str:
    return f"{math.floor(lat / AREA_CELL_DEGREES)}:{math.floor(lon / AREA_CELL_DEGREES)}"


def _ease_of(predicted_ease: float | None, predicted_label: str) -> float:
    if predicted_ease is not None:
        return min(1.0, max(0.0, float(predicted_ease)))
    return LABEL_EASE.get(predicted_label, DEFAULT_EASE)


def _redundancy(crisis: Crisis, kind: str) -> int:
    if kind == CrowdTask.Kind.RATING:
        return crisis.rating_redundancy
    if kind == CrowdTask.Kind.GEOLOCATION:
        # Adaptive redundancy asks one volunteer at a time; consensus opens another slot only when it needs one.
        adaptive = crisis.redundancy_policy == Crisis.RedundancyPolicy.ADAPTIVE
        return 1 if adaptive else crisis.geolocation_redundancy
    return 1


@transaction.atomic
def crowd_tasks_create_for_media(
    *,
    media: Media,
    predicted_ease: float | None = None,
    predicted_label: str = "",
    relevance: float | None = None,
    kinds: tuple[str, ...] = (CrowdTask.Kind.RATING, CrowdTask.Kind.GEOLOCATION),
    now=None,
) -> list[CrowdTask]:
    """Create (or re-score) the rating and geolocation tasks of an image. The classifier calls this.

    ``predicted_ease`` in [0, 1] (1 = easiest) wins over ``predicted_label`` (easy/medium/difficult/impossible).
    Images predicted impossible are withheld until a coordinator releases them. Calling again updates the
    scores of tasks nobody has been handed yet, so a late or repeated prediction is harmless.
    """
    now = now or timezone.now()
    crisis = media.crisis
    ease = _ease_of(predicted_ease, predicted_label)
    relevance_value = DEFAULT_RELEVANCE if relevance is None else min(1.0, max(0.0, float(relevance)))
    recency = _recency(media.post.posted_at, now)
    guess = selectors.media_text_guess(media=media)
    cell = _area_cell(guess.lat, guess.lon) if guess else ""
    covered = (
        CrowdTask.objects.filter(crisis_id=crisis.pk, area_cell=cell, kind=CrowdTask.Kind.GEOLOCATION).count()
        if cell
        else 0
    )
    coverage = 1.0 / (1.0 + covered)
    withheld = predicted_label in WITHHOLD_LABELS
    scores = {
        "predicted_ease": predicted_ease,
        "predicted_label": predicted_label,
        "relevance": relevance,
        "recency": recency,
        "coverage": coverage,
        "area_cell": cell,
        "priority": task_priority(ease=ease, relevance=relevance_value, recency=recency, coverage=coverage),
        "expert_priority": task_priority(
            ease=ease, relevance=relevance_value, recency=recency, coverage=coverage, expert=True
        ),
    }
    tasks = []
    for kind in kinds:
        task = CrowdTask.objects.filter(media_id=media.pk, kind=kind).first()
        if task is None:
            task = CrowdTask.objects.create(
                crisis=crisis,
                media=media,
                kind=kind,
                redundancy=_redundancy(crisis, kind),
                status=CrowdTask.Status.WITHHELD if withheld else CrowdTask.Status.OPEN,
                random_key=random.random(),
                created_at=now,
                **scores,
            )
        else:
            # Re-score only tasks nobody was handed: a started task keeps its place.
            untouched = Q(slots_taken=0, answers_count=0, status__in=[CrowdTask.Status.OPEN, CrowdTask.Status.WITHHELD])
            status = CrowdTask.Status.WITHHELD if withheld and not task.released_at else CrowdTask.Status.OPEN
            CrowdTask.objects.filter(untouched, pk=task.pk).update(status=status, **scores)
            task.refresh_from_db()
        tasks.append(task)
    return tasks


def media_queue_for_crowd(
    *, media_id: int, predicted_ease: float | None = None, predicted_label: str = "", relevance: float | None = None
) -> bool:
    """Send an image to the crowd from any stage before the crowd (coordinators, the demo, the pipeline step).

    The conditional stage move is the claim: a second call finds the image QUEUED and changes nothing.
    Raises NotQueueable when the image is gone or in a stage that cannot be queued.
    """
    media = Media.objects.select_related("crisis", "post").filter(pk=media_id).first()
    if media is None:
        raise NotQueueable(f"No image {media_id}.")
    if media.stage not in QUEUEABLE_STAGES:
        if media.stage in (Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK):
            return False
        raise NotQueueable(f"Image {media_id} is {media.get_stage_display().lower()}: it cannot be queued.")
    with transaction.atomic():
        if not media_advance(media_id=media.pk, from_stage=media.stage, to_stage=Media.Stage.QUEUED):
            return False
        crowd_tasks_create_for_media(
            media=media, predicted_ease=predicted_ease, predicted_label=predicted_label, relevance=relevance
        )
    return True


def media_queue_scored(*, media_id: int) -> bool:
    """The pipeline step out of DIFFICULTY_SCORED: make sure the tasks exist, then QUEUED.

    The classifier normally created the tasks with its prediction (``crowd_tasks_create_for_media``) in the
    transaction that moved the image to DIFFICULTY_SCORED; when it did not, they are created unscored.
    """
    media = Media.objects.select_related("crisis", "post").filter(pk=media_id).first()
    if media is None or media.stage != Media.Stage.DIFFICULTY_SCORED:
        return False
    with transaction.atomic():
        if not media_advance(media_id=media_id, from_stage=Media.Stage.DIFFICULTY_SCORED, to_stage=Media.Stage.QUEUED):
            return False
        if not CrowdTask.objects.filter(media_id=media_id).exists():
            crowd_tasks_create_for_media(media=media)
        elif CrowdTask.objects.filter(media_id=media_id, slots_taken__gt=0).exists():
            # A lease was granted in the moment between scoring and queueing.
            media_advance(media_id=media_id, from_stage=Media.Stage.QUEUED, to_stage=Media.Stage.IN_CROWD_WORK)
    return True


# --- Leases -----------------------------------------------------------------------------------------------------


def gold_rate(*, answered: int) -> float:
    """Share of gold tasks for a volunteer with ``answered`` answers: high at first, tapering to a floor."""
    base = settings.CROWD_GOLD_RATE
    taper = settings.CROWD_GOLD_TAPER_ANSWERS
    return max(settings.CROWD_GOLD_MIN_RATE, base * taper / (taper + answered)) if base > 0 else 0.0


def _wants_gold(*, crisis: Crisis, volunteer: AbstractBaseUser, rng: random.Random | None) -> bool:
    draw = (rng or random).random()
    # Draw first: the answer count is only read for the few draws that could fall under the rate.
    if draw >= max(settings.CROWD_GOLD_RATE, settings.CROWD_GOLD_MIN_RATE):
        return False
    if draw < settings.CROWD_GOLD_MIN_RATE:
        return True
    # Gold is for newcomers: a volunteer with a track record gets the floor rate only (the draw above), enough to
    # notice one who stopped being careful; the others' rate tapers with their answers in this crisis.
    if selectors.volunteer_has_record(volunteer=volunteer, crisis=crisis):
        return False
    row = _ANSWERS_IN_CRISIS.first(crisis.pk, volunteer.pk)
    return draw < gold_rate(answered=row[0] if row else 0)


# The volunteer's answers in a crisis, counted (none: no row); compiled once per process (geoloc_platform.prepared).
_ANSWERS_IN_CRISIS = PreparedQuery(
    lambda crisis_id, volunteer_id: (
        Answer.objects.filter(crisis_id=crisis_id, volunteer_id=volunteer_id)
        .values("volunteer_id")
        .annotate(n=Count("pk"))
        .values_list("n")
        .order_by()[:1]
    ),
    int,
    int,
)


def _lease_seconds() -> timedelta:
    return timedelta(seconds=settings.CROWD_LEASE_SECONDS)


def lease_grant(
    *, crisis: Crisis, volunteer: AbstractBaseUser, kind: str, now=None, rng: random.Random | None = None
) -> Assignment | None:
    """Lease the next task of ``kind`` to the volunteer, or return None when nothing is left for them.

    A lease still running on this crisis and kind is returned as it is (a reloaded page resumes it). Otherwise
    one indexed query picks the first open task in policy order and locks it with FOR UPDATE SKIP LOCKED, so
    volunteers asking at once get different rows; the slot is taken under that lock.
    """
    if not user_can_contribute(user=volunteer, crisis=crisis):
        raise CannotContribute("You cannot contribute to this crisis (it is not active, or you may not).")
    if kind in CHECK_KINDS and not selectors.volunteer_has_record(volunteer=volunteer, crisis=crisis):
        raise NoTrackRecord(
            "Checking locations is for volunteers with a track record: geolocate images first (practice images "
            "with a known location count)."
        )
    now = now or timezone.now()
    running = selectors.lease_open_for(crisis=crisis, volunteer=volunteer, kind=kind, now=now)
    if running is not None:
        return running
    _lease_expire_lazily(now=now)
    if kind in GOLD_KINDS and _wants_gold(crisis=crisis, volunteer=volunteer, rng=rng):
        gold = _grant_from(selectors.gold_candidate_locked, crisis=crisis, volunteer=volunteer, kind=kind, now=now)
        if gold is not None:
            return gold
    return _grant_from(selectors.lease_candidate_locked, crisis=crisis, volunteer=volunteer, kind=kind, now=now)


@transaction.atomic
def _grant_from(lock_first, *, crisis: Crisis, volunteer: AbstractBaseUser, kind: str, now) -> Assignment | None:
    """Lease the task ``lock_first`` locks (FOR UPDATE SKIP LOCKED: a ``selectors.*_candidate_locked``)."""
    task = lock_first(crisis=crisis, volunteer=volunteer, kind=kind)
    if task is None:
        return None
    # The row is locked: what we read is current, and nobody else can take a slot until we commit.
    slots = task.slots_taken + 1
    status = task.status
    if status == CrowdTask.Status.OPEN and slots >= task.redundancy:
        status = CrowdTask.Status.FULL
    _TASK_SLOTS_SET.run(task.pk, slots, status, now)
    assignment = Assignment.objects.create(
        task=task, volunteer=volunteer, is_gold=task.is_gold, leased_at=now, expires_at=now + _lease_seconds()
    )
    if task.slots_taken == 0 and task.answers_count == 0 and not task.is_gold:
        media_advance(media_id=task.media_id, from_stage=Media.Stage.QUEUED, to_stage=Media.Stage.IN_CROWD_WORK)
    task.slots_taken, task.status = slots, status
    assignment.task = task
    return assignment


# The writes of every grant and answer, compiled once per process (geoloc_platform.prepared).
def _task_count_set(count_field: str) -> PreparedUpdate:
    return PreparedUpdate(
        lambda task_id, count, status, now: (
            CrowdTask.objects.filter(pk=task_id),
            {count_field: count, "status": status, "updated_at": now},
        ),
        int,
        int,
        str,
        datetime,
    )


_TASK_SLOTS_SET = _task_count_set("slots_taken")
_TASK_ANSWERS_SET = _task_count_set("answers_count")
_ASSIGNMENT_CLOSE = PreparedUpdate(
    lambda lease_id, state, now: (Assignment.objects.filter(pk=lease_id), {"state": state, "closed_at": now}),
    int,
    str,
    datetime,
)


_last_lazy_expiry = {"at": None}


def _lease_expire_lazily(*, now) -> None:
    """Expire overdue leases on a grant (the periodic sweep may lag), at most every few seconds per process.

    Every next-task request used to run the sweep's query; under 200 volunteers one run per
    ``CROWD_LAZY_EXPIRY_INTERVAL_SECONDS`` frees the same slots and spares the rest that query.
    """
    last = _last_lazy_expiry["at"]
    interval = settings.CROWD_LAZY_EXPIRY_INTERVAL_SECONDS
    if last is not None and 0 <= (now - last).total_seconds() < interval:
        return
    _last_lazy_expiry["at"] = now
    lease_expire_due(now=now, limit=settings.CROWD_LAZY_EXPIRY_BATCH)


def _release_slot(task_id: int, count: int = 1) -> None:
    """Give ``count`` slots of a task back (caller holds the task's row lock or relies on the UPDATE's).

    A full task reopens; done, withheld, retired and gold tasks keep their status.
    """
    CrowdTask.objects.filter(pk=task_id).update(
        slots_taken=F("slots_taken") - count,
        status=Case(When(status=CrowdTask.Status.FULL, then=Value(CrowdTask.Status.OPEN)), default=F("status")),
        updated_at=timezone.now(),
    )


def lease_expire_due(*, now=None, limit: int = 500) -> int:
    """Expire leases past their time and give their slots back. Safe to run anywhere, any number of times.

    Rows are claimed with SKIP LOCKED and a conditional UPDATE, so two sweeps never return one slot twice.
    """
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = list(
            Assignment.objects.filter(state=Assignment.State.LEASED, expires_at__lt=now)
            .select_for_update(skip_locked=True)
            .order_by("expires_at")
            .values_list("pk", "task_id")[:limit]
        )
        if not due:
            return 0
        expired = Assignment.objects.filter(pk__in=[pk for pk, _ in due], state=Assignment.State.LEASED).update(
            state=Assignment.State.EXPIRED, closed_at=now
        )
        for task_id, count in sorted(Counter(task_id for _, task_id in due).items()):
            _release_slot(task_id, count)
    if expired:
        logger.info("expired %d leases", expired)
    return expired


def _locked_assignment(*, lease_id: int, volunteer: AbstractBaseUser) -> Assignment:
    """The volunteer's assignment, locked (call inside a transaction)."""
    assignment = _ASSIGNMENT_LOCK.instance(lease_id)
    if assignment is None:
        raise UnknownLease(f"No lease {lease_id}.")
    if assignment.volunteer_id != volunteer.pk:
        raise LeaseNotYours("This lease belongs to another volunteer.")
    return assignment


# The locking reads of every answer (and heartbeat), compiled once per process (geoloc_platform.prepared).
_ASSIGNMENT_LOCK = PreparedQuery(lambda lease_id: Assignment.objects.select_for_update().filter(pk=lease_id)[:1], int)
# The task row only: consensus locks the image row, then this task's (to retire it); locking the image here too
# would deadlock a late answer against the consensus run of the answer that just filled the task.
_TASK_LOCK = PreparedQuery(
    lambda task_id: CrowdTask.objects.select_for_update(of=("self",)).filter(pk=task_id)[:1], int
)


def _take_slot_again(task: CrowdTask) -> bool:
    """Re-take a slot for an expired lease if the task still needs answers. Expects the task row locked."""
    if task.status == CrowdTask.Status.GOLD:
        CrowdTask.objects.filter(pk=task.pk).update(slots_taken=F("slots_taken") + 1)
        return True
    if task.status != CrowdTask.Status.OPEN or task.slots_taken >= task.redundancy:
        return False
    slots = task.slots_taken + 1
    status = CrowdTask.Status.FULL if slots >= task.redundancy else CrowdTask.Status.OPEN
    CrowdTask.objects.filter(pk=task.pk).update(slots_taken=slots, status=status)
    task.slots_taken, task.status = slots, status
    return True


@transaction.atomic
def lease_heartbeat(*, lease_id: int, volunteer: AbstractBaseUser, now=None) -> Assignment:
    """Extend a running lease while its page is open; revive an expired one if the image still needs answers."""
    now = now or timezone.now()
    assignment = _locked_assignment(lease_id=lease_id, volunteer=volunteer)
    if assignment.state == Assignment.State.ANSWERED:
        raise AlreadyAnswered("This task is already answered.")
    if assignment.state == Assignment.State.SKIPPED:
        raise LeaseClosed("This task was skipped.")
    if assignment.state == Assignment.State.EXPIRED:
        task = CrowdTask.objects.select_for_update().get(pk=assignment.task_id)
        if not _take_slot_again(task):
            raise LeaseExpired("The lease expired and the image went to other volunteers.")
        assignment.state = Assignment.State.LEASED
        assignment.closed_at = None
        assignment.leased_at = now
    longest = assignment.leased_at + timedelta(seconds=settings.CROWD_LEASE_MAX_SECONDS)
    assignment.expires_at = min(now + timedelta(seconds=settings.CROWD_HEARTBEAT_EXTENSION_SECONDS), longest)
    assignment.expires_at = max(assignment.expires_at, now)
    assignment.heartbeat_at = now
    assignment.save(update_fields=["state", "closed_at", "leased_at", "expires_at", "heartbeat_at"])
    return assignment


@transaction.atomic
def lease_skip(
    *,
    lease_id: int,
    volunteer: AbstractBaseUser,
    report_reason: str = "",
    report_note: str = "",
    page_error: str = "",
    now=None,
) -> Assignment:
    """Skip a task: its slot goes back to others, and this volunteer is never handed it again.

    ``page_error`` comes from a task page that broke in the volunteer's browser: the task is given back the same
    way (so a reload shows another image, never the same broken one) and the error is logged for the developers.
    """
    now = now or timezone.now()
    assignment = _locked_assignment(lease_id=lease_id, volunteer=volunteer)
    if page_error:
        logger.warning("Task page broke on lease %s (task %s): %s", lease_id, assignment.task_id, page_error[:300])
    if assignment.state == Assignment.State.ANSWERED:
        raise AlreadyAnswered("This task is already answered.")
    if assignment.state == Assignment.State.SKIPPED:
        raise LeaseClosed("This task was already skipped.")
    held_slot = assignment.state == Assignment.State.LEASED
    assignment.state = Assignment.State.SKIPPED
    assignment.closed_at = now
    assignment.save(update_fields=["state", "closed_at"])
    if held_slot:
        _release_slot(assignment.task_id)
    if report_reason:
        task = CrowdTask.objects.get(pk=assignment.task_id)
        report_create(media_id=task.media_id, volunteer=volunteer, reason=report_reason, note=report_note)
    return assignment


ANSWER_FIELDS = {
    CrowdTask.Kind.RATING: {"difficulty"},
    CrowdTask.Kind.GEOLOCATION: {
        "lat",
        "lon",
        "precision",
        "clue_tags",
        "pano_lat",
        "pano_lon",
        "pano_heading",
        "pano_pitch",
        "interaction",
    },
    CrowdTask.Kind.REVIEW: {"verdict", "lat", "lon", "clue_tags", "interaction"},
    CrowdTask.Kind.VERIFICATION: {"verdict", "checked_lat", "checked_lon"},
}
VERIFICATION_VERDICTS = (Answer.Verdict.YES, Answer.Verdict.NEARBY, Answer.Verdict.NO)


def prior_confirmation(*, media_id: int, lat: float, lon: float, interaction: dict | None) -> tuple[bool, float | None]:
    """Does a pin only repeat the text-derived guess? (confirms it, distance from it in metres)

    The page opens on the guess, so a pin dropped near it without moving or zooming the map, searching or opening
    Street View repeats the machine's guess instead of checking it. "Near" is ``CROWD_PRIOR_CONFIRM_M`` or a share
    (``CROWD_PRIOR_CONFIRM_SHARE``) of the guess's radius, whichever is larger: a town-wide guess opens zoomed
    out, where a click "in the middle" lands far from the exact point. An answer that does not report what the
    volunteer did (``interaction`` absent: an API client or an old page) counts as having done nothing, so leaving
    the report out never makes a pin stronger.
    """
    guess = selectors.media_text_point(media_id=media_id)
    if guess is None:
        return False, None
    guess_lat, guess_lon, radius_m = guess
    distance_m = haversine_km(lat, lon, guess_lat, guess_lon) * 1000
    searched = bool(interaction) and any(interaction.get(key) for key in INTERACTION_KEYS)
    near = max(settings.CROWD_PRIOR_CONFIRM_M, settings.CROWD_PRIOR_CONFIRM_SHARE * (radius_m or 0.0))
    return (not searched and distance_m <= near), distance_m


@transaction.atomic
def answer_submit(
    *,
    volunteer: AbstractBaseUser,
    lease_id: int,
    kind: str,
    note: str = "",
    time_on_task_s: float | None = None,
    report_reason: str = "",
    report_note: str = "",
    now=None,
    **fields,
) -> Answer:
    """Record the volunteer's answer on their lease. Refusals raise before anything is written.

    A late answer (the lease expired) is still taken while the image needs answers: it re-takes a slot.
    The caller validated the fields of ``kind`` (apis.AnswerSubmitApi); ``fields`` holds only those.
    """
    now = now or timezone.now()
    assignment = _locked_assignment(lease_id=lease_id, volunteer=volunteer)
    if assignment.state == Assignment.State.ANSWERED:
        raise AlreadyAnswered("You already answered this task.")
    if assignment.state == Assignment.State.SKIPPED:
        raise LeaseClosed("You skipped this task.")
    task = _TASK_LOCK.instance(assignment.task_id)  # the task row only (see _TASK_LOCK)
    if task is None:
        raise CrowdTask.DoesNotExist(f"No task {assignment.task_id}.")
    if task.kind != kind:
        raise WrongAnswerKind(f"This lease is for a {task.kind} task, not {kind}.")
    unexpected = set(fields) - ANSWER_FIELDS[kind]
    if unexpected:
        raise WrongAnswerKind(f"Fields not part of a {kind} answer: {', '.join(sorted(unexpected))}.")
    if kind == CrowdTask.Kind.VERIFICATION:
        _check_is_of_the_current_pin(task, fields.pop("checked_lat", None), fields.pop("checked_lon", None))
    is_late = assignment.state == Assignment.State.EXPIRED or assignment.expires_at < now
    if assignment.state == Assignment.State.EXPIRED and not _take_slot_again(task):
        raise LeaseExpired("Your lease expired and the image already has the answers it needs.")
    answers = task.answers_count + 1
    if task.status in (CrowdTask.Status.OPEN, CrowdTask.Status.FULL):
        status = CrowdTask.Status.DONE if answers >= task.redundancy else task.status
    else:
        status = task.status  # gold, withheld or retired meanwhile: the answer counts, the status stays
    _TASK_ANSWERS_SET.run(task.pk, answers, status, now)
    elapsed = max(0.0, (now - assignment.leased_at).total_seconds())
    if time_on_task_s is None or time_on_task_s < 0 or time_on_task_s > elapsed + 5:
        time_on_task_s = elapsed  # the page's own clock counts only visible time; never trust more than the lease
    gold_error_m = None
    if kind == CrowdTask.Kind.VERIFICATION:
        # The pin checked is the task's at this moment: a later pin may replace the reference.
        fields = {**fields, "lat": task.reference_lat, "lon": task.reference_lon}
    elif task.is_gold and task.gold_lat is not None and fields.get("lat") is not None:
        gold_error_m = haversine_km(fields["lat"], fields["lon"], task.gold_lat, task.gold_lon) * 1000
    if kind != CrowdTask.Kind.VERIFICATION and fields.get("lat") is not None:
        fields["confirms_prior"], fields["prior_distance_m"] = prior_confirmation(
            media_id=task.media_id, lat=fields["lat"], lon=fields["lon"], interaction=fields.get("interaction")
        )
    answer = Answer.objects.create(
        assignment=assignment,
        task=task,
        crisis_id=task.crisis_id,
        media_id=task.media_id,
        volunteer=volunteer,
        kind=kind,
        is_gold=task.is_gold,
        is_late=is_late,
        note=note,
        time_on_task_s=time_on_task_s,
        gold_error_m=gold_error_m,
        submitted_at=now,
        **fields,
    )
    assignment.state = Assignment.State.ANSWERED
    assignment.closed_at = now
    _ASSIGNMENT_CLOSE.run(assignment.pk, assignment.state, now)  # the row is locked: it is there
    if report_reason:
        report_create(media_id=task.media_id, volunteer=volunteer, reason=report_reason, note=report_note)
    answer.gold_task = task if task.is_gold else None
    # Gold answers too: they feed the volunteer's skill and track record (not the image's consensus).
    transaction.on_commit(
        lambda: answer_submitted.send(
            sender=Answer, answer_id=answer.pk, task_id=task.pk, media_id=task.media_id, kind=kind
        )
    )
    return answer


def gold_feedback(*, answer: Answer) -> str | None:
    """What a volunteer is told after a gold task ("you were 350 m off")."""
    from django.utils.translation import gettext as _

    if not answer.is_gold:
        return None
    if answer.kind == CrowdTask.Kind.VERIFICATION:
        expected = answer.task.gold_label
        if answer.verdict == expected:
            return _("Practice check: right, thank you.")
        return _("Practice check: the right answer was '%(verdict)s'.") % {
            "verdict": Answer.Verdict(expected).label if expected in Answer.Verdict.values else expected
        }
    if answer.gold_error_m is not None:
        metres = answer.gold_error_m
        if metres >= 1000:
            return _("Practice image: you were %(km).1f km off.") % {"km": metres / 1000}
        return _("Practice image: you were %(m)d m off.") % {"m": round(metres)}
    return _("Practice image: its location is known, and your answer was recorded.")


# --- Reports, coordinators, consensus hooks ----------------------------------------------------------------------


def report_create(*, media_id: int, volunteer: AbstractBaseUser, reason: str, note: str = "") -> Report | None:
    """Flag an image for the coordinators; enough reports withhold its open tasks until one looks at it."""
    media = Media.objects.only("pk", "crisis_id").get(pk=media_id)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                crisis_id=media.crisis_id, media_id=media_id, volunteer=volunteer, reason=reason, note=note[:500]
            )
    except IntegrityError:
        return None  # one report per volunteer and image is enough
    CrowdTask.objects.filter(media_id=media_id).update(reports_count=F("reports_count") + 1)
    CrowdTask.objects.filter(
        media_id=media_id,
        status__in=[CrowdTask.Status.OPEN, CrowdTask.Status.FULL],
        reports_count__gte=settings.CROWD_REPORTS_TO_WITHHOLD,
    ).update(status=CrowdTask.Status.WITHHELD)
    return report


@transaction.atomic
def report_resolve(*, report_ids: list[int], user: AbstractBaseUser) -> int:
    return Report.objects.filter(pk__in=report_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=user
    )


@transaction.atomic
def task_release(*, task_ids: list[int], user: AbstractBaseUser) -> int:
    """A coordinator releases withheld tasks (predicted impossible, or reported) to the crowd."""
    now = timezone.now()
    released = 0
    for task in CrowdTask.objects.select_for_update().filter(pk__in=task_ids, status=CrowdTask.Status.WITHHELD):
        if task.answers_count >= task.redundancy:
            status = CrowdTask.Status.DONE
        elif task.slots_taken >= task.redundancy:
            status = CrowdTask.Status.FULL
        else:
            status = CrowdTask.Status.OPEN
        CrowdTask.objects.filter(pk=task.pk).update(status=status, released_by=user, released_at=now)
        released += 1
    return released


@transaction.atomic
def task_withhold(*, task_ids: list[int]) -> int:
    return CrowdTask.objects.filter(pk__in=task_ids, status__in=[CrowdTask.Status.OPEN, CrowdTask.Status.FULL]).update(
        status=CrowdTask.Status.WITHHELD
    )


@transaction.atomic
def crowd_task_retire(*, task_id: int, reason: str) -> bool:
    """The consensus app (or a coordinator) takes a task out of the queue: enough answers agree."""
    return (
        CrowdTask.objects.filter(pk=task_id)
        .exclude(status__in=[CrowdTask.Status.RETIRED, CrowdTask.Status.GOLD])
        .update(status=CrowdTask.Status.RETIRED, retired_reason=reason[:300])
        == 1
    )


@transaction.atomic
def crowd_task_set_redundancy(*, task_id: int, redundancy: int) -> CrowdTask:
    """Ask for more (or fewer) answers on a task, e.g. for an image whose ratings disagree.

    Never below the slots already taken: leases and answers in hand are not taken back.
    """
    task = CrowdTask.objects.select_for_update().get(pk=task_id)
    redundancy = max(1, redundancy, task.slots_taken)
    if task.status in (CrowdTask.Status.OPEN, CrowdTask.Status.FULL, CrowdTask.Status.DONE):
        if task.answers_count >= redundancy:
            status = CrowdTask.Status.DONE
        elif task.slots_taken >= redundancy:
            status = CrowdTask.Status.FULL
        else:
            status = CrowdTask.Status.OPEN
    else:
        status = task.status
    CrowdTask.objects.filter(pk=task.pk).update(redundancy=redundancy, status=status)
    task.refresh_from_db()
    return task


@transaction.atomic
def crowd_review_task_create(
    *,
    media_id: int,
    lat: float,
    lon: float,
    radius_m: float | None = None,
    reason: str = "",
    reason_values: dict | None = None,
    redundancy: int = 1,
) -> CrowdTask:
    """A review of a consensus location by a volunteer who did not pin the image (the consensus app calls this);
    ``reason`` says why, to the reviewer: English text, or with ``reason_values`` a template marked for translation
    (``CrowdTask.review_reason`` fills it in the reviewer's language)."""
    reason, reason_values = reason[:300], reason_values or {}  # the field's length
    media = Media.objects.select_related("crisis").get(pk=media_id)
    task, created = CrowdTask.objects.get_or_create(
        media=media,
        kind=CrowdTask.Kind.REVIEW,
        defaults={
            "crisis": media.crisis,
            "redundancy": redundancy,
            "reference_lat": lat,
            "reference_lon": lon,
            "reference_radius_m": radius_m,
            "reference_reason": reason,
            "reference_reason_values": reason_values,
            "priority": 1.0,
            "expert_priority": 1.0,
            "random_key": random.random(),
        },
    )
    if not created:
        CrowdTask.objects.filter(pk=task.pk).update(
            reference_lat=lat,
            reference_lon=lon,
            reference_radius_m=radius_m,
            reference_reason=reason,
            reference_reason_values=reason_values,
        )
        task = crowd_task_set_redundancy(task_id=task.pk, redundancy=task.answers_count + redundancy)
    return task


@transaction.atomic
def _check_is_of_the_current_pin(task: CrowdTask, lat: float | None, lon: float | None) -> None:
    """A new pin replaces a verification task's reference while a check of the old one may be open: the page
    sends the pin it showed, and a verdict about another pin is refused, never recorded against the new one."""
    if lat is None or lon is None:
        return  # an API client that does not say: the check is of the task's pin now, as recorded
    if task.reference_lat is None or haversine_km(lat, lon, task.reference_lat, task.reference_lon) * 1000 > 1.0:
        raise PinChanged("The pin to check changed while you looked at it: the page now shows the new one.")


def crowd_verification_task_create(*, answer_id: int) -> CrowdTask:
    """ "Is this photo at this pin?" for a pin (the consensus app calls this), routed to volunteers with a record.

    One verification task per image: a new pin to check replaces the reference and asks for one more answer;
    asking again about the same pin while its check is pending changes nothing. Asked again about the same pin
    once every check is in (consensus did not count them: their authors' skill in this crisis fell too low), it
    asks one more volunteer with a record; each volunteer checks a task once, so this ends when none is left.
    """
    pin = Answer.objects.select_related("media__crisis").get(pk=answer_id)
    media = pin.media
    reference = {
        "reference_lat": pin.lat,
        "reference_lon": pin.lon,
        "reference_radius_m": None,
        "reference_pano_lat": pin.pano_lat,
        "reference_pano_lon": pin.pano_lon,
        "reference_pano_heading": pin.pano_heading,
        "reference_pano_pitch": pin.pano_pitch,
    }
    geolocation = CrowdTask.objects.filter(media_id=media.pk, kind=CrowdTask.Kind.GEOLOCATION).first()
    # Checks come before new geolocations of the same ease: each one can publish a point in seconds.
    priority = 1.0 + (geolocation.priority if geolocation else 0.0)
    task, created = CrowdTask.objects.get_or_create(
        media=media,
        kind=CrowdTask.Kind.VERIFICATION,
        defaults={
            "crisis": media.crisis,
            "redundancy": 1,
            "predicted_ease": geolocation.predicted_ease if geolocation else None,
            "predicted_label": geolocation.predicted_label if geolocation else "",
            "priority": priority,
            "expert_priority": priority,
            "random_key": random.random(),
            **reference,
        },
    )
    if created or task.is_gold:
        return task
    if (task.reference_lat, task.reference_lon) == (pin.lat, pin.lon):
        if task.answers_count < task.redundancy:
            return task  # a check of this pin is still to come
        return crowd_task_set_redundancy(task_id=task.pk, redundancy=task.answers_count + 1)
    CrowdTask.objects.filter(pk=task.pk).update(**reference)
    return crowd_task_set_redundancy(task_id=task.pk, redundancy=task.answers_count + 1)


def expected_verdict(*, distance_m: float, radius_m: float = 0.0) -> str:
    """What a right check says about a pin this far from where the photo was taken."""
    if distance_m <= max(settings.CROWD_VERIFY_YES_M, radius_m):
        return Answer.Verdict.YES
    return Answer.Verdict.NEARBY if distance_m <= settings.CROWD_VERIFY_NEARBY_M else Answer.Verdict.NO


def _gold_task_save(*, media: Media, kind: str, **fields) -> CrowdTask:
    task, _ = CrowdTask.objects.update_or_create(
        media=media,
        kind=kind,
        defaults={
            "crisis_id": media.crisis_id,
            "status": CrowdTask.Status.GOLD,
            "redundancy": GOLD_REDUNDANCY,
            "random_key": random.random(),
            **fields,
        },
    )
    return task


@transaction.atomic
def gold_verification_task_create(*, media_id: int, pin_lat: float, pin_lon: float) -> CrowdTask:
    """A practice check for volunteers with a record: a pin on a gold image, right or deliberately wrong.

    The expected verdict follows from the pin's distance to the known location: yes within
    ``CROWD_VERIFY_YES_M``, nearby within ``CROWD_VERIFY_NEARBY_M``, no beyond.
    """
    gold = CrowdTask.objects.select_related("media").get(
        media_id=media_id, kind=CrowdTask.Kind.GEOLOCATION, status=CrowdTask.Status.GOLD
    )
    distance_m = haversine_km(pin_lat, pin_lon, gold.gold_lat, gold.gold_lon) * 1000
    return _gold_task_save(
        media=gold.media,
        kind=CrowdTask.Kind.VERIFICATION,
        reference_lat=pin_lat,
        reference_lon=pin_lon,
        gold_lat=gold.gold_lat,
        gold_lon=gold.gold_lon,
        gold_label=expected_verdict(distance_m=distance_m),
    )


@transaction.atomic
def gold_task_create(*, media_id: int, lat: float, lon: float) -> CrowdTask:
    """Make an image a gold geolocation task with a known location, mixed in at a tapering rate."""
    media = Media.objects.get(pk=media_id)
    return _gold_task_save(media=media, kind=CrowdTask.Kind.GEOLOCATION, gold_lat=lat, gold_lon=lon)


def volunteer_skill_set(*, user_id: int, skill: float, record: tuple[int, int, int] | None = None) -> VolunteerProfile:
    """The consensus app writes its estimate of a volunteer's skill here; the scheduler routes by it.

    ``record`` is (correct, checked, gold correct) over all crises: the track record the checks are routed by.
    """
    defaults = {"skill": min(1.0, max(0.0, skill)), "skill_updated_at": timezone.now()}
    if record is not None:
        defaults.update(record_correct=record[0], record_checked=record[1], record_gold_correct=record[2])
    profile, _ = VolunteerProfile.objects.update_or_create(user_id=user_id, defaults=defaults)
    return profile


def leaderboard_fresh(*, crisis: Crisis) -> None:
    """Make the crisis's leaderboard at most ``CROWD_LEADERBOARD_MAX_AGE_SECONDS`` old: recompute it when older.

    Computed only while someone looks. One request at a time recomputes a crisis's leaderboard (a cache key taken
    with ``add``, atomic in Redis and the database cache); the others meanwhile read the one being replaced.
    """
    max_age = settings.CROWD_LEADERBOARD_MAX_AGE_SECONDS
    computed_at = selectors.leaderboard_computed_at(crisis=crisis)
    if computed_at is not None and (timezone.now() - computed_at).total_seconds() < max_age:
        return
    if cache.add(f"leaderboard-refresh:{crisis.pk}", 1, timeout=max(1, max_age)):
        leaderboard_refresh(crisis_id=crisis.pk)


@transaction.atomic
def leaderboard_refresh(*, crisis_id: int | None = None, size: int | None = None) -> int:
    """Recompute leaderboards (of one crisis, else every active or paused one). Gold answers do not count."""
    size = size or settings.CROWD_LEADERBOARD_SIZE
    now = timezone.now()
    crises = Crisis.objects.filter(status__in=[Crisis.Status.ACTIVE, Crisis.Status.PAUSED])
    if crisis_id is not None:
        crises = Crisis.objects.filter(pk=crisis_id)
    written = 0
    for crisis in crises:
        rows = (
            Answer.objects.filter(crisis_id=crisis.pk, is_gold=False)
            .values("volunteer_id")
            .annotate(
                answers=Count("pk"),
                geolocations=Count("pk", filter=Q(kind=CrowdTask.Kind.GEOLOCATION)),
                ratings=Count("pk", filter=Q(kind=CrowdTask.Kind.RATING)),
            )
            .order_by("-answers", "volunteer_id")
        )
        LeaderboardEntry.objects.filter(crisis_id=crisis.pk).delete()
        entries = [
            LeaderboardEntry(
                crisis_id=crisis.pk,
                volunteer_id=row["volunteer_id"],
                rank=rank,
                answers=row["answers"],
                geolocations=row["geolocations"],
                ratings=row["ratings"],
                computed_at=now,
            )
            for rank, row in enumerate(rows[: max(size, 1) * 100], start=1)
        ]
        LeaderboardEntry.objects.bulk_create(entries)
        written += len(entries)
    return written
