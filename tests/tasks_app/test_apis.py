"""The crowd-work API end to end through the HTTP client, with CSRF enforced; every refusal changes nothing."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from classification import selectors as classification_selectors
from classification.models import Place
from geoloc_platform.crises.models import Crisis
from tasks_app import services
from tasks_app.models import Answer, Assignment, CrowdTask, Report
from tests.tasks_app.conftest import queue

GEO = CrowdTask.Kind.GEOLOCATION


def client_for(user) -> Client:
    """A logged-in client that must send the CSRF token, as a browser does."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the csrftoken cookie
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def snapshot():
    """Everything a refused request must leave as it was."""
    return (
        list(CrowdTask.objects.order_by("pk").values_list("pk", "status", "slots_taken", "answers_count")),
        list(Assignment.objects.order_by("pk").values_list("pk", "state", "expires_at")),
        Answer.objects.count(),
        Report.objects.count(),
    )


@pytest.fixture
def leased(crisis, volunteers):
    """A volunteer holding a geolocation lease, through the API."""
    queue(crisis, eases=(0.9, 0.2))
    client = client_for(volunteers[0])
    response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json")
    assert response.status_code == 200
    return client, response.json()


def post_answer(client, **body):
    return client.post("/api/answers/", body, content_type="application/json")


class TestTaskNextApi:
    def test_the_next_task_is_the_easiest_and_carries_no_other_answers(self, crisis, leased):
        _, lease = leased
        task = CrowdTask.objects.get(pk=lease["task_id"])
        assert task.predicted_ease == 0.9
        assert lease["kind"] == GEO and lease["seconds_left"] > 500
        assert not {"answers", "consensus"} & set(lease)

    def test_nothing_left_is_204(self, crisis, volunteers):
        client = client_for(volunteers[0])
        response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json")
        assert response.status_code == 204

    def test_an_unknown_kind_is_400(self, crisis, volunteers):
        queue(crisis)
        client = client_for(volunteers[0])
        before = snapshot()
        response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "x"}, content_type="application/json")
        assert response.status_code == 400
        assert snapshot() == before

    def test_a_paused_crisis_is_403_with_a_code(self, crisis, volunteers, people):
        queue(crisis)
        Crisis.objects.filter(pk=crisis.pk).update(status=Crisis.Status.PAUSED)
        client = client_for(volunteers[0])
        response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json")
        assert (response.status_code, response.json()["code"]) == (403, "cannot_contribute")
        assert Assignment.objects.count() == 0

    def test_a_private_crisis_does_not_reveal_that_it_exists(self, crisis, volunteers):
        Crisis.objects.filter(pk=crisis.pk).update(visibility=Crisis.Visibility.PRIVATE)
        client = client_for(volunteers[0])
        response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json")
        assert response.status_code == 404
        unknown = client.post("/api/crises/no-such-crisis/tasks/next/", {"kind": GEO}, content_type="application/json")
        assert (unknown.status_code, unknown.json()) == (404, response.json())  # the same words as a missing one

    def test_anonymous_visitors_are_refused(self, crisis):
        queue(crisis)
        response = Client().post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json"
        )
        assert response.status_code == 403
        assert Assignment.objects.count() == 0


class TestAnswerSubmitApi:
    def test_an_answer_is_recorded(self, leased):
        client, lease = leased
        response = post_answer(
            client,
            lease_id=lease["lease_id"],
            kind=GEO,
            lat=-30.03,
            lon=-51.22,
            precision="high",
            clue_tags=["sign_text"],
            note="The sign says Rua X",
            time_on_task_s=42,
            pano_lat=-30.03,
            pano_lon=-51.22,
            pano_heading=90,
            pano_pitch=5,
        )
        assert response.status_code == 201, response.content
        answer = Answer.objects.get()
        assert (answer.lat, answer.lon, answer.precision, answer.clue_tags) == (-30.03, -51.22, "high", ["sign_text"])
        assert (answer.pano_heading, answer.note) == (90, "The sign says Rua X")
        assert response.json()["feedback"] is None

    def test_cannot_geolocate_needs_no_pin(self, leased):
        client, lease = leased
        response = post_answer(client, lease_id=lease["lease_id"], kind=GEO, precision="cannot")
        assert response.status_code == 201
        assert Answer.objects.get().lat is None

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"lat": 91, "lon": 10, "precision": "high"}, "lat"),
            ({"lat": -90.5, "lon": 10, "precision": "high"}, "lat"),
            ({"lat": 10, "lon": 181, "precision": "high"}, "lon"),
            ({"lat": 10, "precision": "high"}, "lat"),
            ({"precision": "high"}, "lat"),
            ({"lat": 10, "lon": 10, "precision": "cannot"}, "lat"),
            ({"lat": 10, "lon": 10}, "precision"),
            ({"lat": 10, "lon": 10, "precision": "exact"}, "precision"),
            ({"lat": 10, "lon": 10, "precision": "high", "clue_tags": ["<script>"]}, "clue_tags"),
            ({"lat": "north", "lon": 10, "precision": "high"}, "lat"),
        ],
    )
    def test_bad_input_is_400_and_changes_nothing(self, leased, body, field):
        client, lease = leased
        before = snapshot()
        response = post_answer(client, lease_id=lease["lease_id"], kind=GEO, **body)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_input"
        assert field in response.json()["errors"]
        assert snapshot() == before

    def test_an_unknown_lease_is_404_and_changes_nothing(self, leased):
        client, _ = leased
        before = snapshot()
        response = post_answer(client, lease_id=999999, kind=GEO, lat=1, lon=1, precision="low")
        assert (response.status_code, response.json()["code"]) == (404, "unknown_lease")
        assert snapshot() == before

    def test_an_expired_lease_of_someone_else_is_403_and_changes_nothing(self, leased, volunteers):
        _, lease = leased
        services.lease_expire_due(now=timezone.now() + timedelta(hours=1))
        before = snapshot()
        response = post_answer(
            client_for(volunteers[1]), lease_id=lease["lease_id"], kind=GEO, lat=1, lon=1, precision="low"
        )
        assert (response.status_code, response.json()["code"]) == (403, "lease_not_yours")
        assert snapshot() == before

    def test_a_duplicate_submission_is_409_and_changes_nothing(self, leased):
        client, lease = leased
        assert (
            post_answer(client, lease_id=lease["lease_id"], kind=GEO, lat=1, lon=1, precision="low").status_code == 201
        )
        before = snapshot()
        response = post_answer(client, lease_id=lease["lease_id"], kind=GEO, lat=2, lon=2, precision="high")
        assert (response.status_code, response.json()["code"]) == (409, "already_answered")
        assert snapshot() == before

    def test_an_answer_of_the_wrong_kind_is_400_and_changes_nothing(self, leased):
        client, lease = leased
        before = snapshot()
        response = post_answer(client, lease_id=lease["lease_id"], kind="rating", difficulty="easy")
        assert (response.status_code, response.json()["code"]) == (400, "wrong_answer_kind")
        assert snapshot() == before

    def test_an_expired_lease_whose_slots_went_to_others_is_409_and_changes_nothing(self, leased, volunteers, crisis):
        client, lease = leased
        services.lease_expire_due(now=timezone.now() + timedelta(hours=1))
        for volunteer in volunteers[1:4]:
            services.lease_grant(crisis=crisis, volunteer=volunteer, kind=GEO)
        task = CrowdTask.objects.get(pk=lease["task_id"])
        assert task.status == CrowdTask.Status.FULL
        before = snapshot()
        response = post_answer(client, lease_id=lease["lease_id"], kind=GEO, lat=1, lon=1, precision="low")
        assert (response.status_code, response.json()["code"]) == (409, "lease_expired")
        assert snapshot() == before

    def test_a_request_without_the_csrf_token_is_403_and_changes_nothing(self, leased):
        client, lease = leased
        before = snapshot()
        response = client.post(
            "/api/answers/",
            {"lease_id": lease["lease_id"], "kind": GEO, "lat": 1, "lon": 1, "precision": "low"},
            content_type="application/json",
            HTTP_X_CSRFTOKEN="",
        )
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        assert snapshot() == before


class TestLeaseApis:
    def test_a_heartbeat_extends_the_lease(self, leased):
        client, lease = leased
        Assignment.objects.filter(pk=lease["lease_id"]).update(expires_at=timezone.now() + timedelta(seconds=30))
        response = client.post(f"/api/leases/{lease['lease_id']}/heartbeat/")
        assert response.status_code == 200
        assert response.json()["seconds_left"] > 200

    def test_a_heartbeat_on_someone_elses_lease_is_403_and_changes_nothing(self, leased, volunteers):
        _, lease = leased
        before = snapshot()
        response = client_for(volunteers[1]).post(f"/api/leases/{lease['lease_id']}/heartbeat/")
        assert (response.status_code, response.json()["code"]) == (403, "lease_not_yours")
        assert snapshot() == before

    def test_skip_with_a_report_frees_the_slot_and_flags_the_image(self, leased):
        client, lease = leased
        response = client.post(
            f"/api/leases/{lease['lease_id']}/skip/", {"report_reason": "old_photo"}, content_type="application/json"
        )
        assert (response.status_code, response.json()["state"]) == (200, "skipped")
        assert CrowdTask.objects.get(pk=lease["task_id"]).slots_taken == 0
        assert Report.objects.get().reason == "old_photo"
        again = client.post(f"/api/leases/{lease['lease_id']}/skip/", content_type="application/json")
        assert (again.status_code, again.json()["code"]) == (409, "lease_closed")

    def test_progress_counts_my_answers(self, leased, crisis):
        client, lease = leased
        post_answer(client, lease_id=lease["lease_id"], kind=GEO, lat=1, lon=1, precision="low")
        response = client.get(f"/api/crises/{crisis.slug}/progress/")
        assert response.status_code == 200
        assert (response.json()["geolocations"], response.json()["total"]) == (1, 1)

    def test_place_search_finds_towns_of_the_crisis_country(self, crisis, volunteers):
        # No gazetteer built (a fresh install): the bundled towns of 15,000 people.
        response = client_for(volunteers[0]).get(f"/api/crises/{crisis.slug}/places/", {"q": "porto aleg"})
        assert response.status_code == 200
        assert response.json()[0]["name"].startswith("Porto Alegre")

    def test_place_search_reads_the_gazetteer_villages_and_regions_of_the_crisis_countries(self, crisis, volunteers):
        def place(kind, name, country, lat, lon, population=0, region=""):
            fields = {"population": population, "admin1_code": region, "radius_km": 5.0, "source_id": f"{lat},{lon}"}
            Place.objects.create(kind=kind, name=name, country_code=country, lat=lat, lon=lon, source="test", **fields)

        place("city", "Ilha do Mauá", "BR", -30.01, -51.22, population=800)  # a village the bundled list lacks
        place("admin1", "Vale do Mauá", "BR", -29.5, -51.0)
        place("city", "Mauá", "BR", -23.67, -46.46, population=470_000, region="BR.SP")
        place("city", "Mauá", "BR", -29.9, -51.9, population=2_000, region="BR.RS")  # its namesake, told apart
        place("city", "Mauá", "BR", -29.95, -51.85, region="BR.RS")  # the same town twice in the data: one line
        place("city", "Mauá", "BR", -29.9, -51.55, region="BR.RS")  # twice, 34 km apart: the second says where
        place("city", "Maua Bay", "NZ", -41.0, 174.0, population=3_000)  # another country: not the crisis's
        client = client_for(volunteers[0])
        names = [p["name"] for p in client.get(f"/api/crises/{crisis.slug}/places/", {"q": "maua"}).json()]
        # The name first, then largest; namesakes told apart by their region's code.
        assert names == [
            "Mauá (SP, BR)",
            "Mauá (RS, BR)",
            "Mauá (RS, BR), 34 km E",
            "Ilha do Mauá (BR)",
            "Vale do Mauá (BR)",
        ]
        village = client.get(f"/api/crises/{crisis.slug}/places/", {"q": "Ilha do Maua"}).json()
        assert village == [{"name": "Ilha do Mauá (BR)", "lat": -30.01, "lon": -51.22}]

    def test_place_search_sees_a_rebuilt_gazetteer_within_a_minute(self, crisis, volunteers, monkeypatch):
        clock = [1000.0]
        monkeypatch.setattr(classification_selectors.time, "monotonic", lambda: clock[0])
        Place.objects.create(kind="city", name="Arroio Velho", country_code="BR", lat=-29.0, lon=-51.0,
                             population=900, radius_km=5.0, source="test", source_id="1")  # fmt: skip
        client = client_for(volunteers[0])
        assert client.get(f"/api/crises/{crisis.slug}/places/", {"q": "arroio novo"}).json() == []
        Place.objects.create(kind="city", name="Arroio Novo", country_code="BR", lat=-29.5, lon=-51.5,
                             population=700, radius_km=5.0, source="test", source_id="2")  # fmt: skip
        clock[0] += 61
        assert [p["name"] for p in client.get(f"/api/crises/{crisis.slug}/places/", {"q": "arroio novo"}).json()] == [
            "Arroio Novo (BR)"
        ]


class TestAnswerOthersApi:
    """Independence first: the others' answers open up to a volunteer only through their own answer."""

    def answer(self, client, crisis, kind, **fields) -> dict:
        lease = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": kind}, content_type="application/json")
        assert lease.status_code == 200, lease.content
        response = post_answer(client, lease_id=lease.json()["lease_id"], kind=kind, **fields)
        assert response.status_code == 201, response.content
        return response.json()

    def test_after_answering_a_volunteer_sees_the_others_pins_as_distances_from_theirs(self, crisis, volunteers):
        queue(crisis, eases=(0.9,))
        first, second, third = (client_for(v) for v in volunteers[:3])
        self.answer(first, crisis, GEO, lat=-29.9178, lon=-51.1839, precision="high")
        self.answer(second, crisis, GEO, precision="cannot")
        mine = self.answer(third, crisis, GEO, lat=-29.9178, lon=-51.1849, precision="medium")

        others = third.get(mine["others_url"]).json()

        assert others["total"] == 2 and others["cannot"] == 1
        (pin,) = others["pins"]
        assert pin["precision"] == "high" and pin["distance_m"] == pytest.approx(96, abs=2)  # 0.001 deg of lon
        assert "lat" not in pin and "lon" not in pin  # no coordinates to collect by answering blind

    def test_ratings_are_counted_per_answer_and_the_first_answer_sees_nobody(self, crisis, volunteers):
        queue(crisis, eases=(0.9,), kinds=("rating",))
        clients = [client_for(v) for v in volunteers[:3]]
        first = self.answer(clients[0], crisis, "rating", difficulty="easy")
        assert clients[0].get(first["others_url"]).json()["total"] == 0
        self.answer(clients[1], crisis, "rating", difficulty="easy")
        mine = self.answer(clients[2], crisis, "rating", difficulty="medium")

        others = clients[2].get(mine["others_url"]).json()

        assert others == {
            "kind": "rating",
            "total": 2,
            "difficulties": {"easy": 2},
            "pins": [],
            "cannot": 0,
            "verdicts": {},
        }

    def test_someone_elses_answer_opens_nothing(self, crisis, volunteers):
        queue(crisis, eases=(0.9,))
        mine = self.answer(client_for(volunteers[0]), crisis, GEO, lat=-29.9, lon=-51.1, precision="low")
        onlooker = client_for(volunteers[1])  # has not answered this image
        assert onlooker.get(mine["others_url"]).status_code == 404
        assert Client().get(mine["others_url"]).status_code in (401, 403)


def test_the_openapi_schema_of_the_crowd_api_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/answers/" in schema and "crowd_task_next" in schema
