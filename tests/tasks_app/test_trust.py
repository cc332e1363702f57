"""Independence and checks in crowd work: what a pin's page reports, the text's guess, verification tasks."""

import pytest

from crawling.models import Post
from tasks_app import services
from tasks_app.errors import NoTrackRecord
from tasks_app.models import Answer, CrowdTask
from tests.tasks_app.conftest import queue, with_record
from tests.tasks_app.test_apis import client_for, post_answer, snapshot

GEO = CrowdTask.Kind.GEOLOCATION
GUESS = (-30.0346, -51.2177)


@pytest.fixture
def guessed(crisis, volunteers):
    """A geolocation lease on an image whose post carries a location (the map opens there)."""
    (image,) = queue(crisis, eases=(0.9,), kinds=(GEO,))
    Post.objects.filter(media=image).update(geo_lat=GUESS[0], geo_lon=GUESS[1], geo_accuracy_m=3000)
    client = client_for(volunteers[0])
    lease = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": GEO}, content_type="application/json")
    return client, lease.json()


def pin_body(lease, lat, lon, **extra):
    return {"lease_id": lease["lease_id"], "kind": GEO, "lat": lat, "lon": lon, "precision": "high", **extra}


class TestInteraction:
    @pytest.mark.parametrize(
        "interaction",
        [{"map_moved": True, "scrolled": True}, {"map_moved": "yes"}, {"map_zoomed": 1}, ["map_moved"], "true"],
    )
    def test_a_malformed_report_is_refused_and_nothing_is_written(self, guessed, interaction):
        client, lease = guessed
        before = snapshot()
        response = post_answer(client, **pin_body(lease, *GUESS, interaction=interaction))
        assert response.status_code == 400 and "interaction" in response.content.decode()
        assert snapshot() == before

    def test_a_pin_on_the_guess_without_any_search_only_repeats_it(self, guessed):
        client, lease = guessed
        assert post_answer(client, **pin_body(lease, GUESS[0] + 0.001, GUESS[1])).status_code == 201
        answer = Answer.objects.get()
        assert answer.confirms_prior and answer.interaction is None and answer.prior_distance_m < 200

    def test_a_reported_search_makes_a_pin_on_the_guess_independent_and_the_report_is_stored_whole(self, guessed):
        client, lease = guessed
        response = post_answer(client, **pin_body(lease, *GUESS, interaction={"streetview_opened": True}))
        assert response.status_code == 201
        answer = Answer.objects.get()
        assert not answer.confirms_prior
        assert answer.interaction == {
            "map_moved": False,
            "map_zoomed": False,
            "place_searched": False,
            "streetview_opened": True,
        }

    def test_a_pin_far_from_the_guess_is_independent_whatever_the_report(self, guessed):
        client, lease = guessed
        false = {"map_moved": False, "map_zoomed": False, "place_searched": False, "streetview_opened": False}
        assert post_answer(client, **pin_body(lease, -29.9178, -51.1839, interaction=false)).status_code == 201
        answer = Answer.objects.get()
        assert not answer.confirms_prior and answer.prior_distance_m > 10_000


class TestVerification:
    @pytest.fixture
    def to_check(self, crisis, volunteers):
        queue(crisis, eases=(0.9,), kinds=(GEO,))
        lease = services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind=GEO)
        pin = services.answer_submit(
            volunteer=volunteers[0],
            lease_id=lease.pk,
            kind=GEO,
            lat=GUESS[0],
            lon=GUESS[1],
            precision="high",
            pano_lat=GUESS[0],
            pano_lon=GUESS[1],
            pano_heading=120.0,
            pano_pitch=5.0,
        )
        return services.crowd_verification_task_create(answer_id=pin.pk)

    def test_checks_go_only_to_volunteers_with_a_record_who_did_not_pin_the_image(self, crisis, volunteers, to_check):
        with pytest.raises(NoTrackRecord):
            services.lease_grant(crisis=crisis, volunteer=volunteers[1], kind="verification")
        with_record(volunteers[0])
        assert services.lease_grant(crisis=crisis, volunteer=volunteers[0], kind="verification") is None
        lease = services.lease_grant(crisis=crisis, volunteer=with_record(volunteers[1]), kind="verification")
        assert lease.task_id == to_check.pk

    def test_the_page_data_carries_the_pin_and_the_recorded_view_but_no_guess(self, crisis, volunteers, to_check):
        client = client_for(with_record(volunteers[1]))
        lease = client.post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"}, content_type="application/json"
        ).json()
        assert lease["reference"]["pano_heading"] == 120.0 and lease["text_guess"] is None

    @pytest.mark.parametrize("body", [{"verdict": "accept"}, {"verdict": "yes", "lat": 1.0, "lon": 1.0}, {}])
    def test_a_check_answers_yes_nearby_or_no_about_the_pin_shown(self, crisis, volunteers, to_check, body):
        client = client_for(with_record(volunteers[1]))
        lease = client.post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"}, content_type="application/json"
        ).json()
        before = snapshot()
        response = post_answer(client, lease_id=lease["lease_id"], kind="verification", **body)
        assert response.status_code == 400 and snapshot() == before

    def test_a_check_counts_in_the_checkers_progress(self, crisis, volunteers, to_check):
        client = client_for(with_record(volunteers[1]))
        lease = client.post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"}, content_type="application/json"
        ).json()
        assert post_answer(client, lease_id=lease["lease_id"], kind="verification", verdict="yes").status_code == 201
        progress = client.get(f"/api/crises/{crisis.slug}/progress/").json()
        assert (progress["checks"], progress["reviews"], progress["total"]) == (1, 0, 1)
        assert "Locations checked</dt><dd>1</dd>" in client.get(f"/crises/{crisis.slug}/work/").content.decode()

    def test_a_new_pin_to_check_replaces_the_reference_and_asks_once_more(self, crisis, volunteers, to_check):
        checker = with_record(volunteers[1])
        lease = services.lease_grant(crisis=crisis, volunteer=checker, kind="verification")
        services.answer_submit(volunteer=checker, lease_id=lease.pk, kind="verification", verdict="no")
        geo = services.lease_grant(crisis=crisis, volunteer=volunteers[2], kind=GEO)
        second = services.answer_submit(
            volunteer=volunteers[2],
            lease_id=geo.pk,
            kind=GEO,
            lat=-29.9178,
            lon=-51.1839,
            precision="high",
            pano_lat=-29.9178,
            pano_lon=-51.1839,
        )
        task = services.crowd_verification_task_create(answer_id=second.pk)
        assert (task.pk, task.reference_lat, task.redundancy, task.status) == (to_check.pk, -29.9178, 2, "open")
        assert Answer.objects.get(kind="verification").lat == GUESS[0]  # the check keeps the pin it was about
        assert services.crowd_verification_task_create(answer_id=second.pk).redundancy == 2  # asked once only

    def test_a_verdict_about_a_pin_that_was_replaced_meanwhile_is_refused(self, crisis, volunteers, to_check):
        client = client_for(with_record(volunteers[1]))
        lease = client.post(
            f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "verification"}, content_type="application/json"
        ).json()
        shown = lease["reference"]
        # While the checker looks, another volunteer's pin replaces the one to check.
        geo = services.lease_grant(crisis=crisis, volunteer=volunteers[2], kind=GEO)
        new_pin = services.answer_submit(
            volunteer=volunteers[2], lease_id=geo.pk, kind=GEO, lat=-29.9178, lon=-51.1839, precision="high"
        )
        services.crowd_verification_task_create(answer_id=new_pin.pk)
        before = snapshot()
        body = {"verdict": "yes", "checked_lat": shown["lat"], "checked_lon": shown["lon"]}
        response = post_answer(client, lease_id=lease["lease_id"], kind="verification", **body)
        assert (response.status_code, response.json()["code"]) == (409, "pin_changed")
        assert snapshot() == before  # nothing recorded, no slot taken: the lease stays open for the new pin
        body = {"verdict": "yes", "checked_lat": -29.9178, "checked_lon": -51.1839}
        assert post_answer(client, lease_id=lease["lease_id"], kind="verification", **body).status_code == 201
        assert Answer.objects.get(kind="verification").lat == -29.9178

    def test_a_check_by_a_volunteer_whose_skill_here_fell_does_not_publish_and_one_more_is_asked(
        self, crisis, volunteers, to_check
    ):
        from consensus.models import VolunteerSkill
        from consensus.services import location_consensus_update

        type(crisis).objects.filter(pk=crisis.pk).update(redundancy_policy="adaptive")
        checker = with_record(volunteers[1])
        VolunteerSkill.objects.create(volunteer=checker, crisis=crisis, skill=0.1)  # wrong again and again here
        lease = services.lease_grant(crisis=crisis, volunteer=checker, kind="verification")
        services.answer_submit(volunteer=checker, lease_id=lease.pk, kind="verification", verdict="yes")
        result = location_consensus_update(media_id=to_check.media_id)
        # The record came from elsewhere: the check does not count.
        assert result.status == "awaiting_verification", result.reason
        task = CrowdTask.objects.get(pk=to_check.pk)
        assert (task.redundancy, task.status) == (2, "open")
        assert services.lease_grant(crisis=crisis, volunteer=checker, kind="verification") is None  # once each
        other = with_record(volunteers[2])
        lease = services.lease_grant(crisis=crisis, volunteer=other, kind="verification")
        services.answer_submit(volunteer=other, lease_id=lease.pk, kind="verification", verdict="yes")
        assert location_consensus_update(media_id=to_check.media_id).status == "done"
