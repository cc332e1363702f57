"""Crisis replay: a simulated crowd works through seeded images via the platform's real crowd services.

One run per scheduling policy, each in a throwaway crisis (created, launched, deleted afterwards) with throwaway
volunteers. The crowd is simulated; the platform is not: ``lease_grant``, ``answer_submit``, ``lease_skip`` and
``lease_expire_due`` are the services volunteers hit, and every answer reaches consensus through the real
``answer_submitted`` signal on commit (Celery forced eager for the run), which retires and publishes images.

The clock: every service that takes ``now`` is given the simulated time, which starts ``duration`` plus an hour
before the wall clock, so it never runs ahead of real time. That matters because ``lease_expire_due`` sweeps all
crises: with a past clock it only expires leases that are overdue in reality too. Timestamps the services write
without a ``now`` (consensus ``computed_at``, stage changes) carry wall-clock time; the replay never reads them.
The global ``random`` module (the queue's ``random_key``) is seeded for the run and restored afterwards.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import math
import random
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from consensus.models import CrisisRatingStats, LocationConsensus
from crawling.models import Media, Post
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.services import crisis_create, crisis_transition
from tasks_app import replay_crowd, services
from tasks_app.errors import AlreadyAnswered, LeaseClosed, LeaseExpired, NoTrackRecord
from tasks_app.models import Answer, Assignment, CrowdTask

DEFAULTS_PATH = Path(__file__).with_name("replay_defaults.yaml")
CLASSES = ("easy", "medium", "difficult", "impossible")
PRECISIONS = ("high", "medium", "low", "cannot")
POLICIES = tuple(Crisis.SchedulingPolicy.values)  # difficulty_priority, breadth_first, depth_first, random
CONSENSUS_POLICIES = ("today", "adaptive")  # the publication rules compared (replay_defaults.yaml)
MILESTONES = (50, 100, 500)
SLUG_PREFIX = "replay-"
USER_PREFIX = "replay-"


# --- configuration ---------------------------------------------------------------------------------------------


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_load(path: str | Path | None = None, **overrides) -> dict:
    """The defaults (replay_defaults.yaml), merged with a YAML/JSON file and then keyword overrides."""
    config = yaml.safe_load(DEFAULTS_PATH.read_text())
    if path:
        text = Path(path).read_text()
        extra = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        config = _merge(config, extra or {})
    return _merge(config, {k: v for k, v in overrides.items() if v is not None})


# --- the hidden world: images and the crowd ---------------------------------------------------------------------


@dataclass(frozen=True)
class SimImage:
    index: int
    true_class: int  # index into CLASSES
    lat: float
    lon: float
    predicted_class: int
    predicted_ease: float


@dataclass
class SimVolunteer:
    index: int
    skill: float
    arrive_s: float
    leave_s: float
    rng: random.Random
    user: object = None
    done: bool = False
    behaviour: str = replay_crowd.HONEST
    experienced: bool = False  # arrives with a track record from earlier crises


def images_generate(*, config: dict, seed: int) -> list[SimImage]:
    """Seeded images with hidden truth and the simulated classifier's prediction (the same for every policy)."""
    rng = random.Random(f"images-{seed}")
    shares = [config["true_difficulty_share"][name] for name in CLASSES]
    confusion = [config["classifier"]["confusion"][name] for name in CLASSES]
    jitter = config["classifier"].get("ease_jitter", 0.0)
    area = config["area"]
    images = []
    for index in range(int(config["images"])):
        true_class = rng.choices(range(4), weights=shares)[0]
        predicted = rng.choices(range(4), weights=confusion[true_class])[0]
        ease = min(1.0, max(0.0, 1 - predicted / 3 + rng.uniform(-jitter, jitter)))
        lat = rng.uniform(area["south"], area["north"])
        lon = rng.uniform(area["west"], area["east"])
        images.append(SimImage(index, true_class, lat, lon, predicted, ease))
    return images


# Images volunteers never see: not fetched, rejected, duplicates, dropped or held back by the relevance filter.
EXCLUDED_STAGES = (
    Media.Stage.NEW,
    Media.Stage.REJECTED,
    Media.Stage.DUPLICATE,
    Media.Stage.IRRELEVANT,
    Media.Stage.PROBABLY_IRRELEVANT,
)


def images_from_crisis(*, crisis: Crisis, config: dict, seed: int) -> list[SimImage]:
    """Images of a real crisis, read-only: its classifier's predictions and, as the hidden truth, its crowd's.

    The true location is the published consensus, else the post's text-derived guess, else a point in the area;
    the true difficulty is the rating consensus, else drawn given the prediction (Bayes over the configured
    shares and classifier confusion). Images with neither a prediction nor a rating are predicted "medium".
    """
    from classification.models import DifficultyPrediction, PostGeolocation
    from consensus.models import LocationConsensus, RatingConsensus

    rng = random.Random(f"crisis-images-{seed}")
    shares = [config["true_difficulty_share"][name] for name in CLASSES]
    confusion = [config["classifier"]["confusion"][name] for name in CLASSES]
    area = config["area"]
    media = list(
        Media.objects.filter(crisis=crisis)
        .exclude(stage__in=EXCLUDED_STAGES)
        .order_by("pk")
        .values_list("pk", "post_id")
    )
    ids = [m for m, _ in media]
    predicted = dict(DifficultyPrediction.objects.filter(media_id__in=ids).values_list("media_id", "predicted_label"))
    ease = dict(DifficultyPrediction.objects.filter(media_id__in=ids).values_list("media_id", "ease"))
    rated = dict(RatingConsensus.objects.filter(media_id__in=ids).values_list("media_id", "label"))
    located = {
        m: (lat, lon)
        for m, lat, lon in LocationConsensus.objects.filter(
            media_id__in=ids, status="done", lat__isnull=False
        ).values_list("media_id", "lat", "lon")
    }
    guessed = {
        post: (lat, lon)
        for post, lat, lon in PostGeolocation.objects.filter(
            post_id__in=[p for _, p in media], is_fallback=False
        ).values_list("post_id", "lat", "lon")
    }
    images = []
    for index, (media_id, post_id) in enumerate(media):
        label = predicted.get(media_id) or "medium"
        predicted_class = CLASSES.index(label) if label in CLASSES else CLASSES.index("medium")
        if rated.get(media_id) in CLASSES:
            true_class = CLASSES.index(rated[media_id])
        else:
            weights = [shares[t] * confusion[t][predicted_class] for t in range(4)]
            true_class = rng.choices(range(4), weights=weights)[0]
        lat, lon = (
            located.get(media_id)
            or guessed.get(post_id)
            or (
                rng.uniform(area["south"], area["north"]),
                rng.uniform(area["west"], area["east"]),
            )
        )
        image_ease = ease.get(media_id)
        if image_ease is None:
            image_ease = 1 - predicted_class / 3
        images.append(SimImage(index, true_class, lat, lon, predicted_class, image_ease))
    return images


def area_of(crisis: Crisis) -> dict | None:
    """The bounding box of a crisis's affected area, in the config's shape."""
    if not crisis.affected_area:
        return None
    rings = crisis.affected_area["coordinates"]
    points = [
        p
        for ring in (rings if crisis.affected_area["type"] == "Polygon" else [r for poly in rings for r in poly])
        for p in ring
    ]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return {"south": min(lats), "north": max(lats), "west": min(lons), "east": max(lons)}


def area_polygon(area: dict) -> dict:
    """The config's bounding box as the crisis's affected area (GeoJSON)."""
    west, south, east, north = area["west"], area["south"], area["east"], area["north"]
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def crowd_generate(*, config: dict, seed: int) -> list[SimVolunteer]:
    rng = random.Random(f"crowd-{seed}")
    crowd = config["crowd"]
    session = crowd["session_hours"]
    end = config["duration_hours"] * 3600
    volunteers = []
    for index in range(int(config["volunteers"])):
        skill = rng.betavariate(*crowd["skill_beta"])
        arrive = rng.uniform(0, crowd["arrival_spread_hours"] * 3600)
        stay = max(session["min"], rng.gauss(session["mean"], session["sd"])) * 3600
        leave = min(end, arrive + stay)
        volunteers.append(SimVolunteer(index, skill, arrive, leave, random.Random(f"v{seed}-{index}")))
    return volunteers


def _time_on_task(config: dict, key: str, skill: float, rng: random.Random) -> float:
    spec = config["time_on_task"][key]
    median = spec["median"] * (1.3 - 0.6 * skill)
    return max(5.0, median * math.exp(rng.gauss(0.0, spec["sigma"])))


def _precision(config: dict, true_class: int, skill: float, rng: random.Random) -> str:
    weights = list(config["precision"][CLASSES[true_class]])
    shift = config["skill_effect"] * (2 * skill - 1)
    weights[0] *= 1 + shift
    weights[3] *= max(0.0, 1 - shift)
    return rng.choices(PRECISIONS, weights=weights)[0]


def _pin(config: dict, image: SimImage, precision: str, rng: random.Random) -> tuple[float, float]:
    """A point at a Rayleigh-distributed distance from the truth, in a uniform direction."""
    scale = config["pin_error_m"][precision]
    distance = scale * math.sqrt(-2 * math.log(1 - rng.random()))
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111_320
    dlon = distance * math.sin(bearing) / (111_320 * math.cos(math.radians(image.lat)))
    return max(-90.0, min(90.0, image.lat + dlat)), max(-180.0, min(180.0, image.lon + dlon))


def _rating(config: dict, true_class: int, rng: random.Random) -> str:
    spec = config["ratings"]
    draw = rng.random()
    if draw < spec["correct"]:
        return CLASSES[true_class]
    if draw < spec["correct"] + spec["neighbour"]:
        neighbours = [c for c in (true_class - 1, true_class + 1) if 0 <= c < 4]
        return CLASSES[rng.choice(neighbours)]
    return CLASSES[rng.randrange(4)]


# --- one run -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A stretch of one volunteer's session: a task (its kind), or "gap", "break" (closed the page) or "idle"."""

    volunteer: int
    start_s: float
    seconds: float
    what: str
    media_id: int | None = None
    lease_id: int | None = None
    gold: bool = False


BUDGET_ROWS = (
    "geolocation, image published: pin on the point",
    "geolocation, image published: pin off it or 'cannot'",
    "geolocation, image waiting for a check at the end",
    "geolocation, image sent to expert review",
    "geolocation, image retired 'cannot geolocate'",
    "geolocation, image still open at the end",
    "check: yes, point published",
    "check: no or nearby",
    "check: image not published",
    "answer refused (the image was decided meanwhile)",
    "practice geolocation",
    "practice check",
    "rating",
    "task unfinished when the run or the session ended",
    "gap between tasks",
    "break (page closed on a lease)",
    "idle (nothing to do)",
)


@dataclass
class RunResult:
    policy: str
    duration_s: int
    volunteer_hours: float
    published: int
    published_high: int
    cannot_geolocate: int
    geolocation_answers: int
    rating_answers: int
    leases_expired: int
    late_answers: int
    refused_answers: int
    first_published_s: dict[int, float | None]
    high_in_first_hour: int
    cannot_time_share: float
    fleiss_kappa: float | None
    max_answers_over_redundancy: int  # answers beyond the redundancy a task had at the end (0 means never)
    consensus: str = "today"
    scenario: str = "honest"
    verification_answers: int = 0
    false_beyond_radius: int = 0  # published farther from the truth than their stated 68% radius
    false_far: int = 0  # published more than 1 km from the truth
    false_both: int = 0  # both: wrong beyond what they claim, by a distance that matters to responders
    awaiting_verification: int = 0  # at the end: agreed, waiting for a check by a volunteer with a record
    budget: dict[str, float] = field(default_factory=dict)  # volunteer-hours per BUDGET_ROWS entry
    first_pins: dict[str, list[float]] = field(default_factory=dict)  # first pin's precision -> see first_pin_rows
    asked: list[tuple[str, str, int]] = field(default_factory=list)  # (status, reason, times) after answers
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (s, published, published high)
    breakdown: list[dict] = field(default_factory=list)  # figures 13/14: precision x time by predicted class

    @property
    def high_per_volunteer_hour(self) -> float:
        return self.published_high / self.volunteer_hours if self.volunteer_hours else 0.0

    @property
    def answers_per_published(self) -> float | None:
        return self.geolocation_answers / self.published if self.published else None

    @property
    def work_per_published(self) -> float | None:
        """Geolocation and verification answers per published point (ratings are the classifier's, not the map's)."""
        return (self.geolocation_answers + self.verification_answers) / self.published if self.published else None

    @property
    def label(self) -> str:
        return f"{self.policy} / {self.consensus} / {self.scenario}"

    def rate(self, count: int) -> float:
        return count / self.published if self.published else 0.0

    def figures(self) -> dict:
        """Everything compared between runs (determinism), without the long series."""
        data = {k: v for k, v in self.__dict__.items() if k not in ("timeline", "breakdown")}
        data["high_per_volunteer_hour"] = round(self.high_per_volunteer_hour, 4)
        data["volunteer_hours"] = round(self.volunteer_hours, 4)
        data["cannot_time_share"] = round(self.cannot_time_share, 4)
        data["fleiss_kappa"] = None if self.fleiss_kappa is None else round(self.fleiss_kappa, 4)
        return data


@contextlib.contextmanager
def celery_in_process():
    """Run Celery tasks in this process (the on-commit consensus included), even when a broker is configured."""
    from geoloc_platform.celery import app

    saved = {key: app.conf.get(key) for key in ("task_always_eager", "task_eager_propagates")}
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        for key, value in saved.items():
            app.conf[key] = value


@contextlib.contextmanager
def platform_settings(overrides: dict):
    """Run with some crowd/consensus settings changed (config ``platform_settings``), e.g. CROWD_EXPERT_SKILL."""
    wrong = [key for key in overrides if not key.startswith(("CROWD_", "CONSENSUS_"))]
    if wrong:
        raise ValueError(f"platform_settings may only change CROWD_* and CONSENSUS_* settings, not {wrong}.")
    if not overrides:
        yield
        return
    from django.test.utils import override_settings

    with override_settings(**overrides):
        yield


@contextlib.contextmanager
def quiet_logs():
    """Thousands of eager tasks and lease sweeps would each log a line at INFO."""
    names = ("celery.app.trace", "tasks_app.services", "consensus.services", "celery")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def seeded_global_random(seed: str):
    """The services draw ``random_key`` from the global ``random``: seed it for the run, then put it back."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class Replay:
    """One policy's run: a throwaway crisis and crowd, an event loop on a simulated clock, then clean-up."""

    def __init__(
        self,
        *,
        config: dict,
        images: list[SimImage],
        crowd: list[SimVolunteer],
        policy: str,
        seed: int,
        template: list[dict] | None = None,
        consensus: str = "today",
        scenario: str = "honest",
        priors: dict | None = None,
    ):
        self.config, self.images, self.policy, self.seed = config, images, policy, seed
        self.consensus, self.scenario = consensus, scenario
        self.template = template  # the task rows of the first run, copied into the next runs' crises
        self.priors = priors or {}  # image index -> replay_crowd.Prior (the text's guess)
        roles, experienced = replay_crowd.roles_assign(
            config={**config, "behaviours": config["scenarios"][scenario]}, seed=seed, count=len(crowd)
        )
        # Each run gets fresh copies: volunteers' private random streams restart identically for every policy.
        self.crowd = [
            SimVolunteer(
                v.index,
                v.skill,
                v.arrive_s,
                v.leave_s,
                random.Random(f"v{seed}-{v.index}-{policy}"),
                behaviour=roles[v.index],
                experienced=v.index in experienced,
            )
            for v in crowd
        ]
        self.end_s = int(config["duration_hours"] * 3600)
        self.start = (timezone.now() - timedelta(hours=config["duration_hours"] + 1)).replace(microsecond=0)
        self.token = secrets.token_hex(4)
        self.lease_rng = random.Random(f"lease-{seed}")
        self.media_truth: dict[int, SimImage] = {}
        self.status: dict[int, tuple[str, str]] = {}  # media id -> (consensus status, precision)
        self.timeline: list[tuple[float, int, int]] = [(0.0, 0, 0)]
        self.time_by_media: Counter = Counter()
        self.late = self.refused = 0
        self.gold_media: set[int] = set()
        # The time budget: every stretch of every volunteer's session, and what became of each task's answer.
        self.spans: list[Span] = []
        self.submitted: dict[int, dict] = {}  # lease id -> the answer's fields, or {"refused": True}
        self.asked: Counter = Counter()  # (status, reason without numbers) after each geolocation or check answer

    def at(self, seconds: float):
        return self.start + timedelta(seconds=seconds)

    # setup / teardown

    def setup(self) -> None:
        redundancy = self.config["redundancy"]
        area = self.config["area"]
        crisis = crisis_create(
            created_by=None,
            name=f"Replay {self.policy} {self.consensus} {self.scenario} {self.token}",
            slug=f"{SLUG_PREFIX}{self.policy.replace('_', '-')}-{self.token}",
            hazard=Crisis.Hazard.OTHER,
            description="Throwaway crisis of manage.py simulate_crisis; deleted when the run ends.",
            scheduling_policy=self.policy,
            geolocation_redundancy=redundancy["geolocation"],
            rating_redundancy=redundancy["rating"],
            affected_area=area_polygon(area),
            trusted_min_record=self.config["trust"]["min_record"],
            area_margin_km=self.config["trust"]["area_margin_km"],
            **self.config["consensus_policies"][self.consensus],
        )
        self.crisis = crisis_transition(crisis=crisis, action="launch", user=None)
        posts = Post.objects.bulk_create(
            Post(
                crisis=self.crisis,
                source=Post.Source.DEMO,
                source_id=f"replay-{image.index}",
                text=f"Simulated post {image.index}",
                posted_at=self.start,
                **self.prior_fields(image),
            )
            for image in self.images
        )
        media = Media.objects.bulk_create(
            Media(crisis=self.crisis, post=post, stage=Media.Stage.DIFFICULTY_SCORED) for post in posts
        )
        for item, image in zip(media, self.images, strict=True):
            item.crisis, self.media_truth[item.pk] = self.crisis, image
        if self.template is None:
            for item, image in zip(media, self.images, strict=True):
                # As the classifier does: the tasks are created with its prediction (the real service).
                services.crowd_tasks_create_for_media(
                    media=item,
                    predicted_ease=image.predicted_ease,
                    predicted_label=CLASSES[image.predicted_class],
                    now=self.start,
                )
            fields = [f.attname for f in CrowdTask._meta.concrete_fields if f.attname not in ("id", "crisis_id")]
            position = {item.pk: index for index, item in enumerate(media)}
            self.template = [
                {**row, "media_id": position[row["media_id"]]}
                for row in CrowdTask.objects.filter(crisis_id=self.crisis.pk).order_by("pk").values(*fields)
            ]
        else:
            # The other policies get copies of the rows the service made for the first one (same images, same
            # scores and random keys): creating them again one by one would only repeat the same work, slowly.
            CrowdTask.objects.bulk_create(
                CrowdTask(**{**row, "crisis_id": self.crisis.pk, "media_id": media[row["media_id"]].pk})
                for row in self.template
            )
        # The pipeline step out of DIFFICULTY_SCORED (media_queue_scored), for all images at once, as the crowd
        # tests queue images (tests/tasks_app/conftest.py): nobody holds a lease yet, so QUEUED is right for all.
        Media.objects.filter(crisis_id=self.crisis.pk, stage=Media.Stage.DIFFICULTY_SCORED).update(
            stage=Media.Stage.QUEUED
        )
        User = get_user_model()
        for volunteer in self.crowd:
            user = User(username=f"{USER_PREFIX}{self.token}-{volunteer.index}", is_active=True)
            user.set_unusable_password()
            user.save()
            volunteer.user = user
        self.gold_setup()
        self.records_setup()

    def prior_fields(self, image: SimImage) -> dict:
        prior = self.priors.get(image.index)
        if prior is None:
            return {}
        return {"geo_lat": prior.lat, "geo_lon": prior.lon, "geo_accuracy_m": prior.accuracy_m}

    def gold_setup(self) -> None:
        """Practice images with a known location (easy ones, in the area), and practice checks on some of them."""
        spec = self.config["gold"]
        rng = random.Random(f"gold-{self.seed}")
        area = self.config["area"]
        for number in range(int(spec["images"])):
            index = len(self.images) + number
            lat, lon = rng.uniform(area["south"], area["north"]), rng.uniform(area["west"], area["east"])
            truth = SimImage(index, 0, lat, lon, 0, 1.0)
            post = Post.objects.create(
                crisis=self.crisis, source=Post.Source.DEMO, source_id=f"replay-gold-{number}", posted_at=self.start
            )
            media = Media.objects.create(crisis=self.crisis, post=post, stage=Media.Stage.QUEUED)
            self.media_truth[media.pk] = truth
            self.gold_media.add(media.pk)
            services.gold_task_create(media_id=media.pk, lat=lat, lon=lon)
            if rng.random() < spec["verification_share"]:
                wrong = rng.random() < spec["wrong_pin_share"]
                distance = rng.uniform(1000, 3000) if wrong else rng.uniform(0, 20)
                pin = replay_crowd.offset(lat, lon, distance_m=distance, bearing=rng.uniform(0, 2 * math.pi))
                services.gold_verification_task_create(media_id=media.pk, pin_lat=pin[0], pin_lon=pin[1])

    def records_setup(self) -> None:
        """Volunteers who arrive with a track record: correct checked answers in an earlier (throwaway) crisis."""
        from consensus.models import VolunteerSkill
        from consensus.selectors import volunteer_record

        experienced = [v for v in self.crowd if v.experienced]
        if not experienced:
            return
        self.past = crisis_create(
            created_by=None,
            name=f"Replay past {self.token}",
            slug=f"{SLUG_PREFIX}past-{self.token}",
            hazard=Crisis.Hazard.OTHER,
            description="Throwaway crisis holding the replay's volunteers' earlier records; deleted with the run.",
        )
        record = int(self.config["trust"]["experienced_record"])
        for volunteer in experienced:
            VolunteerSkill.objects.create(
                volunteer=volunteer.user, crisis=self.past, n_gold_checked=record, n_gold_correct=record, skill=0.5
            )
            services.volunteer_skill_set(
                user_id=volunteer.user.pk, skill=0.5, record=volunteer_record(volunteer_id=volunteer.user.pk)
            )

    def teardown(self) -> None:
        for crisis in (getattr(self, "crisis", None), getattr(self, "past", None)):
            if crisis is not None and crisis.pk:
                Crisis.objects.filter(pk=crisis.pk).delete()
        get_user_model().objects.filter(pk__in=[v.user.pk for v in self.crowd if v.user is not None]).delete()

    # the event loop

    def run(self, progress=None) -> RunResult:
        with seeded_global_random(f"queue-{self.seed}"):
            self.setup()
            try:
                self.loop(progress)
                return self.measure()
            finally:
                self.teardown()

    def loop(self, progress=None) -> None:
        events: list[tuple[float, int, str, int, tuple]] = []
        seq = 0

        def push(t: float, kind: str, who: int = -1, payload: tuple = ()) -> None:
            nonlocal seq
            if t <= self.end_s:
                heapq.heappush(events, (t, seq, kind, who, payload))
                seq += 1

        for volunteer in self.crowd:
            push(volunteer.arrive_s, "request", volunteer.index)
        sweep = self.config["sweep_seconds"]
        push(sweep, "sweep")
        clock = 0.0
        while events:
            t, _, kind, who, payload = heapq.heappop(events)
            if progress is not None:
                progress.update(int(t) - int(clock))
            clock = t
            if kind == "sweep":
                services.lease_expire_due(now=self.at(t))
                push(t + sweep, "sweep")
            elif kind == "request":
                self.request(self.crowd[who], t, push)
            elif kind == "submit":
                self.submit(self.crowd[who], t, payload, push)
            elif kind == "heartbeat":
                self.heartbeat(self.crowd[who], t, payload[0])
        if progress is not None:
            progress.update(int(self.end_s) - int(clock))

    def request(self, volunteer: SimVolunteer, t: float, push) -> None:
        if t >= volunteer.leave_s:
            return
        crowd = self.config["crowd"]
        rng = volunteer.rng
        first = CrowdTask.Kind.RATING if rng.random() < crowd["rating_share"] else CrowdTask.Kind.GEOLOCATION
        second = CrowdTask.Kind.GEOLOCATION if first == CrowdTask.Kind.RATING else CrowdTask.Kind.RATING
        lease = self.check_lease(volunteer, t)
        for kind in () if lease is not None else (first, second):
            lease = services.lease_grant(
                crisis=self.crisis, volunteer=volunteer.user, kind=kind, now=self.at(t), rng=self.lease_rng
            )
            if lease is not None:
                break
        if lease is None:
            self.spans.append(Span(volunteer.index, t, crowd["idle_retry_seconds"], "idle"))
            push(t + crowd["idle_retry_seconds"], "request", volunteer.index)
            return
        if rng.random() < crowd["abandon_rate"]:
            # Closed the page and took a break: the lease runs out and the sweep expires it; back afterwards.
            pause = settings.CROWD_LEASE_SECONDS + crowd["idle_retry_seconds"]
            self.spans.append(Span(volunteer.index, t, pause, "break"))
            push(t + pause, "request", volunteer.index)
            return
        image = self.media_truth[lease.task.media_id]
        if lease.task.kind == CrowdTask.Kind.RATING:
            seconds = _time_on_task(self.config, "rating", volunteer.skill, rng)
            fields = {"difficulty": _rating(self.config, image.true_class, rng)}
        elif lease.task.kind == CrowdTask.Kind.VERIFICATION:
            # At least a share of what geolocating the same image would take this volunteer (the assumption).
            geolocating = _time_on_task(self.config, CLASSES[image.true_class], volunteer.skill, rng)
            seconds = self.config["verification"]["time_share"] * geolocating
            task = lease.task
            group = replay_crowd.group_spot(image, seed=self.seed)
            verdict = replay_crowd.verification_verdict(
                behaviour=volunteer.behaviour,
                pin_error_m=replay_crowd.distance_m(task.reference_lat, task.reference_lon, image.lat, image.lon),
                group_pin=replay_crowd.distance_m(task.reference_lat, task.reference_lon, *group) <= 50,
                config=self.config,
                rng=rng,
            )
            fields = {"verdict": verdict}
        else:
            seconds = _time_on_task(self.config, CLASSES[image.true_class], volunteer.skill, rng)
            precision = _precision(self.config, image.true_class, volunteer.skill, rng)
            fields = {"precision": precision}
            if precision != "cannot":
                fields["lat"], fields["lon"] = _pin(self.config, image, precision, rng)
            fields = replay_crowd.geolocation_fields(
                behaviour=volunteer.behaviour,
                honest=fields,
                image=image,
                prior=self.priors.get(image.index),
                config=self.config,
                area=self.config["area"],
                seed=self.seed,
                rng=rng,
            )
        self.spans.append(
            Span(volunteer.index, t, seconds, lease.task.kind, lease.task.media_id, lease.pk, bool(lease.is_gold))
        )
        if seconds > settings.CROWD_HEARTBEAT_EXTENSION_SECONDS:
            # The open task page sends a heartbeat every CROWD_HEARTBEAT_INTERVAL_SECONDS, which keeps the lease
            # of a long task alive (static/tasks_app/crowd.js); a shorter task ends before any lease runs out, so
            # its heartbeats would change nothing. Only a closed page (above) lets a lease expire.
            interval = settings.CROWD_HEARTBEAT_INTERVAL_SECONDS
            for beat in range(1, math.ceil(seconds / interval)):
                push(t + beat * interval, "heartbeat", volunteer.index, (lease.pk,))
        push(t + seconds, "submit", volunteer.index, (lease.pk, lease.task.kind, lease.task.media_id, seconds, fields))

    def heartbeat(self, volunteer: SimVolunteer, t: float, lease_id: int) -> None:
        # As on the page, a refused heartbeat changes nothing: the answer will say what became of the lease.
        with contextlib.suppress(LeaseExpired, AlreadyAnswered, LeaseClosed):
            services.lease_heartbeat(lease_id=lease_id, volunteer=volunteer.user, now=self.at(t))

    def check_lease(self, volunteer: SimVolunteer, t: float):
        """Volunteers with a record take a waiting check first (the hub offers it first); none before this policy."""
        if self.consensus == "today":
            return None
        try:
            return services.lease_grant(
                crisis=self.crisis,
                volunteer=volunteer.user,
                kind=CrowdTask.Kind.VERIFICATION,
                now=self.at(t),
                rng=self.lease_rng,
            )
        except NoTrackRecord:
            return None

    def submit(self, volunteer: SimVolunteer, t: float, payload: tuple, push) -> None:
        lease_id, kind, media_id, seconds, fields = payload
        try:
            # One transaction per answer (the service is atomic); its on-commit signal runs consensus here.
            answer = services.answer_submit(
                volunteer=volunteer.user, lease_id=lease_id, kind=kind, time_on_task_s=seconds, now=self.at(t), **fields
            )
        except LeaseExpired:
            self.refused += 1  # too late: the image already has the answers it needs
            self.submitted[lease_id] = {"refused": True}
        else:
            self.submitted[lease_id] = fields
            self.late += answer.is_late
            self.time_by_media[media_id] += seconds
            if kind in (CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION):
                self.consensus_seen(media_id, t)
        self.spans.append(Span(volunteer.index, t, self.config["crowd"]["gap_seconds"], "gap"))
        push(t + self.config["crowd"]["gap_seconds"], "request", volunteer.index)

    def consensus_seen(self, media_id: int, t: float) -> None:
        row = LocationConsensus.objects.filter(media_id=media_id).values_list("status", "precision", "reason").first()
        if row:
            self.asked[(row[0], re.sub(r"[0-9.]+", "N", row[2]))] += 1
        before = self.status.get(media_id, ("", ""))
        after = tuple(row[:2]) if row else ("", "")
        if after == before:
            return
        self.status[media_id] = after
        done = LocationConsensus.Status.DONE
        _, published, high = self.timeline[-1]
        published += (after[0] == done) - (before[0] == done)
        high += (after[0] == done and after[1] == "high") - (before[0] == done and before[1] == "high")
        self.timeline.append((t, published, high))

    # the figures

    def measure(self) -> RunResult:
        crisis_id = self.crisis.pk
        final = dict(LocationConsensus.objects.filter(crisis_id=crisis_id).values_list("media_id", "status"))
        _, published, high = self.timeline[-1]
        first = {}
        for milestone in MILESTONES:
            first[milestone] = next((t for t, n, _ in self.timeline if n >= milestone), None)
        high_first_hour = max((h for t, _, h in self.timeline if t <= 3600), default=0)
        cannot = LocationConsensus.Status.CANNOT_GEOLOCATE
        total_time = sum(self.time_by_media.values())
        cannot_time = sum(s for m, s in self.time_by_media.items() if final.get(m) == cannot)
        answers = Counter(
            dict(
                Answer.objects.filter(crisis_id=crisis_id, is_gold=False)
                .values_list("kind")
                .annotate(n=Count("pk"))
                .values_list("kind", "n")
            )
        )
        overshoot = 0
        for answered, redundancy in CrowdTask.objects.filter(crisis_id=crisis_id).values_list(
            "answers_count", "redundancy"
        ):
            overshoot = max(overshoot, answered - redundancy)
        # Counted answers per task, not the task's own counter: the check must not trust what it checks.
        per_task = (
            Answer.objects.filter(crisis_id=crisis_id).values("task_id", "task__redundancy").annotate(n=Count("pk"))
        )
        overshoot = max([overshoot] + [row["n"] - row["task__redundancy"] for row in per_task])
        stats = CrisisRatingStats.objects.filter(crisis_id=crisis_id).first()
        volunteer_hours = sum(max(0.0, min(v.leave_s, self.end_s) - v.arrive_s) for v in self.crowd) / 3600
        points = LocationConsensus.objects.filter(
            crisis_id=crisis_id, status=LocationConsensus.Status.DONE, lat__isnull=False
        ).values_list("media_id", "lat", "lon", "radius_68_m")
        truth = {media_id: (image.lat, image.lon) for media_id, image in self.media_truth.items()}
        beyond, far, both = replay_crowd.false_publishes(points, truth)
        awaiting = sum(1 for status in final.values() if status == LocationConsensus.Status.AWAITING_VERIFICATION)
        return RunResult(
            policy=self.policy,
            duration_s=self.end_s,
            volunteer_hours=volunteer_hours,
            published=published,
            published_high=high,
            cannot_geolocate=sum(1 for s in final.values() if s == cannot),
            geolocation_answers=answers.get(CrowdTask.Kind.GEOLOCATION, 0),
            rating_answers=answers.get(CrowdTask.Kind.RATING, 0),
            leases_expired=Assignment.objects.filter(task__crisis_id=crisis_id, state=Assignment.State.EXPIRED).count()
            + self.late,
            late_answers=self.late,
            refused_answers=self.refused,
            first_published_s=first,
            high_in_first_hour=high_first_hour,
            cannot_time_share=cannot_time / total_time if total_time else 0.0,
            fleiss_kappa=stats.fleiss_kappa if stats else None,
            max_answers_over_redundancy=overshoot,
            consensus=self.consensus,
            scenario=self.scenario,
            verification_answers=answers.get(CrowdTask.Kind.VERIFICATION, 0),
            false_beyond_radius=beyond,
            false_far=far,
            false_both=both,
            awaiting_verification=awaiting,
            **self.time_budget(final, points),
            timeline=list(self.timeline),
            breakdown=self.breakdown(),
        )

    def time_budget(self, final: dict[int, str], points) -> dict:
        """Where the volunteer-hours went: every span of every session, by task kind and what came of the answer.

        Also, per precision of an image's first pin, how many images, geolocations and checks it took and how many
        high-precision points came of them; and the reasons consensus gave after answers (what it asked for next).
        """
        status = LocationConsensus.Status
        published = {m: (lat, lon) for m, lat, lon, _ in points}
        precision = dict(
            LocationConsensus.objects.filter(crisis_id=self.crisis.pk, status=status.DONE).values_list(
                "media_id", "precision"
            )
        )
        ends = {v.index: (v.arrive_s, min(v.leave_s, self.end_s)) for v in self.crowd}
        budget = dict.fromkeys(BUDGET_ROWS, 0.0)
        first: dict[str, list[float]] = {}
        seen: dict[int, str] = {}
        geolocations: Counter = Counter()
        checks: Counter = Counter()
        for span in sorted(self.spans, key=lambda s: (s.start_s, s.volunteer)):
            arrive, leave = ends[span.volunteer]
            hours = max(0.0, min(span.start_s + span.seconds, leave) - max(span.start_s, arrive)) / 3600
            answer = self.submitted.get(span.lease_id) if span.lease_id is not None else None
            if span.what in ("gap", "break", "idle"):
                row = {"gap": BUDGET_ROWS[14], "break": BUDGET_ROWS[15], "idle": BUDGET_ROWS[16]}[span.what]
            elif answer is None:
                row = BUDGET_ROWS[13]
            elif answer.get("refused"):
                row = BUDGET_ROWS[9]
            elif span.what == CrowdTask.Kind.RATING:
                row = BUDGET_ROWS[12]
            elif span.gold:
                row = BUDGET_ROWS[10] if span.what == CrowdTask.Kind.GEOLOCATION else BUDGET_ROWS[11]
            elif span.what == CrowdTask.Kind.VERIFICATION:
                checks[span.media_id] += 1
                if answer["verdict"] != "yes":
                    row = BUDGET_ROWS[7]
                else:
                    row = BUDGET_ROWS[6] if span.media_id in published else BUDGET_ROWS[8]
            else:
                geolocations[span.media_id] += 1
                seen.setdefault(span.media_id, answer.get("precision", ""))
                end = final.get(span.media_id, "")
                if span.media_id in published:
                    lat, lon = published[span.media_id]
                    on = "lat" in answer and replay_crowd.distance_m(answer["lat"], answer["lon"], lat, lon) <= 250
                    row = BUDGET_ROWS[0] if on else BUDGET_ROWS[1]
                elif end == status.AWAITING_VERIFICATION:
                    row = BUDGET_ROWS[2]
                elif end == status.NEEDS_EXPERT_REVIEW:
                    row = BUDGET_ROWS[3]
                elif end == status.CANNOT_GEOLOCATE:
                    row = BUDGET_ROWS[4]
                else:
                    row = BUDGET_ROWS[5]
            budget[row] += hours
        for media_id, first_precision in seen.items():
            # [images, geolocation answers, check answers, high-precision points]
            entry = first.setdefault(first_precision, [0, 0, 0, 0])
            entry[0] += 1
            entry[1] += geolocations[media_id]
            entry[2] += checks[media_id]
            entry[3] += precision.get(media_id) == "high"
        asked = sorted(((st, reason, n) for (st, reason), n in self.asked.items()), key=lambda row: -row[2])
        return {
            "budget": {k: round(v, 4) for k, v in budget.items()},
            "first_pins": first,
            "asked": asked[:25],
        }

    def breakdown(self) -> list[dict]:
        """Figures 13/14 from simulated data: precision reached and time on task, by predicted difficulty."""
        rows = Answer.objects.filter(crisis_id=self.crisis.pk, kind=CrowdTask.Kind.GEOLOCATION, is_gold=False)
        table: dict[tuple[str, str], list[float]] = {}
        for label, precision, seconds in rows.values_list("task__predicted_label", "precision", "time_on_task_s"):
            table.setdefault((label, precision), []).append(seconds or 0.0)
        out = []
        for label in CLASSES:
            n_label = sum(len(v) for (lab, _), v in table.items() if lab == label)
            for precision in PRECISIONS:
                times = table.get((label, precision), [])
                out.append(
                    {
                        "predicted": label,
                        "precision": precision,
                        "answers": len(times),
                        "share": len(times) / n_label if n_label else 0.0,
                        "median_time_s": float(np.median(times)) if times else None,
                        "within_300s": sum(1 for s in times if s <= 300) / len(times) if times else None,
                    }
                )
        return out


def replay_run(
    *,
    config: dict,
    seed: int = 1,
    policies: tuple[str, ...] = POLICIES,
    progress: bool = False,
    images: list[SimImage] | None = None,
    consensus: tuple[str, ...] = ("today",),
    scenarios: tuple[str, ...] = ("honest",),
) -> list[RunResult]:
    """Replay the same seeded images and crowd once per scheduling policy, publication rule and crowd scenario.

    Every run cleans up after itself. ``images`` come from ``images_from_crisis`` to replay a real crisis; by
    default they are generated. ``consensus`` names entries of the config's ``consensus_policies``, ``scenarios``
    entries of its ``scenarios`` (shares of careless or hostile volunteers).
    """
    images = images if images is not None else images_generate(config=config, seed=seed)
    crowd = crowd_generate(config=config, seed=seed)
    priors = replay_crowd.priors_generate(config=config, images=images, seed=seed)
    runs = [(policy, rule, scenario) for scenario in scenarios for rule in consensus for policy in policies]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(len(runs) * int(config["duration_hours"] * 3600)), unit="sim s", unit_scale=True)
    results = []
    try:
        with celery_in_process(), platform_settings(config.get("platform_settings") or {}), quiet_logs():
            templates: dict[str, list[dict]] = {}
            for policy, rule, scenario in runs:
                if bar is not None:
                    bar.set_description(f"{policy} {rule} {scenario}")
                run = Replay(
                    config=config,
                    images=images,
                    crowd=crowd,
                    policy=policy,
                    seed=seed,
                    template=templates.get(rule),  # the tasks' redundancy depends on the rule
                    consensus=rule,
                    scenario=scenario,
                    priors=priors,
                )
                results.append(run.run(bar))
                templates.setdefault(rule, run.template)
    finally:
        if bar is not None:
            bar.close()
    return results


# --- output ------------------------------------------------------------------------------------------------------


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.0f} min"


def _share(count: int, result: RunResult) -> str:
    return f"{count} ({100 * result.rate(count):.1f}%)" if result.published else "-"


def run_labels(results: list[RunResult]) -> list[str]:
    """Column names: what differs between the runs (scheduling policy, publication rule, crowd scenario)."""
    parts = [
        [r.policy for r in results],
        [r.consensus for r in results],
        [r.scenario for r in results],
    ]
    varying = [values for values in parts if len(set(values)) > 1] or [parts[0]]
    return [", ".join(values[i] for values in varying) for i in range(len(results))]


def comparison_table(results: list[RunResult]) -> str:
    """The runs side by side, as a Markdown table."""
    rows = [
        ("High-precision published per volunteer-hour", lambda r: f"{r.high_per_volunteer_hour:.1f}"),
        ("High-precision published in the first hour", lambda r: str(r.high_in_first_hour)),
        ("Published points (all precisions)", lambda r: str(r.published)),
        ("... of which high precision", lambda r: str(r.published_high)),
        *[(f"Time to the first {m} published", lambda r, m=m: _minutes(r.first_published_s[m])) for m in MILESTONES],
        ("Volunteer time on images ending 'cannot geolocate'", lambda r: f"{100 * r.cannot_time_share:.1f}%"),
        (
            "Geolocation answers per published image",
            lambda r: "-" if r.answers_per_published is None else f"{r.answers_per_published:.2f}",
        ),
        ("Leases expired (incl. late answers)", lambda r: str(r.leases_expired)),
        ("Images retired 'cannot geolocate'", lambda r: str(r.cannot_geolocate)),
        (
            "Geolocation and check answers per published point",
            lambda r: "-" if r.work_per_published is None else f"{r.work_per_published:.2f}",
        ),
        ("False publishes: farther than their stated 68% radius", lambda r: _share(r.false_beyond_radius, r)),
        ("False publishes: more than 1 km off", lambda r: _share(r.false_far, r)),
        ("False publishes: both (wrong beyond the radius, by over 1 km)", lambda r: _share(r.false_both, r)),
        ("Waiting for a check at the end", lambda r: str(r.awaiting_verification)),
        (
            "Answers (geolocation / check / rating)",
            lambda r: f"{r.geolocation_answers} / {r.verification_answers} / {r.rating_answers}",
        ),
        ("Ratings' Fleiss kappa", lambda r: "-" if r.fleiss_kappa is None else f"{r.fleiss_kappa:.2f}"),
        ("Volunteer-hours", lambda r: f"{r.volunteer_hours:.1f}"),
    ]
    header = "| | " + " | ".join(run_labels(results)) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    for name, cell in rows:
        lines.append(f"| {name} | " + " | ".join(cell(r) for r in results) + " |")
    return "\n".join(lines)


def budget_table(results: list[RunResult]) -> str:
    """Where the volunteer-hours went, per run (hours and share of the run's volunteer-hours), and for each run how
    the images fared by the precision of their first pin."""
    lines = [
        "Where the volunteer-hours went (hours, share of the run's volunteer-hours)",
        "",
        "| | " + " | ".join(run_labels(results)) + " |",
        "|---" * (len(results) + 1) + "|",
    ]
    for name in BUDGET_ROWS:
        cells = [
            f"{r.budget.get(name, 0.0):.1f} ({100 * r.budget.get(name, 0.0) / r.volunteer_hours:.0f}%)" for r in results
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| Volunteer-hours | " + " | ".join(f"{r.volunteer_hours:.1f}" for r in results) + " |")
    lines += [
        "",
        "Images by the precision of their first pin: images / geolocations / checks / high-precision points",
        "",
        "| | " + " | ".join(run_labels(results)) + " |",
        "|---" * (len(results) + 1) + "|",
    ]
    for first in PRECISIONS:
        cells = [" / ".join(str(int(n)) for n in r.first_pins.get(first, [0, 0, 0, 0])) for r in results]
        lines.append(f"| first pin {first} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def asked_table(result: RunResult, limit: int = 12) -> str:
    """What consensus answered after the answers of one run, most frequent first (numbers folded to N)."""
    lines = [f"Consensus after each geolocation or check answer ({result.label})", "", "| times | status | reason |"]
    lines.append("|---|---|---|")
    for status, reason, n in result.asked[:limit]:
        lines.append(f"| {n} | {status} | {reason} |")
    return "\n".join(lines)


def breakdown_table(result: RunResult) -> str:
    """Figures 13/14 as a table: per predicted difficulty, share of answers and median time per precision."""
    lines = [
        f"Precision reached vs time on task by predicted difficulty ({result.label}, geolocation answers)",
        "",
        "| predicted | answers | " + " | ".join(f"{p}: share, median s" for p in PRECISIONS) + " | within 300 s |",
        "|---" * (len(PRECISIONS) + 3) + "|",
    ]
    for label in CLASSES:
        cells = [row for row in result.breakdown if row["predicted"] == label]
        total = sum(row["answers"] for row in cells)
        if not total:
            lines.append(f"| {label} | 0 | " + " | ".join("-" for _ in PRECISIONS) + " | - |")
            continue
        parts = [
            f"{100 * row['share']:.0f}%, {row['median_time_s']:.0f}" if row["answers"] else "0%"
            for row in cells  # in PRECISIONS order
        ]
        within = sum((row["within_300s"] or 0) * row["answers"] for row in cells) / total
        lines.append(f"| {label} | {total} | " + " | ".join(parts) + f" | {100 * within:.0f}% |")
    return "\n".join(lines)


def chart_save(results: list[RunResult], path: Path, *, title: str = "") -> Path:
    """Published points over simulated time per policy (all precisions, and high precision dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for index, (result, name) in enumerate(zip(results, run_labels(results), strict=True)):
        color = f"C{index}"
        hours = [*(t / 3600 for t, _, _ in result.timeline), result.duration_s / 3600]
        published = [*(n for _, n, _ in result.timeline), result.published]
        high = [*(h for _, _, h in result.timeline), result.published_high]
        ax.step(hours, published, where="post", color=color, label=f"{name}: all published")
        ax.step(hours, high, where="post", color=color, linestyle="--", label=f"{name}: high precision")
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("published points")
    ax.set_title(title or "Crisis replay: published points per scheduling policy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def breakdown_chart_save(result: RunResult, path: Path) -> Path:
    """Figures 13/14 from simulated data: share of each precision and its median time, per predicted difficulty."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for x, label in enumerate(CLASSES):
        for y, precision in enumerate(PRECISIONS):
            row = next(r for r in result.breakdown if r["predicted"] == label and r["precision"] == precision)
            if row["answers"]:
                ax.scatter(x, y, s=2000 * row["share"], alpha=0.5, color=f"C{x}")
                ax.annotate(
                    f"{100 * row['share']:.0f}%\n{row['median_time_s']:.0f} s",
                    (x, y),
                    ha="center",
                    va="center",
                    fontsize=8,
                )
    ax.set_xticks(range(4), [f"predicted {c}" for c in CLASSES])
    ax.set_yticks(range(4), PRECISIONS)
    ax.set_ylim(-0.6, 3.6)
    ax.set_xlim(-0.6, 3.6)
    ax.set_title(f"Precision reached and median time on task ({result.label}); size = share of answers")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
