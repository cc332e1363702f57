"""Reads for the map, the exports and the dashboard: who sees what, and the rows behind every layer.

Every permission decision goes through ``geoloc_platform.crises.selectors``. Nothing here writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, connections
from django.db.models import (
    Avg,
    CharField,
    Count,
    F,
    FilteredRelation,
    FloatField,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import TruncHour

from classification.models import PostGeolocation
from consensus.models import LocationConsensus
from crawling.models import Media
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import (
    crisis_list_visible,
    user_can_view_crisis,
    user_can_view_private_map,
    user_is_coordinator,
)
from mapping.forecast import crisis_forecast
from mapping.models import BlurredImage, CrisisPrivacy, DashboardSnapshot
from mapping.privacy import METRES_PER_DEGREE

PRECISION_RANK = {"low": 0, "medium": 1, "high": 2}
# A consensus row committed a moment after a poll may carry an updated_at just before that poll's ``since``: a
# poll reaches this far back, and the client replaces features by id, so a repeat costs nothing.
SINCE_OVERLAP = timedelta(seconds=2)
# Text guesses are shown for images the crowd has not (yet) placed: neither published nor dropped.
GUESS_STAGES = (
    Media.Stage.RELEVANT,
    Media.Stage.TEXT_GEOLOCATED,
    Media.Stage.DIFFICULTY_SCORED,
    Media.Stage.QUEUED,
    Media.Stage.IN_CROWD_WORK,
    Media.Stage.CONSENSUS_REACHED,
    Media.Stage.NEEDS_REVIEW,
)

POINT_FIELDS = (
    "media_id",
    "crisis_id",
    "lat",
    "lon",
    "radius_68_m",
    "radius_95_m",
    "precision",
    "ambiguous",
    "n_answers",
    "review",
    "updated_at",
    "media__post__text",
    "media__post__url",
    "media__post__source",
    "media__post__posted_at",
    "media__post__author_handle",
    "trusted",
    "evidence",
)


@dataclass(frozen=True)
class CrisisAccess:
    """What one user may see of one crisis's map."""

    crisis_id: int
    slug: str
    name: str
    hazard: str
    exact: bool  # exact coordinates, no delay: the crisis's signed-in responders and coordinators
    show_author: bool  # the coordinator view
    is_public: bool
    affected_area: dict | None = None
    country_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapFilters:
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    posted_from: datetime | None = None
    posted_to: datetime | None = None
    min_precision: str | None = None
    max_radius_m: float | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def crisis_map_visible(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> bool:
    """Private crises: only their responders and coordinators. Public ones: whoever may see the crisis."""
    if not crisis.is_public:
        return user_can_view_private_map(user=user, crisis=crisis)
    return user_can_view_crisis(user=user, crisis=crisis)


def crisis_access(*, user: AbstractBaseUser | AnonymousUser, crisis: Crisis) -> CrisisAccess | None:
    if not crisis_map_visible(user=user, crisis=crisis):
        return None
    return CrisisAccess(
        crisis_id=crisis.pk,
        slug=crisis.slug,
        name=crisis.name,
        hazard=crisis.hazard,
        exact=user_can_view_private_map(user=user, crisis=crisis),
        show_author=user_is_coordinator(user=user, crisis=crisis),
        is_public=crisis.is_public,
        affected_area=crisis.affected_area,
        country_codes=tuple(crisis.country_codes or ()),
    )


def map_accesses(
    *, user: AbstractBaseUser | AnonymousUser, slugs: list[str] | None = None, hazard: str | None = None
) -> list[CrisisAccess]:
    """The crises this user may map, narrowed to ``slugs`` and ``hazard`` when given. Unknown slugs are skipped."""
    crises = Crisis.objects.filter(slug__in=slugs) if slugs else crisis_list_visible(user=user)
    if hazard:
        crises = crises.filter(hazard=hazard)
    accesses = [crisis_access(user=user, crisis=crisis) for crisis in crises]
    return [access for access in accesses if access is not None]


def _displayable() -> Q:
    # The same rule as consensus.selectors.location_consensus_for_map, for many crises at once; duplicates
    # (rows copied from their representative) are left out so one photo is one point.
    return Q(status=LocationConsensus.Status.DONE, lat__isnull=False, copied_from__isnull=True) & ~Q(
        review=LocationConsensus.Review.REJECTED
    )


def _bbox_q(bbox: tuple[float, float, float, float], *, lat: str, lon: str, coarse: bool) -> Q:
    """Points inside the box; for coarse crises widened by one grid cell (the caller re-checks snapped points)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    lat_margin = lon_margin = 0.0
    if coarse:
        lat_margin = settings.MAP_PUBLIC_GRID_M / METRES_PER_DEGREE
        widest = math.cos(math.radians(min(89.0, max(abs(min_lat), abs(max_lat)) + lat_margin)))
        lon_margin = settings.MAP_PUBLIC_GRID_M / (METRES_PER_DEGREE * max(widest, 0.01))
    return Q(
        **{
            f"{lat}__gte": min_lat - lat_margin,
            f"{lat}__lte": max_lat + lat_margin,
            f"{lon}__gte": min_lon - lon_margin,
            f"{lon}__lte": max_lon + lon_margin,
        }
    )


def _filter_q(filters: MapFilters, *, prefix: str) -> Q:
    """Time window and tags, on the post reached through ``prefix``."""
    condition = Q()
    if filters.posted_from:
        condition &= Q(**{f"{prefix}post__posted_at__gte": filters.posted_from})
    if filters.posted_to:
        condition &= Q(**{f"{prefix}post__posted_at__lte": filters.posted_to})
    if filters.tags:
        tag_q = Q()
        for tag in filters.tags:
            # Hashtags are a JSON list of strings: match a whole element, case-insensitively, on every backend.
            tag_q |= Q(**{f"{prefix}post__hashtags__icontains": f'"{tag}"'})
        condition &= tag_q
    return condition


def map_points(
    *,
    accesses: list[CrisisAccess],
    filters: MapFilters,
    now: datetime,
    since: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> list[tuple]:
    """Crowd-verified points as ``POINT_FIELDS`` tuples, ordered by (updated_at, media id): one indexed query.

    Exact crises show every point; coarse (public, not a responder) ones only points older than
    ``MAP_PUBLIC_DELAY``. ``since`` keeps points changed since then (a coarse point "changes" when its delay ends);
    ``after`` continues a page. Points of coarse crises are returned exact: the caller snaps them.
    """
    queryset = map_points_queryset(accesses=accesses, filters=filters, now=now, since=since)
    if queryset is None:
        return []
    if after is not None:
        at, media_id = after
        queryset = queryset.filter(Q(updated_at__gt=at) | Q(updated_at=at, media_id__gt=media_id))
    queryset = queryset.order_by("updated_at", "media_id").values_list(*POINT_FIELDS)
    return fetch_raw(queryset[:limit] if limit is not None else queryset)


def fetch_raw(queryset: QuerySet) -> list[tuple]:
    """The rows of a ``values_list`` queryset straight from the cursor, without Django's per-value converters.

    Half the time of ``list(queryset)`` at 50,000 rows. The price: on SQLite datetimes come back naive (in UTC)
    and booleans as 0/1 (``geojson.iso_time`` and truthiness handle both); on PostgreSQL they are typed.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def map_points_queryset(
    *, accesses: list[CrisisAccess], filters: MapFilters, now: datetime, since: datetime | None = None
) -> QuerySet[LocationConsensus] | None:
    exact_ids = [a.crisis_id for a in accesses if a.exact]
    coarse_ids = [a.crisis_id for a in accesses if not a.exact]
    if not exact_ids and not coarse_ids:
        return None
    cutoff = now - settings.MAP_PUBLIC_DELAY
    exact_q = Q(crisis_id__in=exact_ids)
    coarse_q = Q(crisis_id__in=coarse_ids, updated_at__lte=cutoff)
    if since is not None:
        exact_q &= Q(updated_at__gte=since - SINCE_OVERLAP)
        coarse_q &= Q(updated_at__gte=since - settings.MAP_PUBLIC_DELAY - SINCE_OVERLAP)
    scope = (exact_q if exact_ids else Q(pk__in=[])) | (coarse_q if coarse_ids else Q(pk__in=[]))
    queryset = LocationConsensus.objects.filter(scope, _displayable(), _filter_q(filters, prefix="media__"))
    if filters.bbox:
        coarse = bool(coarse_ids)
        queryset = queryset.filter(_bbox_q(filters.bbox, lat="lat", lon="lon", coarse=coarse))
    if filters.min_precision:
        rank = PRECISION_RANK[filters.min_precision]
        queryset = queryset.filter(precision__in=[p for p, r in PRECISION_RANK.items() if r >= rank])
    if filters.max_radius_m is not None:
        queryset = queryset.filter(radius_68_m__lte=filters.max_radius_m)
    return queryset


def map_points_removed(*, accesses: list[CrisisAccess], since: datetime) -> list[int]:
    """Media ids of points changed since ``since`` that are no longer drawn (rejected, sent back, moved out)."""
    ids = [a.crisis_id for a in accesses]
    if not ids:
        return []
    return list(
        LocationConsensus.objects.filter(crisis_id__in=ids, updated_at__gte=since - SINCE_OVERLAP)
        .exclude(_displayable())
        .values_list("media_id", flat=True)
    )


GUESS_FIELDS = (
    "pk",
    "crisis_id",
    "post__text_geolocation__lat",
    "post__text_geolocation__lon",
    "post__text_geolocation__radius_km",
    "post__text_geolocation__method",
    "post__text_geolocation__is_fallback",
    "post__text",
    "post__url",
    "post__source",
    "post__posted_at",
    "post__author_handle",
    "post__text_geolocation__candidates__0__country_code",  # the resolver lists its choice first
)


def text_guesses(
    *,
    accesses: list[CrisisAccess],
    filters: MapFilters,
    now: datetime,
    include_fallback: bool = False,
    after_id: int = 0,
    limit: int | None = None,
) -> list[tuple]:
    """Unverified text-derived locations (classification's PostGeolocation) of images the crowd has not placed.

    A fallback (nothing recognised: the crisis centre) is not a guess and is left out unless asked for.
    """
    exact_ids = [a.crisis_id for a in accesses if a.exact]
    coarse_ids = [a.crisis_id for a in accesses if not a.exact]
    if not accesses:
        return []
    scope = Q(crisis_id__in=exact_ids) | Q(
        crisis_id__in=coarse_ids, post__text_geolocation__created_at__lte=now - settings.MAP_PUBLIC_DELAY
    )
    queryset = Media.objects.filter(
        scope, stage__in=GUESS_STAGES, duplicate_of__isnull=True, post__text_geolocation__isnull=False, pk__gt=after_id
    )
    if not include_fallback:
        queryset = queryset.filter(post__text_geolocation__is_fallback=False)
    if filters.bbox:
        queryset = queryset.filter(
            _bbox_q(
                filters.bbox,
                lat="post__text_geolocation__lat",
                lon="post__text_geolocation__lon",
                coarse=bool(coarse_ids),
            )
        )
    queryset = queryset.filter(_filter_q(filters, prefix=""))
    queryset = queryset.order_by("pk").values_list(*GUESS_FIELDS)
    return list(queryset[:limit] if limit is not None else queryset)


def text_guess_count(*, crisis_id: int) -> int:
    return PostGeolocation.objects.filter(post__crisis_id=crisis_id, is_fallback=False).count()


def media_for_image(*, media_id: int) -> Media | None:
    return Media.objects.select_related("crisis").filter(pk=media_id).first()


def media_shown_on_map(*, media: Media, public_cutoff: datetime | None = None) -> bool:
    """An image is served through the map only while it is a point or a guess on it.

    ``public_cutoff`` (now less ``MAP_PUBLIC_DELAY``) asks about the public map, which shows a point or a guess only
    once it is that old: its photo is no earlier to be had by id than the point is on the map.
    """
    if media.stage in GUESS_STAGES:
        guesses = PostGeolocation.objects.filter(post_id=media.post_id)
        return public_cutoff is None or guesses.filter(created_at__lte=public_cutoff).exists()
    points = LocationConsensus.objects.filter(_displayable(), media_id=media.pk)
    if public_cutoff is not None:
        points = points.filter(updated_at__lte=public_cutoff)
    return points.exists()


def blurred_image(*, media_id: int) -> BlurredImage | None:
    return BlurredImage.objects.filter(media_id=media_id).first()


def media_needing_blur(*, limit: int) -> list[int]:
    """Images on public maps without a blurred copy yet, oldest points first."""
    return list(
        LocationConsensus.objects.filter(
            _displayable(), crisis__visibility=Crisis.Visibility.PUBLIC, media__blurred__isnull=True
        )
        .exclude(media__image="")
        .order_by("updated_at")
        .values_list("media_id", flat=True)[:limit]
    )


def crisis_blurs_for_volunteers(*, crisis: Crisis) -> bool:
    policy = CrisisPrivacy.objects.filter(crisis=crisis).values_list("blur_for_volunteers", flat=True).first()
    return settings.MAP_BLUR_FOR_VOLUNTEERS_DEFAULT if policy is None else policy


def dashboard_snapshot(*, crisis: Crisis) -> DashboardSnapshot | None:
    return DashboardSnapshot.objects.filter(crisis=crisis).first()


def crises_due_for_purge(*, now: datetime) -> list[Crisis]:
    """Closed crises whose last close is older than ``MAP_RETENTION_DAYS`` and not yet purged."""
    cutoff = now - timedelta(days=settings.MAP_RETENTION_DAYS)
    due = []
    for crisis in Crisis.objects.filter(status=Crisis.Status.CLOSED).exclude(map_privacy__purged_at__isnull=False):
        closed_at = (
            crisis.status_changes.filter(to_status=Crisis.Status.CLOSED).values_list("changed_at", flat=True).first()
        )
        if closed_at is not None and closed_at <= cutoff:
            due.append(crisis)
    return due


def lat_lon_ok(lat: float, lon: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


# --- Dashboard statistics (read here, saved by services.dashboard_snapshot_refresh) ----------------

FUNNEL_STAGES = {
    # Reached-at-least sets of Media stages. The pipeline checks duplicates before relevance, so "unique" is
    # counted before "relevant" here although the issue lists them the other way round.
    "unique": (
        Media.Stage.UNIQUE, Media.Stage.IRRELEVANT, Media.Stage.PROBABLY_IRRELEVANT, Media.Stage.RELEVANT,
        Media.Stage.TEXT_GEOLOCATED,
        Media.Stage.DIFFICULTY_SCORED, Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK, Media.Stage.CONSENSUS_REACHED,
        Media.Stage.NEEDS_REVIEW, Media.Stage.CANNOT_GEOLOCATE, Media.Stage.PUBLISHED,
    ),
    "relevant": (
        Media.Stage.RELEVANT, Media.Stage.TEXT_GEOLOCATED, Media.Stage.DIFFICULTY_SCORED, Media.Stage.QUEUED,
        Media.Stage.IN_CROWD_WORK, Media.Stage.CONSENSUS_REACHED, Media.Stage.NEEDS_REVIEW,
        Media.Stage.CANNOT_GEOLOCATE, Media.Stage.PUBLISHED,
    ),
    "queued": (
        Media.Stage.QUEUED, Media.Stage.IN_CROWD_WORK, Media.Stage.CONSENSUS_REACHED, Media.Stage.NEEDS_REVIEW,
        Media.Stage.CANNOT_GEOLOCATE, Media.Stage.PUBLISHED,
    ),
}  # fmt: skip
PRECISION_LEVEL = {"low": 0, "medium": 1, "high": 2}  # the paper's figures 13 and 14: 2 = high precision
THROUGHPUT_HOURS = 48
SCATTER_POINTS_MAX = 500  # per predicted difficulty: the chart draws a sample, sent every few seconds


def _funnel(crisis_id: int) -> list[dict]:
    from django.db.models import Count

    stage_counts = dict(
        Media.objects.filter(crisis_id=crisis_id).values_list("stage").annotate(n=Count("pk")).values_list("stage", "n")
    )
    from crawling.models import Post

    located = LocationConsensus.objects.filter(_displayable(), crisis_id=crisis_id).aggregate(
        geolocated=Count("pk"),
        reviewed=Count("pk", filter=Q(review__in=(LocationConsensus.Review.ACCEPTED, LocationConsensus.Review.MOVED))),
    )
    steps = [
        ("posts", Post.objects.filter(crisis_id=crisis_id).count()),
        ("images", sum(stage_counts.values())),
        ("unique", sum(stage_counts.get(s, 0) for s in FUNNEL_STAGES["unique"])),
        ("relevant", sum(stage_counts.get(s, 0) for s in FUNNEL_STAGES["relevant"])),
        ("queued", sum(stage_counts.get(s, 0) for s in FUNNEL_STAGES["queued"])),
        ("geolocated", located["geolocated"]),
        ("reviewed", located["reviewed"]),
    ]
    return [{"step": name, "count": count} for name, count in steps]


def _hour(field: str):
    """The UTC hour an instant falls in, grouped by in the database. SQLite keeps instants as UTC text
    ("2024-05-06 10:30:00.000000"): its first 13 characters are the hour, read without parsing any date, where
    Django's TruncHour calls back into Python for every row (seconds for a crisis's 100,000 answers)."""
    if connection.vendor == "sqlite":
        return Func(F(field), template="substr(%(expressions)s, 1, 13)", output_field=CharField())
    return TruncHour(field, tzinfo=UTC)


class Epoch(Func):
    """Seconds since 1970 of an instant, as a float: a difference of two needs no datetime made in Python."""

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(julianday(%(expressions)s) * 86400.0)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra)


def _hour_read(value) -> datetime:
    return datetime.fromisoformat(f"{value}:00:00+00:00") if isinstance(value, str) else value


def _throughput(crisis_id: int, now: datetime) -> dict:
    from tasks_app.models import Answer

    start = (now.astimezone(UTC) - timedelta(hours=THROUGHPUT_HOURS)).replace(minute=0, second=0, microsecond=0)
    hours = [start + timedelta(hours=i) for i in range(THROUGHPUT_HOURS + 1)]
    index = {hour: i for i, hour in enumerate(hours)}
    series = {"rating": [0] * len(hours), "geolocation": [0] * len(hours), "review": [0] * len(hours)}
    answers = (
        Answer.objects.filter(crisis_id=crisis_id, submitted_at__gte=start, is_gold=False)
        .annotate(hour=_hour("submitted_at"))
        .values_list("hour", "kind")
        .annotate(n=Count("pk"))
    )
    for hour, kind, n in answers:
        position = index.get(_hour_read(hour))
        if position is not None and kind in series:
            series[kind][position] = n
    located = [0] * len(hours)
    for hour, n in (
        LocationConsensus.objects.filter(_displayable(), crisis_id=crisis_id, computed_at__gte=start)
        .annotate(hour=_hour("computed_at"))
        .values_list("hour")
        .annotate(n=Count("pk"))
        .values_list("hour", "n")
    ):
        position = index.get(_hour_read(hour))
        if position is not None:
            located[position] = n
    return {"hours": [hour.isoformat() for hour in hours], "answers": series, "geolocated": located}


def _volunteers(crisis_id: int, now: datetime) -> dict:
    from tasks_app.models import Answer

    return Answer.objects.filter(crisis_id=crisis_id).aggregate(
        last_hour=Count("volunteer", distinct=True, filter=Q(submitted_at__gte=now - timedelta(hours=1))),
        last_day=Count("volunteer", distinct=True, filter=Q(submitted_at__gte=now - timedelta(days=1))),
        total=Count("volunteer", distinct=True),
    )


def _checks(crisis_id: int, now: datetime) -> dict:
    """Points held back for a check or a review, and whether anyone active may give it.

    Under the crisis's trust rule a point the crowd agreed on waits until a volunteer with a record (or a
    coordinator) checks it. Nobody may check their own pins, nor a task they already had; when every volunteer with
    a record active in the last hour is ruled out that way, only a coordinator (or someone who comes back) can.
    """
    from tasks_app.models import Answer, Assignment, CrowdTask
    from tasks_app.selectors import volunteer_standings

    crisis = Crisis.objects.get(pk=crisis_id)
    held = {
        status: (n, oldest)
        for status, n, oldest in LocationConsensus.objects.filter(
            crisis_id=crisis_id,
            status__in=(LocationConsensus.Status.AWAITING_VERIFICATION, LocationConsensus.Status.NEEDS_EXPERT_REVIEW),
        )
        .values("status")
        .annotate(n=Count("pk"), oldest=Min("updated_at"))
        .values_list("status", "n", "oldest")
    }
    active = Answer.objects.filter(crisis_id=crisis_id, submitted_at__gte=now - timedelta(hours=1))
    active_ids = active.values_list("volunteer_id", flat=True).distinct()
    standings = volunteer_standings(crisis=crisis, volunteer_ids=active_ids)
    checkers = {pk for pk, standing in standings.items() if standing.has_record and not standing.coordinator}
    open_checks = CrowdTask.objects.filter(
        crisis_id=crisis_id,
        kind__in=(CrowdTask.Kind.VERIFICATION, CrowdTask.Kind.REVIEW),
        status=CrowdTask.Status.OPEN,
    )
    ruled_out: dict[int, set[int]] = {}  # open check -> the active checkers who may not take it
    pinned = Answer.objects.filter(
        crisis_id=crisis_id, kind=CrowdTask.Kind.GEOLOCATION, volunteer_id__in=checkers
    ).values_list("media_id", "volunteer_id")
    pinners: dict[int, set[int]] = {}
    for media_id, volunteer_id in pinned:
        pinners.setdefault(media_id, set()).add(volunteer_id)
    had = Assignment.objects.filter(task__in=open_checks, volunteer_id__in=checkers)
    for task_id, volunteer_id in had.values_list("task_id", "volunteer_id"):
        ruled_out.setdefault(task_id, set()).add(volunteer_id)
    open_rows = open_checks.values_list("pk", "media_id")
    coordinator_only = sum(
        1 for task_id, media_id in open_rows if checkers <= ruled_out.get(task_id, set()) | pinners.get(media_id, set())
    )

    oldest = min((since for _, since in held.values()), default=None)
    return {
        "requires_record": crisis.publish_requires_record,
        "min_record": crisis.trusted_min_record,
        "awaiting_check": held.get(LocationConsensus.Status.AWAITING_VERIFICATION, (0,))[0],
        "awaiting_review": held.get(LocationConsensus.Status.NEEDS_EXPERT_REVIEW, (0,))[0],
        "longest_wait_minutes": None if oldest is None else int((now - oldest).total_seconds() // 60),
        "checkers_active": len(checkers),
        "coordinator_only": coordinator_only,
    }


def _by_difficulty(crisis_id: int) -> dict:
    """Per predicted difficulty: (precision level, mean time on task) per geolocated image; figures 13 and 14.

    One query: each displayable consensus row joined to its geolocation task (label, time queued), with its
    answers' mean time on task (a correlated subquery on the (media, kind) index).
    """
    import statistics

    from tasks_app.models import Answer, CrowdTask

    mean_time = (
        Answer.objects.filter(
            media_id=OuterRef("media_id"), kind=CrowdTask.Kind.GEOLOCATION, is_gold=False, time_on_task_s__isnull=False
        )
        .values("media_id")
        .annotate(t=Avg("time_on_task_s"))
        .values("t")
    )
    rows = (
        LocationConsensus.objects.filter(_displayable(), crisis_id=crisis_id)
        .annotate(
            task=FilteredRelation(
                "media__crowd_tasks", condition=Q(media__crowd_tasks__kind=CrowdTask.Kind.GEOLOCATION)
            ),
            wait=Epoch("computed_at") - Epoch("task__created_at"),
            mean_time=Subquery(mean_time[:1]),
        )
        .values_list("task__predicted_label", "precision", "radius_68_m", "wait", "mean_time")
    )
    groups: dict[str, dict] = {}
    for label, precision, radius, wait, mean_time in rows.iterator(chunk_size=5000):
        group = groups.setdefault(label or "unscored", {"n": 0, "points": [], "timed": [], "levels": [], "waits": []})
        group["n"] += 1
        level, seconds = PRECISION_LEVEL.get(precision), None if mean_time is None else round(mean_time, 1)
        if len(group["points"]) < SCATTER_POINTS_MAX:  # the chart draws a sample; the figures use every image
            group["points"].append([level, seconds, radius])
        if seconds is not None:
            group["timed"].append(seconds)
        if level is not None:
            group["levels"].append(level)
        if wait is not None:
            group["waits"].append(wait)
    summary = {}
    for label, group in groups.items():
        timed, levels = group["timed"], group["levels"]
        summary[label] = {
            "n": group["n"],
            "median_time_on_task_s": round(statistics.median(timed), 1) if timed else None,
            "share_high_precision": round(levels.count(2) / len(levels), 3) if levels else None,
            "median_time_to_geolocate_s": round(statistics.median(group["waits"]), 1) if group["waits"] else None,
            "points": group["points"],
        }
    return summary


def _rating_agreement(crisis_id: int) -> dict | None:
    from consensus.models import CrisisRatingStats

    stats = CrisisRatingStats.objects.filter(crisis_id=crisis_id).first()
    if stats is None:
        return None
    return {
        "fleiss_kappa": stats.fleiss_kappa,
        "krippendorff_alpha_ordinal": stats.krippendorff_alpha_ordinal,
        "warning_rate": stats.warning_rate,
        "n_ratings": stats.n_ratings,
        "n_images": stats.n_images,
        "n_volunteers": stats.n_volunteers,
        "computed_at": stats.computed_at.isoformat(),
    }


def _active_models(crisis_id: int) -> list[dict]:
    """The difficulty model version that scores this crisis's images, with its test metrics."""
    from classification.selectors import model_version_active

    version = model_version_active(crisis_id=crisis_id)
    if version is None:
        return []
    return [
        {
            "name": version.name,
            "kind": "difficulty",
            "weights": version.weights_origin,
            "metrics": version.metrics,
            "label_counts": version.label_counts,
        }
    ]


def dashboard_statistics(*, crisis_id: int, now: datetime) -> dict:
    """Everything the coordinator dashboard draws, as JSON-ready data."""
    return {
        "funnel": _funnel(crisis_id),
        "throughput": _throughput(crisis_id, now),
        "volunteers": _volunteers(crisis_id, now),
        "checks": _checks(crisis_id, now),
        "by_difficulty": _by_difficulty(crisis_id),
        "rating_agreement": _rating_agreement(crisis_id),
        "models": _active_models(crisis_id),
        "text_guesses": text_guess_count(crisis_id=crisis_id),
        "forecast": crisis_forecast(crisis_id=crisis_id, now=now).to_dict(),
    }
