"""US ZIP codes in text geolocation: read only in context, checked against the state and the crisis's countries,
the post's point unless they contradict the town it names, with a ZIP-sized radius (the package's real ZIPs)."""

import pytest

from classification.geolocation import postal
from classification.geolocation.geo import haversine_km
from classification.geolocation.postal import find_zip_codes, radius_from_neighbours, zip_record
from classification.geolocation.recognizer import SourceText
from tests.classification.geo_fixtures import HARVEY_AREA, tiny_locator

HOUSTON_77002 = (29.7594, -95.3594)  # downtown Houston, as the zipcodes package places it
HOUSTON = (29.7633, -95.3633)  # the tiny gazetteer's Houston
ROCKPORT = (28.0206, -97.0544)


@pytest.fixture(scope="module")
def locator():
    return tiny_locator()


@pytest.fixture(scope="module")
def harvey(locator):
    return locator.context(name="Hurricane Harvey", countries=["US"], hashtags=["HurricaneHarvey"])


def locate(locator, context, text: str):
    return locator.locate([SourceText("post", text)], context)


def postal_spans(result) -> list[str]:
    return [span["text"] for span in result.spans if span["label"] == "POSTAL"]


def at(result, point: tuple[float, float]) -> bool:
    return haversine_km(result.lat, result.lon, *point) < 0.5


class TestZipInContext:
    def test_a_zip_after_a_state_code_is_the_point_with_a_radius_tighter_than_the_town(self, locator, harvey):
        text = "Water rising! 2216 Duff Dr Houston, TX 77002 #Harvey need boat"
        result = locate(locator, harvey, text)
        assert at(result, HOUSTON_77002) and not result.is_fallback
        assert result.radius_km <= 2.0  # Houston the city is stated at ~16 km
        chosen = [span for span in result.spans if span["chosen"]]
        assert [text[s["start"] : s["end"]] for s in chosen] == ["77002"]
        assert result.provenance["postal"] == {"zip": "77002", "used": True}

    def test_a_state_name_a_zip_plus_four_and_the_word_zip_code_are_context_too(self, locator, harvey):
        assert postal_spans(locate(locator, harvey, "Stranded at 1 Main St, Texas 77002")) == ["77002"]
        assert postal_spans(locate(locator, harvey, "Houston TX 77002-1234 help")) == ["77002-1234"]
        assert postal_spans(locate(locator, harvey, "rescue needed, zip code: 77002")) == ["77002"]

    def test_the_zips_own_town_right_before_it_is_context(self, locator, harvey):
        assert postal_spans(locate(locator, harvey, "Shelter open at 3435 Dixie Rd, Houston 77084")) == ["77084"]
        assert postal_spans(locate(locator, harvey, "Shelter open in Rockport 77084")) == []

    def test_bare_five_digit_numbers_are_no_zip(self, locator, harvey):
        for text in [
            "Text REDCROSS to 30333 to give $10 to Houston",
            "80000 evacuated near Houston",
            "send 2€ to 77002 for Houston",
            "Houston: 77002 people without power",
            "Houston: text HARVEY 77002 to give",
        ]:
            result = locate(locator, harvey, text)
            assert postal_spans(result) == [], text
            assert at(result, HOUSTON), text

    def test_a_zip_of_another_state_than_the_one_written_is_no_zip(self, locator, harvey):
        assert postal_spans(locate(locator, harvey, "Help at 1 Main St, FL 77002")) == []
        assert find_zip_codes("Houston, TX 32822") == []  # an Orlando ZIP

    def test_a_crisis_in_another_country_never_reads_a_us_zip(self, locator):
        abroad = locator.context(name="Enchentes", countries=["BR"])
        assert postal_spans(locate(locator, abroad, "Houston, TX 77002")) == []
        anywhere = locator.context(name="Floods")
        assert postal_spans(locate(locator, anywhere, "Houston, TX 77002")) == ["77002"]

    def test_a_territorys_zip_counts_as_its_own_country(self):
        assert [m.place.country_code for m in find_zip_codes("San Juan, PR 00901", countries=frozenset({"PR"}))] == [
            "PR"
        ]
        assert find_zip_codes("Houston, TX 77002", countries=frozenset({"PR"})) == []

    def test_a_zip_far_from_the_drawn_area_is_no_pin(self, locator):
        orlando = locator.context(name="Hurricane Harvey", countries=["US"], area_geojson=HARVEY_AREA)
        result = locate(locator, orlando, "Donations to Orlando FL 32822, thanks Houston")
        assert at(result, HOUSTON)


class TestZipAgainstTheTown:
    def test_the_zip_beats_the_town_it_lies_in(self, locator, harvey):
        result = locate(locator, harvey, "Roof gone at 12 Bay St, Rockport, TX 78382 #Harvey")
        assert at(result, (28.0308, -97.0688)) and not at(result, ROCKPORT)
        assert result.candidates[0]["name"] == "Rockport, TX 78382"
        assert result.method == "gazetteer" and not result.is_fallback

    def test_a_zip_that_contradicts_the_town_named_is_ignored(self, locator, harvey):
        result = locate(locator, harvey, "Roof gone at 12 Bay St, Rockport, TX 77002 #Harvey")
        assert at(result, ROCKPORT)
        assert result.provenance["postal"] == {"zip": "77002", "used": False}
        assert "Houston, TX 77002" in [candidate["name"] for candidate in result.candidates]

    def test_the_zip_beats_a_region(self, locator, harvey):
        result = locate(locator, harvey, "Texas: family trapped, zip 77002")
        assert at(result, HOUSTON_77002)


class TestZipData:
    def test_the_radius_is_half_the_mean_distance_to_the_three_nearest_zips_within_bounds(self):
        assert radius_from_neighbours([22.0, 4.0, 6.0, 8.0]) == pytest.approx(3.0)
        assert radius_from_neighbours([0.5, 0.7, 0.9]) == postal.MIN_RADIUS_KM
        assert radius_from_neighbours([90.0, 100.0, 120.0]) == postal.MAX_RADIUS_KM
        assert radius_from_neighbours([5.0, 6.0]) == postal.MAX_RADIUS_KM  # no third ZIP within reach

    def test_the_radius_grows_where_zips_are_sparse(self):
        downtown, rural = zip_record("77002"), zip_record("79843")  # Houston; Marfa, in the desert of West Texas
        assert downtown.radius_km < 3 < 10 < rural.radius_km <= postal.MAX_RADIUS_KM

    def test_po_boxes_and_zips_out_of_use_are_not_read(self):
        assert find_zip_codes("CDC, Atlanta, GA 30333") == []  # a PO box ZIP
        assert find_zip_codes("Houston, TX 77097") == []  # a standard ZIP no longer in use
        assert zip_record("00000") is None

    def test_the_package_is_queried_only_for_a_number_in_context(self, locator, harvey, monkeypatch):
        queried = []
        monkeypatch.setattr(postal, "_query", lambda zip_code: queried.append(zip_code) or [])
        zip_record.cache_clear()
        for text in ["Houston, TX: 2 feet in 10 minutes", "Text REDCROSS to 30333", "80000 evacuated in Houston"]:
            locate(locator, harvey, text)
        assert queried == []
        locate(locator, harvey, "Houston, TX 77002")
        assert queried == ["77002"]
        zip_record.cache_clear()
