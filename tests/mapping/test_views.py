"""Pages: the map, the crisis map redirect, the dashboard, and who may fetch which image."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from consensus.models import LocationConsensus
from geoloc_platform.crises.models import Crisis
from mapping import services
from mapping.models import BlurredImage
from tasks_app.models import Assignment
from tests.mapping.conftest import make_point
from tests.tasks_app.conftest import queue


def logged_in(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_map_page_renders_without_any_cdn(active_crises):
    response = Client().get("/map/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "leaflet.markercluster.js" in html and 'id="map-config"' in html
    assert "unpkg" not in html and "cdnjs" not in html and "jsdelivr" not in html


def test_the_map_page_lists_private_crises_only_to_their_members(active_crises):
    Crisis.objects.filter(pk=active_crises["crisis"].pk).update(visibility=Crisis.Visibility.PRIVATE)
    slug = active_crises["crisis"].slug
    assert slug not in Client().get("/map/").content.decode()
    assert slug in logged_in(active_crises["responder"]).get("/map/").content.decode()


def test_crisis_map_redirects_to_the_filtered_map(active_crises):
    response = Client().get(f"/crises/{active_crises['crisis'].slug}/map/")
    assert response.status_code == 302 and response["Location"].endswith("/map/?crisis=porto-alegre-floods")
    # The rest of a shared link survives the redirect; the crisis is the one in the path.
    response = Client().get(f"/crises/{active_crises['crisis'].slug}/map/", {"guesses": "1", "crisis": "other"})
    assert response["Location"].endswith("/map/?guesses=1&crisis=porto-alegre-floods")


def test_the_dashboard_is_for_the_crisis_coordinators(active_crises):
    url = f"/crises/{active_crises['crisis'].slug}/dashboard/"
    assert logged_in(active_crises["responder"]).get(url).status_code == 404
    page = logged_in(active_crises["coordinator"]).get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="dash-refresh"' in html and 'id="dash-computed"' in html
    assert '"refreshSeconds": 5' in html  # the page polls as often as the statistics may age


def test_the_public_gets_a_blurred_image_and_responders_the_served_copy(active_crises, settings):
    media = make_point(active_crises["crisis"], with_image=True, age=settings.MAP_PUBLIC_DELAY + timedelta(minutes=1))
    url = f"/map/media/{media.pk}/image/"
    public = Client().get(url)
    assert public.status_code == 200 and BlurredImage.objects.filter(media=media).exists()
    responder = logged_in(active_crises["responder"]).get(url)
    assert responder.status_code == 200
    assert b"".join(responder.streaming_content) == media.image.open("rb").read()


def test_the_public_gets_a_points_photo_only_once_the_public_map_shows_the_point(active_crises, settings):
    media = make_point(active_crises["crisis"], with_image=True)  # published just now
    url = f"/map/media/{media.pk}/image/"
    assert Client().get(url).status_code == 404
    assert Client().get(url, {"blurred": 1}).status_code == 404
    assert logged_in(active_crises["responder"]).get(url).status_code == 200  # the exact, live map's people
    LocationConsensus.objects.filter(media=media).update(
        updated_at=timezone.now() - settings.MAP_PUBLIC_DELAY - timedelta(minutes=1)
    )
    assert Client().get(url).status_code == 200


def test_images_of_private_crises_are_hidden_from_outsiders(active_crises):
    Crisis.objects.filter(pk=active_crises["crisis"].pk).update(visibility=Crisis.Visibility.PRIVATE)
    media = make_point(active_crises["crisis"], with_image=True)
    url = f"/map/media/{media.pk}/image/"
    assert Client().get(url).status_code == 404
    assert logged_in(active_crises["volunteer"]).get(url).status_code == 404
    assert logged_in(active_crises["responder"]).get(url).status_code == 200


class TestLeaseImages:
    """A volunteer's task image: a signed link that works for them, signed in, while the lease is open."""

    @pytest.fixture
    def leased(self, active_crises):
        crisis = active_crises["crisis"]
        (media,) = queue(crisis, eases=(0.9,), with_file=True)
        client = logged_in(active_crises["volunteer"])
        response = client.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "rating"}, "application/json")
        assert response.status_code == 200, response.content
        return {"client": client, "payload": response.json(), "media": media, "crisis": crisis, **active_crises}

    def test_the_volunteer_gets_the_stored_copy_of_their_task_and_no_file_name(self, leased):
        url = leased["payload"]["image_url"]
        assert url.startswith("/map/media/lease/") and leased["media"].image.name not in url
        response = leased["client"].get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert b"".join(response.streaming_content) == leased["media"].image.open("rb").read()
        assert response["Cache-Control"].startswith("private")

    def test_nobody_else_can_use_the_link(self, leased):
        url = leased["payload"]["image_url"]
        assert Client().get(url).status_code == 404
        for other in ("responder", "coordinator", "other_coordinator", "superuser"):
            assert logged_in(leased[other]).get(url).status_code == 404, other

    def test_the_link_stops_working_when_the_lease_ends(self, leased):
        url = leased["payload"]["image_url"]
        Assignment.objects.filter(pk=leased["payload"]["lease_id"]).update(expires_at=timezone.now())
        assert leased["client"].get(url).status_code == 404

    def test_the_link_stops_working_once_the_task_is_answered(self, leased):
        url = leased["payload"]["image_url"]
        answer = {"lease_id": leased["payload"]["lease_id"], "kind": "rating", "difficulty": "easy"}
        assert leased["client"].post("/api/answers/", answer, "application/json").status_code == 201
        assert leased["client"].get(url).status_code == 404

    def test_an_altered_link_is_refused(self, leased):
        url = leased["payload"]["image_url"]
        token = url.removeprefix("/map/media/lease/").removesuffix("/")
        assert leased["client"].get(f"/map/media/lease/{token[:-2]}xx/").status_code == 404

    def test_a_crisis_that_blurs_for_volunteers_serves_them_only_the_blurred_copy(self, leased):
        services.crisis_privacy_set(crisis=leased["crisis"], blur_for_volunteers=True)
        response = leased["client"].get(leased["payload"]["image_url"])
        assert response.status_code == 200
        served = b"".join(response.streaming_content)
        blurred = BlurredImage.objects.get(media=leased["media"])
        assert served == blurred.image.open("rb").read() != leased["media"].image.open("rb").read()

    def test_behind_nginx_the_bytes_come_from_its_internal_location(self, leased, settings):
        settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
        response = leased["client"].get(leased["payload"]["image_url"])
        assert response.status_code == 200 and response.content == b""
        assert response["X-Accel-Redirect"] == f"/protected-media/{leased['media'].image.name}"
        assert response["Content-Type"] == "image/jpeg"


def test_no_url_serves_a_private_crisis_image_to_an_outsider(active_crises):
    crisis = active_crises["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(visibility=Crisis.Visibility.PRIVATE)
    (media,) = queue(crisis, eases=(0.9,), with_file=True)
    member = logged_in(active_crises["responder"])  # a private crisis's crowd are its members
    lease = member.post(f"/api/crises/{crisis.slug}/tasks/next/", {"kind": "rating"}, "application/json").json()
    urls = [lease["image_url"], f"/map/media/{media.pk}/image/", f"/map/media/{media.pk}/image/?blurred=1"]
    urls.append(media.image.url)
    outsiders = [Client(), logged_in(active_crises["volunteer"]), logged_in(active_crises["other_coordinator"])]
    for url in urls:
        assert [outsider.get(url).status_code for outsider in outsiders] == [404, 404, 404], url
    assert member.get(lease["image_url"]).status_code == 200


class TestStoredFiles:
    """MEDIA_URL is no open folder: every FieldFile.url goes through the rule of its folder."""

    def test_no_stored_image_has_a_url_that_works_without_signing_in(self, active_crises):
        media = make_point(active_crises["crisis"], with_image=True)
        assert media.image.url.startswith("/media/")
        assert Client().get(media.image.url).status_code == 404
        assert logged_in(active_crises["volunteer"]).get(media.image.url).status_code == 404

    def test_the_crisis_responders_and_coordinators_open_the_admin_links(self, active_crises):
        media = make_point(active_crises["crisis"], with_image=True)
        for user in ("responder", "coordinator", "superuser"):
            response = logged_in(active_crises[user]).get(media.image.url)
            assert response.status_code == 200, user
            assert response["X-Content-Type-Options"] == "nosniff"
        assert logged_in(active_crises["other_coordinator"]).get(media.image.url).status_code == 404

    def test_originals_and_unknown_files_are_served_to_nobody(self, active_crises, settings):
        (settings.MEDIA_ROOT / "originals").mkdir(parents=True)
        (settings.MEDIA_ROOT / "originals" / "a.jpg").write_bytes(b"exif and all")
        superuser = logged_in(active_crises["superuser"])
        assert superuser.get("/media/originals/a.jpg").status_code == 404
        assert superuser.get("/media/media/../originals/a.jpg").status_code == 404
        assert superuser.get("/media/media/no-such-file.jpg").status_code == 404
