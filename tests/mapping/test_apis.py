"""The map API end to end: permissions, coarsening, bbox, pages, the since cursor, escaping, dashboard."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from consensus.models import LocationConsensus
from geoloc_platform.crises.models import Crisis
from mapping.models import DashboardSnapshot
from mapping.privacy import grid_snap
from tests.mapping.conftest import make_point

FEATURES = "/api/map/features/"


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def features(client, **params) -> dict:
    response = client.get(FEATURES, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/geo+json"
    return json.loads(response.content)


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    rates.update({"map_features": "10000/min", "map_export": "10000/min"})
    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = rates


class TestMapFeaturesPermissions:
    def test_a_responder_gets_exact_coordinates_without_delay(self, active_crises):
        crisis = active_crises["crisis"]
        media = make_point(crisis, lat=-30.031234, lon=-51.221234)
        body = features(client_for(active_crises["responder"]), crisis=crisis.slug)
        [feature] = body["features"]
        assert feature["id"] == media.pk
        assert feature["geometry"]["coordinates"] == [-51.221234, -30.031234]  # RFC 7946: lon, lat
        assert feature["properties"]["exact"] is True
        assert feature["properties"]["posted_at"].endswith("+00:00")  # an offset on every backend
        assert "author" not in feature["properties"]

    def test_the_public_sees_points_snapped_to_the_grid_and_only_after_the_delay(self, active_crises, settings):
        crisis = active_crises["crisis"]
        make_point(crisis, lat=-30.031234, lon=-51.221234)  # fresh: still delayed
        old = make_point(crisis, lat=-30.05, lon=-51.1, age=settings.MAP_PUBLIC_DELAY + timedelta(minutes=1))
        for client in (Client(), client_for(active_crises["volunteer"])):
            body = features(client, crisis=crisis.slug)
            assert [f["id"] for f in body["features"]] == [old.pk]
            lat, lon = grid_snap(-30.05, -51.1, settings.MAP_PUBLIC_GRID_M)
            assert body["features"][0]["geometry"]["coordinates"] == [round(lon, 6), round(lat, 6)]
            assert body["features"][0]["properties"]["exact"] is False
            assert body["features"][0]["properties"]["radius_m"] >= settings.MAP_PUBLIC_GRID_M * 0.7

    def test_a_private_crisis_is_invisible_to_everyone_but_its_responders_and_coordinators(self, active_crises):
        crisis = active_crises["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(visibility=Crisis.Visibility.PRIVATE)
        make_point(crisis, age=timedelta(days=2))
        for user in (
            None,
            active_crises["volunteer"],
            active_crises["global_responder"],
            active_crises["other_coordinator"],
        ):
            client = client_for(user)
            assert client.get(FEATURES, {"crisis": crisis.slug}).status_code == 404
            assert features(client)["features"] == []  # nor in the all-crises view
        for user in (active_crises["responder"], active_crises["coordinator"], active_crises["superuser"]):
            assert len(features(client_for(user), crisis=crisis.slug)["features"]) == 1

    def test_author_handles_are_shown_to_coordinators_only(self, active_crises):
        crisis = active_crises["crisis"]
        make_point(crisis, author="@alice")
        responder = features(client_for(active_crises["responder"]), crisis=crisis.slug)["features"][0]
        coordinator = features(client_for(active_crises["coordinator"]), crisis=crisis.slug)["features"][0]
        assert "author" not in responder["properties"]
        assert "@alice" not in json.dumps(responder)
        assert coordinator["properties"]["author"] == "@alice"

    def test_a_draft_crisis_is_hidden_from_its_responders(self, people):
        make_point(people["crisis"])  # the people fixture's crises are drafts
        assert people["responder"] and features(client_for(people["responder"]))["features"] == []
        assert len(features(client_for(people["coordinator"]), crisis=people["crisis"].slug)["features"]) == 1

    def test_rejected_and_unfinished_locations_are_not_drawn(self, active_crises):
        crisis = active_crises["crisis"]
        make_point(crisis, review=LocationConsensus.Review.REJECTED)
        make_point(crisis, status=LocationConsensus.Status.NEEDS_EXPERT_REVIEW)
        assert features(client_for(active_crises["responder"]), crisis=crisis.slug)["features"] == []


class TestMapFeaturesFilters:
    def test_bbox_keeps_points_inside_the_box(self, active_crises):
        crisis = active_crises["crisis"]
        inside = make_point(crisis, lat=-30.03, lon=-51.22)
        make_point(crisis, lat=-29.5, lon=-51.22)
        body = features(client_for(active_crises["responder"]), crisis=crisis.slug, bbox="-51.3,-30.1,-51.1,-30.0")
        assert [f["id"] for f in body["features"]] == [inside.pk]

    def test_a_bad_bbox_is_a_400(self, active_crises):
        client = client_for(active_crises["responder"])
        assert client.get(FEATURES, {"bbox": "1,2,3"}).status_code == 400
        assert client.get(FEATURES, {"bbox": "10,0,5,1"}).status_code == 400

    def test_pages_follow_the_cursor_and_cover_every_point_once(self, active_crises):
        crisis = active_crises["crisis"]
        made = {make_point(crisis, lat=-30 - i / 100).pk for i in range(7)}
        client = client_for(active_crises["responder"])
        seen, cursor, pages = [], None, 0
        while True:
            params = {"crisis": crisis.slug, "limit": 3, **({"cursor": cursor} if cursor else {})}
            body = features(client, **params)
            seen += [f["id"] for f in body["features"]]
            pages += 1
            cursor = body["cursor"]
            if not cursor:
                break
        assert pages == 3
        assert sorted(seen) == sorted(made)

    def test_a_forged_cursor_is_a_400(self, active_crises):
        client = client_for(active_crises["responder"])
        assert client.get(FEATURES, {"cursor": "bm90LWEtY3Vyc29y"}).status_code == 400

    def test_since_returns_new_and_changed_points_and_the_ids_to_remove(self, active_crises):
        crisis = active_crises["crisis"]
        old = make_point(crisis, age=timedelta(hours=1))
        gone = make_point(crisis, age=timedelta(hours=1))
        client = client_for(active_crises["responder"])
        first = features(client, crisis=crisis.slug)
        assert {f["id"] for f in first["features"]} == {old.pk, gone.pk}

        new = make_point(crisis)
        LocationConsensus.objects.filter(media=gone).update(
            review=LocationConsensus.Review.REJECTED, updated_at=timezone.now()
        )
        update = features(client, crisis=crisis.slug, since=first["since"])
        assert [f["id"] for f in update["features"]] == [new.pk]
        assert update["removed"] == [gone.pk]

    def test_on_a_public_map_a_point_arrives_through_since_when_its_delay_ends(self, active_crises, settings):
        crisis = active_crises["crisis"]
        client = Client()
        first = features(client, crisis=crisis.slug)
        # Geolocated just over a delay ago, i.e. after the public's previous poll (delay-shifted window).
        media = make_point(crisis, age=settings.MAP_PUBLIC_DELAY + timedelta(seconds=1))
        update = features(client, crisis=crisis.slug, since=first["since"])
        assert [f["id"] for f in update["features"]] == [media.pk]

    def test_confidence_time_window_hazard_and_tags_narrow_the_points(self, active_crises):
        crisis, other = active_crises["crisis"], active_crises["other_crisis"]
        high = make_point(crisis, precision="high", hashtags=["RSFloods"])
        low = make_point(crisis, precision="low", hashtags=["rescue"], age=timedelta(days=3))
        quake = make_point(other, precision="high", hashtags=[])
        client = client_for(active_crises["superuser"])

        def ids(**params):
            return {f["id"] for f in features(client, **params)["features"]}

        assert ids() == {high.pk, low.pk, quake.pk}
        assert ids(confidence="medium") == {high.pk, quake.pk}
        assert ids(start=(timezone.now() - timedelta(days=1)).isoformat()) == {high.pk, quake.pk}
        assert ids(hazard="earthquake") == {quake.pk}
        assert ids(tags="rsfloods") == {high.pk}
        assert ids(tags="rescue,nothing") == {low.pk}
        assert ids(max_radius=50) == set()


class TestEscaping:
    def test_post_text_is_json_escaped_and_unsafe_links_are_dropped(self, active_crises):
        crisis = active_crises["crisis"]
        nasty = '</script><img src=x onerror=alert(1)> "quoted" \\ \u2028 line'
        make_point(crisis, text=nasty, url="javascript:alert(1)")
        response = client_for(active_crises["responder"]).get(FEATURES, {"crisis": crisis.slug})
        body = json.loads(response.content)  # valid JSON whatever the text holds
        props = body["features"][0]["properties"]
        assert props["text"] == nasty  # the text survives as data; the page puts it in textContent
        assert props["url"] == ""


class TestGuesses:
    def test_text_guesses_are_marked_unverified_and_fallbacks_left_out(self, active_crises):
        from classification.models import PostGeolocation
        from crawling.models import Media, Post

        crisis = active_crises["crisis"]
        guessed, fallback = [], []
        for n, is_fallback in enumerate((False, True)):
            post = Post.objects.create(crisis=crisis, source="mastodon", source_id=f"g{n}", text="Rua X alagada")
            media = Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.QUEUED)
            PostGeolocation.objects.create(
                post=post, lat=-30.0, lon=-51.2, radius_km=2.0, method="gazetteer", is_fallback=is_fallback
            )
            (fallback if is_fallback else guessed).append(media.pk)
        response = client_for(active_crises["responder"]).get("/api/map/guesses/", {"crisis": crisis.slug})
        body = json.loads(response.content)
        assert [f["id"] for f in body["features"]] == guessed
        props = body["features"][0]["properties"]
        assert props["layer"] == "text_guess" and props["unverified"] is True
        assert props["radius_m"] == 2000.0

    @staticmethod
    def _guess(crisis, key: str, *, lat: float, lon: float, method: str = "gazetteer", country: str = "") -> int:
        from classification.models import PostGeolocation
        from crawling.models import Media, Post

        post = Post.objects.create(crisis=crisis, source="mastodon", source_id=key, text=f"Post {key}")
        media = Media.objects.create(crisis=crisis, post=post, stage=Media.Stage.QUEUED)
        candidates = [{"name": key, "lat": lat, "lon": lon, "country_code": country}] if country else []
        PostGeolocation.objects.create(post=post, lat=lat, lon=lon, radius_km=3.0, method=method, candidates=candidates)
        return media.pk

    def _outside(self, crisis, user) -> dict[int, bool]:
        response = client_for(user).get("/api/map/guesses/", {"crisis": crisis.slug})
        return {f["id"]: f["properties"]["outside"] for f in json.loads(response.content)["features"]}

    def test_without_a_drawn_area_a_place_named_in_another_country_is_marked_outside(self, active_crises):
        crisis = active_crises["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(country_codes=["ZZ"], affected_area=None)
        home = self._guess(crisis, "home", lat=10.0, lon=10.0, country="ZZ")
        abroad = self._guess(crisis, "abroad", lat=40.0, lon=60.0, country="YY")
        posted_there = self._guess(crisis, "native", lat=40.0, lon=60.0, method="native")  # the post's own point
        assert self._outside(crisis, active_crises["responder"]) == {home: False, abroad: True, posted_there: False}

    def test_with_a_drawn_area_a_guess_that_does_not_reach_it_is_marked_outside(self, active_crises):
        crisis = active_crises["crisis"]
        square = [[10.0, 10.0], [10.2, 10.0], [10.2, 10.2], [10.0, 10.2], [10.0, 10.0]]
        Crisis.objects.filter(pk=crisis.pk).update(
            country_codes=["ZZ"], affected_area={"type": "Polygon", "coordinates": [square]}
        )
        inside = self._guess(crisis, "inside", lat=10.1, lon=10.1, country="ZZ")
        near = self._guess(crisis, "near", lat=10.1, lon=10.23, country="ZZ")  # 3 km out, within its 95% reach
        far = self._guess(crisis, "far", lat=12.0, lon=10.1, country="ZZ")  # 200 km out, same country
        assert self._outside(crisis, active_crises["responder"]) == {inside: False, near: False, far: True}


class TestDashboardApi:
    def test_coordinators_get_the_snapshot_others_a_404(self, active_crises):
        crisis = active_crises["crisis"]
        make_point(crisis)
        url = f"/api/map/crises/{crisis.slug}/dashboard/"
        for user in (active_crises["responder"], active_crises["volunteer"], active_crises["other_coordinator"]):
            assert client_for(user).get(url).status_code == 404
        response = client_for(active_crises["coordinator"]).get(url)
        assert response.status_code == 200
        funnel = {step["step"]: step["count"] for step in response.json()["data"]["funnel"]}
        assert funnel["posts"] == 1 and funnel["geolocated"] == 1

    def test_the_statistics_are_of_the_present_and_say_how_old_they_are(self, active_crises, settings):
        settings.MAP_DASHBOARD_MAX_AGE_SECONDS = 5
        crisis = active_crises["crisis"]
        url = f"/api/map/crises/{crisis.slug}/dashboard/"
        coordinator = client_for(active_crises["coordinator"])
        first = coordinator.get(url).json()
        assert 0 <= first["age_seconds"] < 5
        make_point(crisis)
        DashboardSnapshot.objects.filter(crisis=crisis).update(computed_at=timezone.now() - timedelta(seconds=6))
        cache.clear()
        body = coordinator.get(url).json()
        assert body["computed_at"] > first["computed_at"] and body["age_seconds"] < 5
        assert {step["step"]: step["count"] for step in body["data"]["funnel"]}["geolocated"] == 1
