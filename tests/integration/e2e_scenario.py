"""The end-to-end scenario of the platform, shared by the production-stack and the embedded-default tests.

A flood crisis around Porto Alegre whose sources are a fake Mastodon and a fake Bluesky on loopback (their APIs and
their images). Each scenario image says what the platform must make of it and why; scripted volunteers answer
through the HTTP API as people would; the assertions check every image's final state, the map and every export.
"""

import contextlib
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count
from django.test import Client

from classification.difficulty.data import DIFFICULTY_CLASS_NAMES
from classification.difficulty.testing import tiny_backbone
from classification.difficulty.training import checkpoint_save
from classification.models import DifficultyPrediction, MediaRelevance, ModelVersion, PostGeolocation
from classification.services import model_version_activate
from consensus.models import CrisisRatingStats, LocationConsensus
from consensus.spatial import haversine_m
from crawling.models import Media, Post
from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure
from geoloc_platform.crises import services as crisis_services
from geoloc_platform.crises.demo import draw_banner, draw_scene
from geoloc_platform.crises.models import Crisis
from tasks_app.models import Answer, CrowdTask
from tests.classification.geo_fixtures import PLACES, places_store
from tests.conftest import make_user
from tests.crawling.fakes import HTML_PAGE, FakeServer, Reply, encode
from tests.crawling.payloads import bluesky_post, bsky_images_view, bsky_record_with_media_view, mastodon_status
from tests.mapping.test_exports import read_back

HASHTAG = "EnchenteRS"
BLUESKY_IDENTIFIER = "e2e.bsky.social"
BLUESKY_APP_PASSWORD = "abcd-efgh-ijkl-mnop"

# Around Porto Alegre and its metropolitan towns, as a coordinator would draw it.
AFFECTED_AREA = {
    "type": "Polygon",
    "coordinates": [[[-51.75, -30.25], [-51.0, -30.25], [-51.0, -29.6], [-51.75, -29.6], [-51.75, -30.25]]],
}
# Real towns of the area that the small test gazetteer lacks: (kind, name, alternates, country, lat, lon, pop, km).
EXTRA_PLACES = [
    ("city", "São Leopoldo", [], "BR", -29.7604, -51.1472, 214_000, 16.0),
    ("city", "Novo Hamburgo", [], "BR", -29.6783, -51.1306, 247_000, 17.0),
    ("city", "Guaíba", [], "BR", -30.1136, -51.3250, 98_000, 12.0),
]
TOWNS = {
    name: (lat, lon)
    for kind, name, _alt, country, lat, lon, *_ in PLACES + EXTRA_PLACES
    if (kind, country) == ("city", "BR")
}

PUBLISHED, DUPLICATE, IRRELEVANT, REJECTED = "published", "duplicate", "irrelevant", "rejected"
NEEDS_REVIEW, CANNOT_GEOLOCATE = "needs_review", "cannot_geolocate"
# Where the "needs review" image's pinners disagree: the six towns, kilometres apart, one per volunteer.
SCATTERED_PINS = list(TOWNS.values())


@dataclass(frozen=True)
class ScenarioImage:
    """One image of the scenario and what the platform must make of it."""

    key: str
    outcome: str  # PUBLISHED, DUPLICATE (of ``same_as``), IRRELEVANT, REJECTED, NEEDS_REVIEW, CANNOT_GEOLOCATE
    town: str = ""  # the town its post names, which the text geolocation must find ("": a text fallback)
    truth: tuple[float, float] | None = None  # where the photo was taken: the scripted volunteers pin here
    why: str = ""  # the expected explanation: a relevance rule or a reject reason code
    seed: int = 0  # of the drawn street scene
    same_as: str = ""  # an exact copy of that image's bytes


# Scene seeds chosen so that no two drawings are near duplicates (PHash distance >= 22 of 64) and every scene
# passes the relevance rules (flat fraction < 0.62).
IMAGES = {
    image.key: image
    for image in [
        ScenarioImage("canoas", PUBLISHED, "Canoas", (-29.9190, -51.1800), seed=1),
        ScenarioImage("canoas_copy", DUPLICATE, "Canoas", (-29.9190, -51.1800), same_as="canoas"),
        ScenarioImage("porto_alegre", PUBLISHED, "Porto Alegre", (-30.0300, -51.2280), seed=4),
        ScenarioImage("sao_leopoldo", PUBLISHED, "São Leopoldo", (-29.7650, -51.1500), seed=5),
        ScenarioImage("banner", IRRELEVANT, why="banner"),
        ScenarioImage("gone", REJECTED, "Porto Alegre", why="http_404"),
        ScenarioImage("guaiba", PUBLISHED, "Guaíba", (-30.1100, -51.3200), seed=7),
        ScenarioImage("eldorado", CANNOT_GEOLOCATE, "Eldorado do Sul", seed=10),
        ScenarioImage("storm", PUBLISHED, "", (-30.0500, -51.2000), seed=11),
        ScenarioImage("novo_hamburgo", NEEDS_REVIEW, "Novo Hamburgo", seed=14),
        ScenarioImage("tiny", IRRELEVANT, "Novo Hamburgo", why="tiny", seed=30),
        ScenarioImage("not_an_image", REJECTED, "Canoas", why="not_an_image"),
    ]
}
CROWD_OUTCOMES = (PUBLISHED, NEEDS_REVIEW, CANNOT_GEOLOCATE)
RATING_FOR_OUTCOME = {PUBLISHED: "easy", DUPLICATE: "easy", NEEDS_REVIEW: "difficult", CANNOT_GEOLOCATE: "impossible"}


def image_bytes(key: str) -> bytes:
    image = IMAGES[key]
    if image.same_as:
        return image_bytes(image.same_as)
    if key == "banner":
        return encode(draw_banner(text="SOS RIO GRANDE DO SUL"))
    if key == "tiny":
        return encode(draw_scene(seed=image.seed, sign=None, size=(80, 60)))
    return encode(draw_scene(seed=image.seed, sign=None))


def image_reply(key: str) -> Reply:
    if key == "gone":
        return Reply(404, b"Not Found", {"Content-Type": "text/plain"})
    if key == "not_an_image":
        return Reply(200, HTML_PAGE, {"Content-Type": "image/jpeg"})  # a web page that claims to be a photo
    return Reply.image(image_bytes(key))


# --- Fake sources -----------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeMastodon:
    """A Mastodon instance: the hashtag timeline (newest first, ``max_id``/``since_id``, ``Link`` paging) and its
    media files. One status has ``url: null`` (media not cached yet: ``remote_url`` only) and one is a boost."""

    PER_PAGE = 3
    # (status id, image key, text); the boost (of 103) is added by the constructor.
    STATUSES = [
        (101, "canoas", "Rua alagada no centro de Canoas"),
        (102, "porto_alegre", "Água na altura da cintura em Porto Alegre"),
        (103, "sao_leopoldo", "Bairro Rio Branco, São Leopoldo, debaixo d'água"),
        (105, "canoas_copy", "Mais uma da rua em Canoas"),
        (106, "banner", "Doações: campanha SOS Rio Grande do Sul"),
        (107, "gone", "A ponte em Porto Alegre agora de manhã"),
    ]
    REMOTE_ONLY = {"porto_alegre"}
    BOOSTED = 103
    BOOST_ID = 108  # boosted later: on the first page, the boosted status on the second

    def __init__(self):
        self.server = FakeServer()
        now = datetime.now(UTC)
        self.statuses: dict[int, dict] = {}
        for status_id, key, text in self.STATUSES:
            status = mastodon_status(
                status_id, url_null=key in self.REMOTE_ONLY, created_at=_iso(now - timedelta(minutes=200 - status_id))
            )
            status["content"] = f'<p>{text} <a href="https://social.example/tags/{HASHTAG.lower()}">#{HASHTAG}</a></p>'
            status["tags"] = [{"name": HASHTAG.lower(), "url": f"https://social.example/tags/{HASHTAG.lower()}"}]
            attachment = status["media_attachments"][0]
            attachment["description"] = "Foto da enchente"
            attachment["remote_url"] = self.server.url(f"/remote/{key}.jpg")
            if attachment["url"] is not None:
                attachment["url"] = self.server.url(f"/system/media_attachments/{key}.jpg")
            self.statuses[status_id] = status
            self.server.route(f"/remote/{key}.jpg", image_reply(key))
            self.server.route(f"/system/media_attachments/{key}.jpg", image_reply(key))
        boost = mastodon_status(self.BOOST_ID, images=0, reblog=self.statuses[self.BOOSTED])
        boost["uri"] = f"https://social.example/users/bea/statuses/{self.BOOST_ID}/activity"
        self.statuses[self.BOOST_ID] = boost
        self.server.route(self.timeline_path, self._timeline)

    @property
    def timeline_path(self) -> str:
        return f"/api/v1/timelines/tag/{HASHTAG}"

    @property
    def url(self) -> str:
        return self.server.url("").rstrip("/")

    def _timeline(self, request) -> Reply:
        max_id, since_id = request.arg("max_id"), request.arg("since_id")
        ids = sorted(self.statuses, reverse=True)
        ids = [i for i in ids if (max_id is None or i < int(max_id)) and (since_id is None or i > int(since_id))]
        if request.arg("only_media") != "true":
            return Reply.json({"error": "this fake serves media timelines only"}, status=422)
        page = ids[: self.PER_PAGE]
        headers = {}
        if len(ids) > len(page):
            headers["Link"] = (
                f'<{self.server.url(self.timeline_path)}?max_id={page[-1]}&only_media=true>; rel="next", '
                f'<{self.server.url(self.timeline_path)}?since_id={page[0]}&only_media=true>; rel="prev"'
            )
        return Reply.json([self.statuses[i] for i in page], headers=headers)

    def start(self) -> "FakeMastodon":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()


class FakeBluesky:
    """A Bluesky PDS: createSession with an app password, searchPosts with cursor paging (``since`` inclusive, as
    the real one) behind the session token, and the CDN serving the images. Embeds: ``images#view`` (one with two
    images) and ``recordWithMedia#view``."""

    PER_PAGE = 2
    ACCESS = "e2e-access-jwt"
    # (record key, image keys, text, embed wraps a quoted record)
    POSTS = [
        ("3kb1", ["guaiba"], "Alagamento em Guaíba, a água não para de subir", False),
        ("3kb2", ["eldorado"], "Ponte fechada em Eldorado do Sul", True),
        ("3kb3", ["storm"], "O ciclone extratropical destruiu tudo por aqui", False),
        ("3kb4", ["novo_hamburgo", "tiny"], "Novo Hamburgo: ruas interditadas", False),
        ("3kb5", ["not_an_image"], "Foto da enchente em Canoas", False),
    ]

    def __init__(self):
        self.server = FakeServer()
        now = datetime.now(UTC)
        self.posts = []
        for index, (rkey, keys, text, quoting) in enumerate(self.POSTS):
            view = bsky_images_view(*keys)
            for item, key in zip(view["images"], keys, strict=True):
                item["fullsize"] = self.server.url(f"/img/feed_fullsize/plain/did:plc:abc123/{key}@jpeg")
                item["thumb"] = self.server.url(f"/img/feed_thumbnail/plain/did:plc:abc123/{key}@jpeg")
                item["alt"] = "Foto da enchente"
                self.server.route(f"/img/feed_fullsize/plain/did:plc:abc123/{key}@jpeg", image_reply(key))
            post = bluesky_post(
                rkey,
                embed=bsky_record_with_media_view(view) if quoting else view,
                indexed_at=_iso(now - timedelta(minutes=100 - index)),
            )
            post["record"]["text"] = f"{text} #{HASHTAG}"
            post["record"]["facets"] = []
            post["record"]["tags"] = [HASHTAG]
            self.posts.append(post)
        self.posts.reverse()  # newest first, as searchPosts with sort=latest
        self.server.route("/xrpc/com.atproto.server.createSession", self._create_session)
        self.server.route("/xrpc/app.bsky.feed.searchPosts", self._search)

    @property
    def url(self) -> str:
        return self.server.url("").rstrip("/")

    def _create_session(self, request) -> Reply:
        credentials = json.loads(request.body or b"{}")
        if credentials != {"identifier": BLUESKY_IDENTIFIER, "password": BLUESKY_APP_PASSWORD}:
            return Reply.json({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}, 401)
        return Reply.json(
            {"accessJwt": self.ACCESS, "refreshJwt": "e2e-refresh-jwt", "handle": BLUESKY_IDENTIFIER, "did": "did:x"}
        )

    def _search(self, request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.ACCESS}":
            return Reply.json({"error": "AuthenticationRequired"}, 401)
        if request.arg("q") != f"#{HASHTAG}":
            return Reply.json({"posts": []})
        since = request.arg("since")
        since_at = datetime.fromisoformat(since) if since else None
        posts = [p for p in self.posts if since_at is None or datetime.fromisoformat(p["indexedAt"]) >= since_at]
        offset = int(request.arg("cursor") or 0)
        page = posts[offset : offset + self.PER_PAGE]
        body = {"posts": page}
        if offset + self.PER_PAGE < len(posts):
            body["cursor"] = str(offset + self.PER_PAGE)
        return Reply.json(body)

    def start(self) -> "FakeBluesky":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()


def expected_posts() -> int:
    """Posts the crawl must store: one per status or post with an image; the boost is its boosted status."""
    return len(FakeMastodon.STATUSES) + len(FakeBluesky.POSTS)


# --- The platform's side ----------------------------------------------------------------------------------------


def source_settings(mastodon: FakeMastodon, bluesky: FakeBluesky) -> dict:
    """Settings that point the crawler at the fakes (every other source off) and let it fetch on loopback."""
    return {
        "MASTODON_INSTANCES": [mastodon.url],
        "BLUESKY_SERVICE_URL": bluesky.url,
        "BLUESKY_IDENTIFIER": BLUESKY_IDENTIFIER,
        "BLUESKY_APP_PASSWORD": BLUESKY_APP_PASSWORD,
        "X_BEARER_TOKEN": "",
        "FLICKR_API_KEY": "",
        "ALLOW_LOOPBACK_FETCH": True,
    }


def as_environment(values: dict) -> dict[str, str]:
    """Settings as the environment variables a worker process reads them from (lists comma-separated)."""

    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    return {name: text(value) for name, value in values.items()}


def gazetteer_store() -> None:
    """The small test gazetteer plus the area's other towns, as Place rows (the full build takes ~40 s)."""
    places_store(PLACES + EXTRA_PLACES)


def difficulty_model_register(model_dir: Path, *, crisis=None) -> ModelVersion:
    """A tiny random-init difficulty classifier, checkpointed and activated (for ``crisis``, else globally):
    inference really runs, on a model that says what it is (``weights_origin="random-init"``)."""
    model, info = tiny_backbone(num_classes=len(DIFFICULTY_CLASS_NAMES))
    checkpoint = checkpoint_save(model_dir / "tiny.pt", model=model, info=info, class_names=DIFFICULTY_CLASS_NAMES)
    version = ModelVersion.objects.create(
        name="tiny random-init (test)",
        crisis=crisis,
        backbone=info.name,
        image_size=info.image_size,
        weights_origin=info.weights,
        class_mapping="easy_vs_difficult",
        class_names=list(DIFFICULTY_CLASS_NAMES),
        data_hash="0" * 64,
        checkpoint=str(checkpoint),
    )
    assert version.is_random_init
    model_version_activate(version=version)
    return version


@dataclass
class People:
    coordinator: User
    volunteers: list[User]


# Volunteers who come with a track record from earlier crises: they check pins, which publishes them (consensus
# README, "Trust"); the others' agreement alone publishes nothing.
WITH_RECORD = 2


def people_create(volunteers: int = 6) -> People:
    from tests.tasks_app.conftest import with_record

    role_groups_ensure()
    people = [make_user(f"e2e-volunteer-{i}") for i in range(volunteers)]
    for volunteer in people[:WITH_RECORD]:
        with_record(volunteer, correct=20)
    return People(coordinator=coordinator_grant(user=make_user("e2e-coordinator")), volunteers=people)


def crisis_draft(coordinator) -> Crisis:
    return crisis_services.crisis_create(
        created_by=coordinator,
        name="Enchentes no Rio Grande do Sul",
        slug="rs-floods-e2e",
        hazard=Crisis.Hazard.FLOOD,
        affected_area=AFFECTED_AREA,
        country_codes=["BR"],
        languages=["pt", "en"],
        hashtags=[HASHTAG],
        rating_redundancy=3,
        geolocation_redundancy=3,
    )


def logged_in(user, **client_options) -> Client:
    client = Client(**client_options)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def admin_launch(coordinator, crisis: Crisis) -> None:
    """The coordinator ticks the crisis in the admin's list and runs "Launch selected crises" (CSRF enforced)."""
    client = logged_in(coordinator, enforce_csrf_checks=True)
    changelist = client.get("/admin/crises/crisis/")
    assert changelist.status_code == 200
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.content).group(1).decode()
    form = {"action": "launch_crises", "_selected_action": [str(crisis.pk)], "index": "0"}
    refused = client.post("/admin/crises/crisis/", form)
    assert refused.status_code == 403  # no token, no launch
    launched = client.post("/admin/crises/crisis/", {**form, "csrfmiddlewaretoken": token}, follow=True)
    assert launched.status_code == 200
    assert "now active" in launched.content.decode()
    assert Crisis.objects.get(pk=crisis.pk).status == Crisis.Status.ACTIVE


# --- Waiting and the scripted crowd -----------------------------------------------------------------------------

TRIAGED = {Media.Stage.QUEUED, Media.Stage.REJECTED, Media.Stage.DUPLICATE, Media.Stage.IRRELEVANT}
CROWD_FINAL = {Media.Stage.PUBLISHED, Media.Stage.NEEDS_REVIEW, Media.Stage.CANNOT_GEOLOCATE}


def poll(predicate, *, timeout: float, what: str, interval: float = 0.5):
    """Poll until ``predicate()`` is truthy; on timeout, fail with ``what`` and its last value's description."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            break
        time.sleep(interval)
    assert value, f"{what}: not reached within {timeout:.0f} s; stages now: {stage_summary()}"
    return value


@contextlib.contextmanager
def timed(phase: str):
    """Print how long a phase took (shown with ``-s``; the figures, not assertions: the machine is shared)."""
    started = time.monotonic()
    yield
    print(f"e2e: {phase}: {time.monotonic() - started:.1f} s")


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_m(lat1=a[0], lon1=a[1], lat2=b[0], lon2=b[1]))


def stage_summary() -> dict:
    return {row["stage"]: row["n"] for row in Media.objects.values("stage").annotate(n=Count("pk")).order_by()}


def media_key(media: Media) -> str:
    """The scenario key of an image, from the file name the fake sources serve it under."""
    return re.search(r"/([a-z_]+)(?:\.jpg|@jpeg)$", media.remote_url).group(1)


def triage_done(crisis: Crisis) -> bool:
    """Every image crawled and either queued for the crowd or set aside with its reason."""
    stages = list(Media.objects.filter(crisis=crisis).values_list("stage", flat=True))
    return len(stages) == len(IMAGES) and set(stages) <= TRIAGED


class ScriptedVolunteer:
    """A volunteer who works through the API: takes the next task of a kind, looks at the photo (the scenario
    knows where each one was taken) and answers."""

    def __init__(self, user, index: int, crisis: Crisis):
        self.client = logged_in(user)
        self.index = index
        self.crisis = crisis
        self.leases: list[dict] = []

    def lease(self, kind: str) -> dict | None:
        response = self.client.post(
            f"/api/crises/{self.crisis.slug}/tasks/next/", {"kind": kind}, content_type="application/json"
        )
        assert response.status_code in (200, 204), response.content
        return response.json() if response.status_code == 200 else None

    def answer(self, lease: dict) -> None:
        media = CrowdTask.objects.select_related("media").get(pk=lease["task_id"]).media
        self.leases.append({**lease, "media_id": media.pk})
        image = IMAGES[media_key(media)]
        body = {"lease_id": lease["lease_id"], "kind": lease["kind"], "time_on_task_s": 30 + self.index}
        if lease["kind"] == CrowdTask.Kind.RATING:
            body["difficulty"] = RATING_FOR_OUTCOME[image.outcome]
        elif lease["kind"] == CrowdTask.Kind.VERIFICATION:
            pin = (lease["reference"]["lat"], lease["reference"]["lon"])
            body["verdict"] = "yes" if image.truth and metres_between(pin, image.truth) < 50 else "no"
        elif image.outcome == CANNOT_GEOLOCATE:
            body["precision"] = "cannot"
        else:
            lat, lon = SCATTERED_PINS[self.index] if image.outcome == NEEDS_REVIEW else image.truth
            # Agreeing volunteers land within a few tens of metres of each other.
            body.update(lat=lat + 0.0002 * (self.index % 3), lon=lon, precision="high", clue_tags=["landmark"])
            # What the page reports: they searched the map, not only clicked the text's guess (independent pins).
            body["interaction"] = {
                "map_moved": True,
                "map_zoomed": True,
                "place_searched": False,
                "streetview_opened": False,
            }
        response = self.client.post("/api/answers/", body, content_type="application/json")
        assert response.status_code == 201, response.content

    def work(self, kind: str) -> int:
        """Answer tasks of ``kind`` until the scheduler has nothing more for this volunteer; returns how many."""
        if kind == CrowdTask.Kind.VERIFICATION and self.index >= WITH_RECORD:
            return 0  # checks are for volunteers with a record
        answered = 0
        while lease := self.lease(kind):
            self.answer(lease)
            answered += 1
        return answered


def consensus_caught_up(crisis: Crisis) -> bool:
    """Every answer has been through consensus (it runs on a worker on the production stack)."""
    answers = Answer.objects.filter(crisis=crisis, is_gold=False)
    ratings = answers.filter(kind=CrowdTask.Kind.RATING).count()
    stats = CrisisRatingStats.objects.filter(crisis=crisis).first()
    if ratings and (stats is None or stats.n_ratings != ratings):
        return False
    pins = answers.filter(kind=CrowdTask.Kind.GEOLOCATION).values("media_id").annotate(n=Count("pk")).order_by()
    located = dict(LocationConsensus.objects.filter(crisis=crisis).values_list("media_id", "n_answers"))
    # An answered check moves its image on (published, or back to more pins): still waiting means not seen yet.
    checked = CrowdTask.objects.filter(
        media__crisis=crisis, kind=CrowdTask.Kind.VERIFICATION, status=CrowdTask.Status.DONE
    ).values_list("media_id", flat=True)
    waiting = LocationConsensus.objects.filter(
        media_id__in=list(checked), status=LocationConsensus.Status.AWAITING_VERIFICATION
    )
    return all(located.get(row["media_id"]) == row["n"] for row in pins) and not waiting.exists()


CROWD_KINDS = (CrowdTask.Kind.RATING, CrowdTask.Kind.GEOLOCATION, CrowdTask.Kind.VERIFICATION)


def open_crowd_work(crisis: Crisis) -> bool:
    kinds = CROWD_KINDS
    return CrowdTask.objects.filter(media__crisis=crisis, kind__in=kinds, status=CrowdTask.Status.OPEN).exists()


def crowd_work(crisis: Crisis, volunteers: list[ScriptedVolunteer], *, timeout: float) -> None:
    """The volunteers rate and geolocate until the queue is empty and every answer has reached consensus.

    More work can appear after a round (a warned rating or a wide location asks for more answers), so rounds go
    on until a round finds nothing, consensus has seen every answer, and no task is open.
    """
    deadline = time.monotonic() + timeout
    while True:
        answered = sum(v.work(kind) for kind in CROWD_KINDS for v in volunteers)
        if answered:
            continue
        remaining = max(1.0, deadline - time.monotonic())
        poll(lambda: consensus_caught_up(crisis), timeout=remaining, what="consensus of every answer")
        if not open_crowd_work(crisis):
            # Extra ratings for a warned image are asked for just after the ratings' consensus is stored: a
            # second look a moment later sees them.
            time.sleep(1.0)
            if consensus_caught_up(crisis) and not open_crowd_work(crisis):
                return
            continue
        assert time.monotonic() < deadline, "open tasks that no volunteer is given"
        time.sleep(0.2)


# --- What must hold at the end ----------------------------------------------------------------------------------


def assert_sources_were_paged(mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
    """The crawler followed the Link header and the cursor, logged in once per process, and asked for media only."""
    timeline = mastodon.server.hits(mastodon.timeline_path)
    assert all(request.arg("only_media") == "true" for request in timeline)
    assert any(request.arg("max_id") for request in timeline) and any(request.arg("since_id") for request in timeline)
    searches = bluesky.server.hits("/xrpc/app.bsky.feed.searchPosts")
    assert any(request.arg("cursor") for request in searches) and any(request.arg("since") for request in searches)
    assert bluesky.server.hits("/xrpc/com.atproto.server.createSession")


def assert_no_duplicate_posts(crisis: Crisis) -> None:
    repeated = Post.objects.filter(crisis=crisis).values("source", "source_id").annotate(n=Count("pk")).filter(n__gt=1)
    assert not repeated.exists(), list(repeated)
    assert Post.objects.filter(crisis=crisis).count() == expected_posts()
    assert Post.objects.filter(crisis=crisis, source=Post.Source.MASTODON).count() == len(FakeMastodon.STATUSES)
    assert Post.objects.filter(crisis=crisis, source=Post.Source.BLUESKY).count() == len(FakeBluesky.POSTS)


def assert_text_geolocation(crisis: Crisis) -> None:
    """Posts naming a town are placed there by the gazetteer; the post naming only the storm falls back, flagged."""
    for media in Media.objects.filter(crisis=crisis).select_related("post"):
        image = IMAGES[media_key(media)]
        if image.outcome not in (*CROWD_OUTCOMES, DUPLICATE) or media.stage == Media.Stage.DUPLICATE:
            continue  # set aside before text geolocation
        location = PostGeolocation.objects.get(post=media.post)
        if image.town:
            assert location.method == PostGeolocation.Method.GAZETTEER and not location.is_fallback, image.key
            assert metres_between((location.lat, location.lon), TOWNS[image.town]) < 1000, image.key
        else:
            assert location.method == PostGeolocation.Method.CRISIS_AREA and location.is_fallback, image.key


def assert_final_states(crisis: Crisis, version: ModelVersion) -> dict[str, Media]:
    """Every image in its expected final state with its explanation; returns the images by scenario key."""
    media_by_key = {media_key(m): m for m in Media.objects.filter(crisis=crisis).select_related("post")}
    assert sorted(media_by_key) == sorted(IMAGES)
    for key, media in media_by_key.items():
        image = IMAGES[key]
        if image.outcome == REJECTED:
            assert media.stage == Media.Stage.REJECTED, (key, media.stage)
            assert media.reject_reason.startswith(image.why), (key, media.reject_reason)
        elif image.outcome == IRRELEVANT:
            assert media.stage == Media.Stage.IRRELEVANT, (key, media.stage)
            relevance = MediaRelevance.objects.get(media=media)
            assert relevance.dropped and relevance.rule == image.why, (key, relevance.rule)
            assert media.reject_reason == f"irrelevant: {image.why}"
    # Exact copies: whichever of the two was checked first is the representative, the other its duplicate.
    for key, image in IMAGES.items():
        if image.outcome != DUPLICATE:
            continue
        pair = [media_by_key[key], media_by_key[image.same_as]]
        duplicate = next(m for m in pair if m.stage == Media.Stage.DUPLICATE)
        representative = next(m for m in pair if m is not duplicate)
        assert duplicate.duplicate_of_id == representative.pk and duplicate.sha256 == representative.sha256
        assert representative.stage == Media.Stage.PUBLISHED and representative.duplicate_of_id is None
        copied = LocationConsensus.objects.get(media=duplicate)
        assert copied.copied_from_id == representative.pk
    crowd = [m for key, m in media_by_key.items() if IMAGES[key].outcome in (*CROWD_OUTCOMES, DUPLICATE)]
    for media in crowd:
        if media.stage == Media.Stage.DUPLICATE:
            continue
        image = IMAGES[media_key(media)]
        consensus = LocationConsensus.objects.get(media=media)
        expected_stage, expected_status = {
            PUBLISHED: (Media.Stage.PUBLISHED, LocationConsensus.Status.DONE),
            DUPLICATE: (Media.Stage.PUBLISHED, LocationConsensus.Status.DONE),  # the representative of a pair
            NEEDS_REVIEW: (Media.Stage.NEEDS_REVIEW, LocationConsensus.Status.NEEDS_EXPERT_REVIEW),
            CANNOT_GEOLOCATE: (Media.Stage.CANNOT_GEOLOCATE, LocationConsensus.Status.CANNOT_GEOLOCATE),
        }[image.outcome]
        assert (media.stage, consensus.status) == (expected_stage, expected_status), (image.key, consensus.reason)
        assert consensus.reason, image.key
        if expected_status == LocationConsensus.Status.DONE:
            assert metres_between((consensus.lat, consensus.lon), image.truth) < 100, image.key
        # The difficulty model really scored it (on the gpu worker, in production).
        prediction = DifficultyPrediction.objects.get(media=media)
        assert prediction.model_version_id == version.pk, image.key
        assert set(prediction.probabilities) == set(DIFFICULTY_CLASS_NAMES)
        assert math.isclose(sum(prediction.probabilities.values()), 1.0, abs_tol=1e-4)
    needs_review = LocationConsensus.objects.get(media=media_by_key["novo_hamburgo"])
    assert needs_review.n_answers == settings.CONSENSUS_MAX_GEOLOCATION_ANSWERS  # asked for more pins, up to the cap
    transient = Media.objects.filter(crisis=crisis).exclude(
        stage__in=[
            Media.Stage.PUBLISHED,
            Media.Stage.DUPLICATE,
            Media.Stage.IRRELEVANT,
            Media.Stage.REJECTED,
            Media.Stage.NEEDS_REVIEW,
            Media.Stage.CANNOT_GEOLOCATE,
        ]
    )
    assert not transient.exists(), stage_summary()
    return media_by_key


def assert_leases_showed_the_text_guess(volunteers: list[ScriptedVolunteer], media_by_key: dict[str, Media]) -> None:
    """Geolocation leases carry the text guess near the named town; a fallback is no guess."""
    keys = {media.pk: key for key, media in media_by_key.items()}
    for lease in (lease for v in volunteers for lease in v.leases if lease["kind"] == CrowdTask.Kind.GEOLOCATION):
        image = IMAGES[keys[lease["media_id"]]]
        if image.town:
            guess = lease["text_guess"]
            assert guess and metres_between((guess["lat"], guess["lon"]), TOWNS[image.town]) < 1000, image.key
        else:
            assert lease["text_guess"] is None, image.key


def published_points(crisis: Crisis) -> dict[int, tuple[float, float]]:
    """(lon, lat) of every published image's consensus, by image id."""
    rows = LocationConsensus.objects.filter(crisis=crisis, media__stage=Media.Stage.PUBLISHED, copied_from=None)
    return {media_id: (lon, lat) for media_id, lat, lon in rows.values_list("media_id", "lat", "lon")}


def assert_map_and_exports(crisis: Crisis, coordinator, tmp_path: Path) -> None:
    """The published points, and only they, on the live map and in every export, in (lon, lat) order."""
    expected = published_points(crisis)
    assert len(expected) == sum(image.outcome == PUBLISHED for image in IMAGES.values())
    client = logged_in(coordinator)
    features = client.get("/api/map/features/", {"crisis": crisis.slug}).json()["features"]
    on_map = {feature["id"]: tuple(feature["geometry"]["coordinates"]) for feature in features}
    assert on_map.keys() == expected.keys()
    for media_id, (lon, lat) in expected.items():
        assert _close(on_map[media_id], (lon, lat)), (media_id, on_map[media_id], (lon, lat))
    wanted = sorted((round(lon, 6), round(lat, 6)) for lon, lat in expected.values())
    for fmt in ("geojson", "csv", "kml", "gpkg"):
        response = client.get(f"/api/map/crises/{crisis.slug}/export/{fmt}/")
        assert response.status_code == 200, (fmt, response.content[:300])
        coordinates, _columns = read_back(tmp_path, response.content, fmt)
        assert sorted((round(x, 6), round(y, 6)) for x, y in coordinates) == wanted, fmt


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b, strict=True))
