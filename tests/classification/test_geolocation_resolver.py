"""Recognition and resolution on a tiny gazetteer: pins near named towns, flagged fallbacks, explicit scores."""

import pytest

from classification.geolocation.gazetteer import GazetteerIndex
from classification.geolocation.geo import haversine_km
from classification.geolocation.recognizer import Recognizer, SourceText
from classification.geolocation.resolver import GeoLocator
from tests.classification.geo_fixtures import HARVEY_AREA, place_rows, tiny_locator
from tests.conftest import SQUARE_AREA


@pytest.fixture(scope="module")
def locator():
    return tiny_locator()


@pytest.fixture(scope="module")
def porto_alegre(locator):
    return locator.context(
        name="Porto Alegre Floods", countries=["BR"], area_geojson=SQUARE_AREA, hashtags=["SOSRioGrandeDoSul"]
    )


@pytest.fixture(scope="module")
def harvey(locator):
    return locator.context(
        name="Hurricane Harvey", countries=["US"], area_geojson=HARVEY_AREA, hashtags=["HurricaneHarvey"]
    )


def post(text: str) -> list[SourceText]:
    return [SourceText("post", text)]


class TestLocate:
    def test_flood_in_a_named_town_gets_a_pin_near_it_with_a_radius_and_spans(self, locator, porto_alegre):
        text = "Rua alagada em Canoas, RS. #EnchenteRS"
        result = locator.locate(post(text), porto_alegre)
        assert not result.is_fallback and result.method == "gazetteer"
        assert haversine_km(result.lat, result.lon, -29.9178, -51.1839) < 1
        assert 5 <= result.radius_km <= 40
        chosen = [span for span in result.spans if span["chosen"]]
        assert [text[s["start"] : s["end"]] for s in chosen] == ["Canoas"]

    def test_storm_name_without_a_place_falls_back_to_the_crisis_area_flagged(self, locator, harvey):
        result = locator.locate(post("Praying for everyone in the path of Harvey #HurricaneHarvey"), harvey)
        assert result.is_fallback and result.method == "crisis_area"
        assert (round(result.lat, 1), round(result.lon, 1)) == (29.0, -96.0)
        assert result.radius_km > 100
        assert result.candidates == []

    def test_a_storm_is_no_town_even_outside_its_own_crisis(self, locator, porto_alegre):
        result = locator.locate(post("Hurricane Harvey was worse"), porto_alegre)
        assert result.is_fallback

    def test_a_place_far_outside_the_crisis_area_and_countries_is_no_pin_but_a_flagged_candidate(
        self, locator, porto_alegre
    ):
        result = locator.locate(post("Houston, we have a problem: the street is a river"), porto_alegre)
        assert result.is_fallback and result.method == "crisis_area"
        assert [candidate["name"] for candidate in result.candidates] == ["Houston"]

    def test_the_crisis_name_keeps_places_of_the_crisis(self, locator, porto_alegre):
        assert "porto alegre" not in porto_alegre.stop_keys
        result = locator.locate(post("Porto Alegre under water"), porto_alegre)
        assert not result.is_fallback and result.candidates[0]["name"] == "Porto Alegre"

    def test_crisis_area_prior_picks_the_town_of_the_crisis(self, locator, porto_alegre):
        result = locator.locate(post("Canoas is flooded"), porto_alegre)
        assert result.candidates[0]["country_code"] == "BR"
        assert result.candidates[0]["reasons"]["prior"] == "in_area"

    def test_a_town_beats_its_region_and_country(self, locator, harvey):
        result = locator.locate(post("Rockport, Texas, USA took a direct hit"), harvey)
        assert result.candidates[0]["name"] == "Rockport"
        assert {c["name"] for c in result.candidates} >= {"Rockport", "Texas"}
        assert len(result.candidates) <= 3

    def test_region_codes_count_only_in_capitals_after_a_comma(self, locator, harvey):
        assert locator.locate(post("Houston, TX"), harvey).spans[-1]["text"] == "TX"
        assert [s["text"] for s in locator.locate(post("tx for the help"), harvey).spans] == []

    def test_lowercase_small_towns_are_not_matched_but_big_cities_are(self, locator, harvey):
        assert [s["text"] for s in locator.locate(post("flooding rockport"), harvey).spans] == []
        assert [s["text"] for s in locator.locate(post("flooding in houston"), harvey).spans] == ["houston"]

    def test_ocr_text_counts_less_than_the_post(self, locator, porto_alegre):
        sources = [SourceText("ocr", "PORTO ALEGRE", 0.6, ref=7), SourceText("post", "Canoas agora")]
        result = locator.locate(sources, porto_alegre)
        assert result.candidates[0]["name"] == "Canoas"
        ocr_span = next(s for s in result.spans if s["source"] == "ocr")
        assert ocr_span["ref"] == 7 and ocr_span["start"] == 0

    def test_names_in_other_scripts_match(self, locator):
        context = locator.context(name="Tokyo earthquake", countries=["JP"])
        result = locator.locate(post("東京で地震"), context)
        assert result.candidates[0]["name"] == "Tokyo"
        assert result.spans[0]["text"] == "東京"

    def test_without_an_area_the_fallback_is_the_crisis_countries(self, locator):
        context = locator.context(name="Some flood", countries=["CR"])
        result = locator.locate(post("nothing here"), context)
        assert result.is_fallback and result.method == "crisis_countries"
        assert (result.lat, result.lon) == (10.0, -84.0)

    def test_the_entity_ruler_matcher_gives_the_same_answer(self, porto_alegre):
        ruler = tiny_locator(matcher="entity_ruler")
        context = ruler.context(name="Porto Alegre Floods", countries=["BR"], area_geojson=SQUARE_AREA)
        result = ruler.locate(post("Rua alagada em Canoas"), context)
        assert result.candidates[0]["name"] == "Canoas" and result.candidates[0]["country_code"] == "BR"


class TestGeocoding:
    def test_streets_go_to_the_geocoder_qualified_by_the_town(self, locator, harvey):
        from classification.geolocation.resolver import GeocodedPlace

        asked = []

        def geocode(query):
            asked.append(query)
            return [GeocodedPlace("Westheimer Road, Houston", 29.74, -95.46, 0.8)]

        result = locator.locate(post("Westheimer Road is a river in Houston"), harvey, geocode=geocode)
        assert asked == ["Westheimer Road, Houston"]
        assert result.method == "geocoder" and result.radius_km == 0.8

    def test_a_result_outside_the_crisis_area_is_ignored(self, locator, harvey):
        from classification.geolocation.resolver import GeocodedPlace

        def geocode(query):
            return [GeocodedPlace("Main Street, Elsewhere", 45.0, 10.0, 0.5)]

        result = locator.locate(post("Main Street flooded in Houston"), harvey, geocode=geocode)
        assert result.method == "gazetteer" and result.candidates[0]["name"] == "Houston"


class TestCommonWords:
    """A small town named like an ordinary word of the crisis's languages needs the crisis prior's support."""

    @pytest.fixture(scope="class")
    def with_ponte(self):
        rows = [*place_rows(), (99, "city", "Ponte", [], "IT", 41.2167, 14.7, 2_600, 3.0)]
        key = Recognizer(GazetteerIndex.empty()).name_key
        return GeoLocator(Recognizer(GazetteerIndex.build(rows, name_key=key)))

    def context(self, locator, languages):
        return locator.context(name="Enchente", countries=["BR"], area_geojson=SQUARE_AREA, languages=languages)

    def names(self, locator, languages) -> list[str]:
        result = locator.locate(post("Ponte caiu com a enchente"), self.context(locator, languages))
        assert result.is_fallback and result.method == "crisis_area"  # the village is outside the crisis anyway
        return [candidate["name"] for candidate in result.candidates]

    def test_a_portuguese_word_is_no_candidate_in_a_portuguese_crisis(self, with_ponte):
        assert "Ponte" not in self.names(with_ponte, ["pt"])

    def test_the_same_name_is_a_candidate_where_it_is_no_word_of_the_crisis_languages(self, with_ponte):
        assert "Ponte" in self.names(with_ponte, ["en"])


class TestCrisisPlaces:
    """The crisis-level prior: where the crisis's posts located so far are (crisis_places.py)."""

    def test_too_few_located_posts_give_no_support_and_no_centre(self):
        from classification.geolocation.crisis_places import MIN_POSTS, CrisisPlaces

        located = CrisisPlaces([(10.0, 20.0)] * (MIN_POSTS - 1))
        assert located.support(10.0, 20.0) == 0.0 and located.centre() is None

    def test_support_is_full_near_the_posts_and_nil_far_from_them(self):
        from classification.geolocation.crisis_places import CrisisPlaces

        located = CrisisPlaces([(10.1, 20.1)] * 20 + [(-40.0, 170.0)] * 20)
        assert located.support(10.3, 20.3) == 1.0
        assert located.support(30.0, 20.0) == 0.0
        assert located.share(-40.2, 170.2) == 0.5

    def test_a_town_near_the_crisis_posts_beats_its_bigger_namesake_elsewhere(self, locator):
        from classification.geolocation.crisis_places import CrisisPlaces

        context = locator.context(name="Floods", located=CrisisPlaces([(8.6, -82.9)] * 12))
        result = locator.locate(post("Canoas is under water"), context)
        assert result.candidates[0]["country_code"] == "CR"
        assert result.candidates[0]["reasons"]["crisis_support"] == 1.0

    def test_a_post_naming_no_place_falls_back_to_the_centre_of_the_crisis_posts_flagged(self, locator):
        from classification.geolocation.crisis_places import CrisisPlaces

        located = CrisisPlaces([(29.8, -95.4)] * 15 + [(28.0, -97.1)] * 5)
        context = locator.context(name="Storm", countries=["US"], located=located)
        result = locator.locate(post("Water everywhere, stay safe"), context)
        assert result.is_fallback and result.method == "crisis_countries"
        assert haversine_km(result.lat, result.lon, 29.8, -95.4) < 60
        assert result.radius_km < 300
        assert result.provenance["fallback"] == "centre of the crisis's located posts"

    def test_a_drawn_area_stays_the_fallback_whatever_the_posts(self, locator, harvey):
        from dataclasses import replace

        from classification.geolocation.crisis_places import CrisisPlaces

        located = CrisisPlaces([(41.6, -87.6)] * 20)
        result = locator.locate(post("Water everywhere"), replace(harvey, located=located))
        assert (round(result.lat, 1), round(result.lon, 1)) == (29.0, -96.0)


class TestAbroad:
    """With crisis countries set, a small town abroad is a guess only when the post points to its country."""

    def test_a_small_town_abroad_named_alone_is_no_pin(self, locator):
        context = locator.context(name="Floods", countries=["BR"])
        result = locator.locate(post("Volunteers from Rockport are here to help"), context)
        assert result.is_fallback

    def test_a_small_town_abroad_stays_when_the_post_names_its_country(self, locator):
        context = locator.context(name="Floods", countries=["BR"])
        result = locator.locate(post("Volunteers from Rockport, Texas are here to help"), context)
        assert not result.is_fallback and result.candidates[0]["name"] == "Rockport"
