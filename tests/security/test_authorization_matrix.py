"""Authorisation matrix over every URL of the platform, for every role, on a public and a private active crisis.

The URL resolver is walked at test time: a URL added without a row in ``MATRIX`` fails
``test_every_url_has_a_row``, so nobody ships an endpoint whose permissions were never decided.
(``tests/crises/test_permissions.py`` checks the role *rules*; this file checks that every *endpoint* applies them.)

Roles, in column order: anon = anonymous, vol = volunteer (signed up, no role), resp = responder of ``crisis``,
gresp = global responder (Responders group), ocoord = coordinator of ``other_crisis`` only, coord = coordinator of
``crisis``, super = superuser.

The world of each test: ``crisis`` is active with the visibility of the column; it has one queued image (rating and
geolocation tasks), one published point with an image, and a geolocation lease held by another volunteer
("owner"), who has also rated the image. ``{lease}`` is that lease (nobody else may touch it), ``{answer}`` that
rating (nobody else may see the others' answers through it), ``{media}`` the published image.

Status codes: 200 page/JSON, 201 answer stored, 202 dashboard being computed, 204 nothing to do, 302 redirect
(login page for anonymous visitors, or a redirect after the action), 400 input refused (so authorisation passed),
403 refused, 404 hidden (private crises do not reveal that they exist), 405 method not allowed, 409 conflict.

::

  endpoint                         method   public crisis                                  | private crisis (outsiders:
                                                                                            | anon vol gresp ocoord)
  crises:list                      GET      all 200                                        | all 200
  crises:detail                    GET      all 200                                        | outsiders 404
  tasks_app:work                   GET      all 200                                        | outsiders 404
  tasks_app:rate/geolocate        GET      anon 302 (login; guest where allowed), others 200 | anon, outsiders 404
  tasks_app:review/verify          GET      anon 302, no track record 403, coord super 200  | anon, outsiders 404
  tasks_app:api-task-next          POST     anon 403, others 200 (a lease); review and      | anon 403, outsiders 404
                                            verification: no track record 403, coord super 204
  tasks_app:api-progress           GET      anon 403, others 200                           | anon 403, outsiders 404
  tasks_app:api-places             GET      anon 403, others 200                           | anon 403, outsiders 404
  tasks_app:api-leaderboard        GET      all 200 (as the work page)                     | outsiders 404
  tasks_app:api-answer-submit      POST {}  anon 403, others 400                           | the same (no crisis yet)
  tasks_app:api-lease-heartbeat    POST     anon 403, others 403 (not their lease)         | the same
  tasks_app:api-answer-others      GET      anon 403, others 404 (not their answer)        | the same
  tasks_app:api-lease-skip         POST     anon 403, others 403 (not their lease)         | the same
  mapping:map                      GET      all 200                                        | all 200
  mapping:media-image              GET      all 200 (public point, blurred copy)           | outsiders 404
  mapping:lease-image              GET      all 404: only the lease's volunteer, signed in | the same
  mapping:crisis-map               GET      all 302 (to the map)                           | outsiders 404
  mapping:dashboard                GET      coord super 200, others 404                    | the same
  mapping:api-features/guesses     GET      all 200                                        | all 200 (unfiltered)
  mapping:api-export               GET      all 200 (coarse for most)                      | outsiders 404
  mapping:api-dashboard            GET      anon 403, coord super 200, others 404          | the same
  accounts:sign_up                 GET      anon 200, signed-in 302 (home)                 | the same
  accounts:confirm_email           GET      all 400 (a forged token)                       | the same
  accounts:confirm_email_resend    POST     anon 302 (login), others 200 (link sent)       | the same
  accounts:login                   GET      all 200                                        | the same
  accounts:logout                  POST     all 302                                        | the same; GET is 405
  api-schema, api-docs             GET      all 200 (public description)                   | the same
  set_language                     POST     all 302                                        | the same
  favicon                          GET      all 301 (to the static icon)                   | the same
  stored-file (EXIF-free copies)   GET      resp gresp coord super 200, others 404         | members 200, others 404
  stored-file (originals/...)      GET      all 404: originals are never served            | the same
  admin:*                          see ``test_admin_*`` below (a sample of changelists/change pages per app model)
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crawling.models import Media
from geoloc_platform.crises.models import Crisis
from mapping.services import volunteer_image_url
from tasks_app import services as task_services
from tests.conftest import make_user
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "volunteer", "responder", "global_responder", "other_coordinator", "coordinator", "superuser"]


def row(public: str, private: str | None = None) -> tuple[list[int], list[int]]:
    """'200 200 ...' for the seven roles, on the public crisis and on the private one (default: the same)."""
    pub = [int(code) for code in public.split()]
    priv = [int(code) for code in (private or public).split()]
    assert len(pub) == len(priv) == len(ROLES)
    return pub, priv


ALL_200 = "200 200 200 200 200 200 200"
HIDDEN_FROM_OUTSIDERS = "{a} 404 {m} 404 404 {m} {m}"  # anon, vol, gresp and ocoord do not belong to a private crisis


def private(anon: int, member: int) -> str:
    return HIDDEN_FROM_OUTSIDERS.format(a=anon, m=member)


# (URL name, method, extra) -> (public row, private row).  Columns: anon vol resp gresp ocoord coord super.
MATRIX = {
    ("crises:list", "GET", ""): row(ALL_200),
    ("crises:detail", "GET", ""): row(ALL_200, private(404, 200)),
    ("tasks_app:work", "GET", ""): row(ALL_200, private(404, 200)),
    ("tasks_app:rate", "GET", ""): row("302 200 200 200 200 200 200", private(404, 200)),
    ("tasks_app:geolocate", "GET", ""): row("302 200 200 200 200 200 200", private(404, 200)),
    # Checking others' locations needs a track record; a crisis's coordinators have the standing.
    ("tasks_app:review", "GET", ""): row("302 403 403 403 403 200 200", "404 404 403 404 404 200 200"),
    ("tasks_app:verify", "GET", ""): row("302 403 403 403 403 200 200", "404 404 403 404 404 200 200"),
    ("tasks_app:api-task-next", "POST", "rating"): row("403 200 200 200 200 200 200", private(403, 200)),
    ("tasks_app:api-task-next", "POST", "review"): row("403 403 403 403 403 204 204", "403 404 403 404 404 204 204"),
    ("tasks_app:api-task-next", "POST", "verification"): row(
        "403 403 403 403 403 204 204", "403 404 403 404 404 204 204"
    ),
    ("tasks_app:api-progress", "GET", ""): row("403 200 200 200 200 200 200", private(403, 200)),
    ("tasks_app:api-places", "GET", ""): row("403 200 200 200 200 200 200", private(403, 200)),
    ("tasks_app:api-leaderboard", "GET", ""): row(ALL_200, private(404, 200)),
    ("tasks_app:api-answer-submit", "POST", ""): row("403 400 400 400 400 400 400"),
    ("tasks_app:api-lease-heartbeat", "POST", ""): row("403 403 403 403 403 403 403"),
    ("tasks_app:api-answer-others", "GET", ""): row("403 404 404 404 404 404 404"),
    ("tasks_app:api-lease-skip", "POST", ""): row("403 403 403 403 403 403 403"),
    ("mapping:map", "GET", ""): row(ALL_200),
    ("mapping:media-image", "GET", ""): row(ALL_200, private(404, 200)),
    ("mapping:crisis-map", "GET", ""): row("302 302 302 302 302 302 302", private(404, 302)),
    ("mapping:dashboard", "GET", ""): row("404 404 404 404 404 200 200"),
    ("mapping:api-features", "GET", ""): row(ALL_200),
    ("mapping:api-guesses", "GET", ""): row(ALL_200),
    ("mapping:api-export", "GET", ""): row(ALL_200, private(404, 200)),
    ("mapping:api-dashboard", "GET", ""): row("403 404 404 404 404 200 200"),
    ("accounts:sign_up", "GET", ""): row("200 302 302 302 302 302 302"),
    ("accounts:login", "GET", ""): row(ALL_200),
    ("accounts:confirm_email", "GET", ""): row("400 400 400 400 400 400 400"),
    ("accounts:confirm_email_resend", "POST", ""): row("302 200 200 200 200 200 200"),
    ("accounts:logout", "POST", ""): row("302 302 302 302 302 302 302"),
    ("accounts:logout", "GET", ""): row("405 405 405 405 405 405 405"),
    ("api-schema", "GET", ""): row(ALL_200),  # the API's description is public, like the API's existence
    ("api-docs", "GET", ""): row(ALL_200),
    ("set_language", "POST", ""): row("302 302 302 302 302 302 302"),
    ("favicon", "GET", ""): row("301 301 301 301 301 301 301"),
    ("mapping:lease-image", "GET", ""): row("404 404 404 404 404 404 404"),  # the owner's lease only
    ("stored-file", "GET", "clean"): row("404 404 200 200 404 200 200", private(404, 200)),
    ("stored-file", "GET", "original"): row("404 404 404 404 404 404 404"),
}


def url_names() -> set[str]:
    """Every named URL outside the admin, as 'namespace:name'."""

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"unnamed URL pattern {pattern.pattern}: name it and add it to MATRIX"
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name

    return set(walk(get_resolver().url_patterns, None))


def test_every_url_has_a_row():
    assert url_names() == {name for name, _method, _extra in MATRIX}


@dataclass
class World:
    crisis: Crisis
    lease_id: int
    answer_id: int
    media: Media
    lease_image_url: str


def build_world(people, visibility: str) -> World:
    crisis = people["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.ACTIVE, visibility=visibility)
    crisis.refresh_from_db()
    queue(crisis, eases=(0.9,), with_file=True)
    owner = make_user("owner")
    if visibility == "private":
        from geoloc_platform.crises.models import CrisisMembership

        CrisisMembership.objects.create(crisis=crisis, user=owner, role=CrisisMembership.Role.RESPONDER)
    rating = task_services.lease_grant(crisis=crisis, volunteer=owner, kind="rating")
    answer = task_services.answer_submit(volunteer=owner, lease_id=rating.pk, kind="rating", difficulty="easy")
    lease = task_services.lease_grant(crisis=crisis, volunteer=owner, kind="geolocation")
    assert lease is not None
    # A point old enough for the public map, so its photo is public too.
    media = make_point(crisis, lat=-30.03, lon=-51.22, with_image=True, age=timedelta(hours=2))
    lease_image_url = volunteer_image_url(media=lease.task.media, lease_id=lease.pk, volunteer_id=owner.pk)
    return World(crisis=crisis, lease_id=lease.pk, answer_id=answer.pk, media=media, lease_image_url=lease_image_url)


def client_for(people, role: str, **options) -> Client:
    client = Client(**options)
    if role != "anonymous":
        client.force_login(people[role], backend="django.contrib.auth.backends.ModelBackend")
    return client


def call(client: Client, world: World, name: str, method: str, extra: str):
    slug = world.crisis.slug
    args = {
        "crises:detail": [slug],
        "tasks_app:work": [slug],
        "tasks_app:rate": [slug],
        "tasks_app:geolocate": [slug],
        "tasks_app:review": [slug],
        "tasks_app:verify": [slug],
        "accounts:confirm_email": ["forged-token"],
        "tasks_app:api-task-next": [slug],
        "tasks_app:api-progress": [slug],
        "tasks_app:api-places": [slug],
        "tasks_app:api-leaderboard": [slug],
        "tasks_app:api-lease-heartbeat": [world.lease_id],
        "tasks_app:api-lease-skip": [world.lease_id],
        "tasks_app:api-answer-others": [world.answer_id],
        "mapping:media-image": [world.media.pk],
        "mapping:crisis-map": [slug],
        "mapping:dashboard": [slug],
        "mapping:api-export": [slug, "csv"],
        "mapping:api-dashboard": [slug],
    }.get(name, [])
    if name == "stored-file":
        path = world.media.image.name if extra == "clean" else "originals/" + world.media.image.name.split("/")[-1]
        url = "/media/" + path
    elif name == "mapping:lease-image":
        url = world.lease_image_url
    else:
        url = reverse(name, args=args)
    if method == "GET":
        return client.get(url, {"q": "Po"} if name == "tasks_app:api-places" else {})
    data = {
        "tasks_app:api-task-next": {"kind": extra},
        "set_language": {"language": "pt", "next": "/"},
    }.get(name, {})
    return _post(client, url, data, "application/json" if name.startswith("tasks_app:api") else None)


def _post(client, url, data, content_type):
    return client.post(url, data, content_type=content_type) if content_type else client.post(url, data)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # throttle counters of other tests must not turn a 200 into a 429
    yield
    cache.clear()


@pytest.mark.parametrize("visibility", ["public", "private"])
@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_each_role_as_the_matrix_says(people, role, visibility):
    world = build_world(people, visibility)
    column = ROLES.index(role)
    mismatches = []
    for (name, method, extra), (public_row, private_row) in MATRIX.items():
        expected = (public_row if visibility == "public" else private_row)[column]
        response = call(client_for(people, role), world, name, method, extra)
        if response.status_code != expected:
            mismatches.append(f"{method} {name} {extra}: expected {expected}, got {response.status_code}")
    assert not mismatches, "\n".join(mismatches)


# --- The admin ------------------------------------------------------------------------------------------------
#
#   role                         admin index   changelist of a crisis model   change page, row of   change page, row of
#                                                                             ``crisis``            ``other_crisis``
#   anon vol resp gresp          302 (login)   302 (login)                    302 (login)           302 (login)
#   ocoord                       200           200, only other_crisis rows    refused               200
#   coord                        200           200, only crisis rows          200                   refused
#   super                        200           200, every row                 200                   200
#
# "refused" is Django's answer for a row outside the admin's queryset (302 to the index with "does not exist"),
# or 403/404. Models are every registered model with a ``crisis`` field (or the crisis itself) that has rows here.

ADMIN_OUTSIDERS = ("anonymous", "volunteer", "responder", "global_responder")
SUPERUSER_ONLY = {"tasks_app.Assignment"}  # leases: has_module_permission is superuser-only (coordinators get 403)
KNOWN_GAPS: set[str] = set()


def _admin_world(people):
    from geoloc_platform.crises.models import Crisis as CrisisModel

    crises = (people["crisis"], people["other_crisis"])
    CrisisModel.objects.filter(pk__in=[c.pk for c in crises]).update(status=CrisisModel.Status.ACTIVE)
    from crawling.models import CrawlState
    from mapping.models import CrisisPrivacy
    from tasks_app.services import QUEUEABLE_STAGES
    from tests.tasks_app.conftest import add_media

    worker = make_user("worker")
    for crisis in crises:
        crisis.refresh_from_db()
        queue(crisis, eases=(0.9,))
        make_point(crisis, lat=-30.03, lon=-51.22)
        add_media(crisis, stage=Media.Stage.IRRELEVANT)  # the "filtered images" page
        add_media(crisis, stage=sorted(QUEUEABLE_STAGES)[0])  # the "queue for the crowd" page
        CrawlState.objects.get_or_create(crisis=crisis, source="mastodon")
        CrisisPrivacy.objects.get_or_create(crisis=crisis)
        task_services.lease_grant(crisis=crisis, volunteer=worker, kind="rating")
    return crises


def _crisis_rows(model, crisis, superuser_request):
    """Rows of ``model`` belonging to ``crisis``, among those its admin lists to a superuser."""
    rows = admin_site._registry[model].get_queryset(superuser_request)
    if issubclass(model, Crisis):
        return rows.filter(pk=crisis.pk)
    fields = {field.name for field in model._meta.get_fields()}
    if "crisis" in fields:
        return rows.filter(crisis=crisis)
    if "task" in fields:
        return rows.filter(task__crisis=crisis)
    return rows.none()


def _admin_sample(people):
    from django.test import RequestFactory

    crisis, other = _admin_world(people)
    request = RequestFactory().get("/admin/")
    request.user = people["superuser"]
    sample = []
    for model in admin_site._registry:
        own = _crisis_rows(model, crisis, request).first()
        foreign = _crisis_rows(model, other, request).first()
        if own is not None and foreign is not None:
            sample.append((model, own, foreign))
    return sample


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _shown(response) -> set[int]:
    return {obj.pk for obj in response.context_data["cl"].result_list}


@pytest.mark.parametrize("role", ROLES)
def test_admin_pages_show_each_coordinator_only_their_crises_rows(people, role):
    sample = _admin_sample(people)
    labels = sorted(model._meta.label for model, _own, _foreign in sample)
    assert len(sample) >= 10, labels  # crises, posts, media, crowd tasks, consensus, privacy... in the sample
    client = client_for(people, role)
    index = client.get(reverse("admin:index"))
    problems = []
    if role in ADMIN_OUTSIDERS:
        assert index.status_code == 302 and "/admin/login/" in index["Location"]
    else:
        assert index.status_code == 200
    for model, own, foreign in sample:
        label = model._meta.label
        changelist = client.get(_admin_url(model, "changelist"))
        own_page = client.get(_admin_url(model, "change", own.pk))
        foreign_page = client.get(_admin_url(model, "change", foreign.pk))
        if role in ADMIN_OUTSIDERS:
            codes = (changelist.status_code, own_page.status_code, foreign_page.status_code)
            if codes != (302, 302, 302) or "/admin/login/" not in changelist["Location"]:
                problems.append(f"{label}: outsider got {codes}")
            continue
        if role != "superuser" and label in SUPERUSER_ONLY | KNOWN_GAPS:
            if changelist.status_code != 403 or own_page.status_code != 403 or foreign_page.status_code != 403:
                problems.append(f"{label}: expected 403 for coordinators")
            continue
        if changelist.status_code != 200:
            problems.append(f"{label}: changelist {changelist.status_code}")
            continue
        mine, theirs = (own, foreign) if role != "other_coordinator" else (foreign, own)
        shown = _shown(changelist)
        mine_page, theirs_page = (own_page, foreign_page) if role != "other_coordinator" else (foreign_page, own_page)
        if mine.pk not in shown or mine_page.status_code != 200:
            problems.append(f"{label}: own row hidden ({mine_page.status_code})")
        if role == "superuser":
            if theirs.pk not in shown or theirs_page.status_code != 200:
                problems.append(f"{label}: superuser cannot see every row")
        elif theirs.pk in shown or theirs_page.status_code == 200:
            problems.append(f"{label}: another crisis's row visible ({theirs_page.status_code})")
    assert not problems, "\n".join(problems)


def test_a_coordinator_can_turn_on_blurring_for_their_crisis_in_the_admin(people):
    from mapping.models import CrisisPrivacy

    crisis = people["crisis"]
    privacy, _ = CrisisPrivacy.objects.get_or_create(crisis=crisis)
    client = client_for(people, "coordinator")
    assert client.get(_admin_url(CrisisPrivacy, "changelist")).status_code == 200
    response = client.post(
        _admin_url(CrisisPrivacy, "change", privacy.pk), {"crisis": crisis.pk, "blur_for_volunteers": "on"}
    )
    assert response.status_code == 302
    privacy.refresh_from_db()
    assert privacy.blur_for_volunteers
