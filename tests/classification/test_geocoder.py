"""The online geocoder over real HTTP against a fake server on loopback: bounds, rate limit, database cache."""

import pytest

from classification.geolocation.geo import Area
from classification.geolocation.geocoder import CachedGeocoder
from classification.models import GeocodeCacheEntry
from tests.classification.geo_fixtures import HARVEY_AREA, fake_geocoder, nominatim_result  # noqa: F401

pytestmark = pytest.mark.django_db


class TestCachedGeocoder:
    def test_nominatim_is_asked_bounded_to_the_crisis_area(self, fake_geocoder):  # noqa: F811
        fake_geocoder.results = [nominatim_result("Westheimer Road, Houston, Texas", 29.74, -95.46)]
        places = CachedGeocoder(area=Area.from_geojson(HARVEY_AREA))("Westheimer Road, Houston")
        assert [(p.name, p.lat, p.lon) for p in places] == [("Westheimer Road, Houston, Texas", 29.74, -95.46)]
        assert 1 < places[0].radius_km < 3  # half the diagonal of the bounding box
        (request,) = fake_geocoder.requests
        assert request["path"] == "/search" and request["agent"] == "geoloc-tests"
        assert request["query"]["q"] == "Westheimer Road, Houston"
        assert request["query"]["bounded"] == "1"
        assert [float(v) for v in request["query"]["viewbox"].split(",")] == [-97.5, 27.5, -94.5, 30.5]

    def test_second_query_is_answered_from_the_database(self, fake_geocoder):  # noqa: F811
        fake_geocoder.results = [nominatim_result("Main Street, Houston", 29.75, -95.36)]
        geocoder = CachedGeocoder(area=None)
        first = geocoder("Main Street, Houston")
        second = CachedGeocoder(area=None)("main street, houston")
        assert first == second
        assert len(fake_geocoder.requests) == 1
        assert GeocodeCacheEntry.objects.count() == 1

    def test_empty_answers_are_cached_too(self, fake_geocoder):  # noqa: F811
        geocoder = CachedGeocoder(area=None)
        assert geocoder("Nowhere Lane") == [] and geocoder("Nowhere Lane") == []
        assert len(fake_geocoder.requests) == 1

    def test_a_server_error_is_not_cached(self, fake_geocoder):  # noqa: F811
        fake_geocoder.status = 500
        assert CachedGeocoder(area=None)("Main Street") == []
        assert GeocodeCacheEntry.objects.count() == 0

    def test_photon_shape_is_read(self, fake_geocoder, settings):  # noqa: F811
        settings.GEOCODER_PROVIDER = "photon"
        fake_geocoder.results = [nominatim_result("Memorial Hermann Hospital", 29.71, -95.40, kind="hospital")]
        (place,) = CachedGeocoder(area=Area.from_geojson(HARVEY_AREA))("Memorial Hermann Hospital")
        assert (place.lat, place.lon, place.raw_type) == (29.71, -95.40, "hospital")
        assert fake_geocoder.requests[0]["path"] == "/api"
        assert "bbox" in fake_geocoder.requests[0]["query"]

    def test_no_provider_means_no_geocoder(self, settings):
        settings.GEOCODER_PROVIDER = ""
        assert not CachedGeocoder(area=None)
