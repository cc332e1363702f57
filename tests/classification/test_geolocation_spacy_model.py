"""GEOLOC_SPACY_MODEL: an installed spaCy pipeline's GPE/LOC/FAC entities join the gazetteer's mentions.

No statistical model can be downloaded here, so the test saves a pipeline to disk whose entities come from an
EntityRuler: ``spacy.load`` reads it from its path exactly as it reads ``en_core_web_sm``, and the recogniser sees
the same ``doc.ents``. What is tested is our side: loading by name or path, which labels count, the alignment of
the model's character offsets with our tokens, and FAC entities going to the geocoder.
"""

import pytest
import spacy

from classification.geolocation.gazetteer import GazetteerIndex
from classification.geolocation.recognizer import Recognizer, SourceText
from classification.geolocation.resolver import GeocodedPlace, GeoLocator
from tests.classification.geo_fixtures import place_rows
from tests.conftest import SQUARE_AREA


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    nlp = spacy.blank("pt")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "FAC", "pattern": "Arena do Grêmio"},
            {"label": "GPE", "pattern": "eldorado do sul"},  # lowercase: our own rules would not take it
            {"label": "PER", "pattern": "Canoas"},  # a label that is no place: ignored
            {"label": "GPE", "pattern": "Porto"},  # a model cutting a name short
        ]
    )
    path = tmp_path_factory.mktemp("spacy") / "ner-model"
    nlp.to_disk(path)
    return str(path)


@pytest.fixture(scope="module")
def locators(model_path) -> dict[str, GeoLocator]:
    key = Recognizer(GazetteerIndex.empty()).name_key
    index = GazetteerIndex.build(place_rows(), name_key=key)
    return {
        "plain": GeoLocator(Recognizer(index)),
        "with_model": GeoLocator(Recognizer(index, statistical_model=model_path)),
    }


def context(locator):
    return locator.context(name="Enchente RS", countries=["BR"], area_geojson=SQUARE_AREA, languages=["pt"])


def test_a_facility_of_the_model_goes_to_the_geocoder_near_the_town_of_the_post(locators):
    queries = []

    def geocode(query: str) -> list[GeocodedPlace]:
        queries.append(query)
        return [GeocodedPlace(name="Arena do Grêmio", lat=-29.9736, lon=-51.1950, radius_km=0.3)]

    text = "Água chegou na Arena do Grêmio, Porto Alegre"
    without = locators["plain"].locate([SourceText("post", text)], context(locators["plain"]), geocode=geocode)
    assert queries == [] and without.method == "gazetteer"  # no model: the town is the best we know

    result = locators["with_model"].locate([SourceText("post", text)], context(locators["with_model"]), geocode=geocode)
    assert queries == ["Arena do Grêmio, Porto Alegre"]
    assert result.method == "geocoder" and (result.lat, result.lon) == (-29.9736, -51.1950)
    fac = next(span for span in result.spans if span["label"] == "FAC")
    assert text[fac["start"] : fac["end"]] == "Arena do Grêmio"


def test_a_place_of_the_model_our_rules_would_skip_is_resolved_with_the_gazetteer(locators):
    text = "resgates em eldorado do sul agora"
    plain = locators["plain"].locate([SourceText("post", text)], context(locators["plain"]))
    assert plain.is_fallback  # lowercase small town in running text: the rules stay away from it

    result = locators["with_model"].locate([SourceText("post", text)], context(locators["with_model"]))
    # Resolved, and shown as lying outside the drawn area: a candidate, never a confident pin.
    assert result.candidates[0]["name"] == "Eldorado do Sul" and result.candidates[0]["outside_area"]
    assert result.is_fallback and result.provenance["reason"] == "every place named is outside the crisis area"


def test_entities_that_are_not_places_are_ignored(locators):
    result = locators["with_model"].locate([SourceText("post", "Canoas")], context(locators["with_model"]))
    assert all(span["label"] != "PER" for span in result.spans)


def test_a_shorter_model_span_loses_to_the_longer_gazetteer_name(locators):
    result = locators["with_model"].locate(
        [SourceText("post", "Chuva em Porto Alegre")], context(locators["with_model"])
    )
    assert result.candidates[0]["name"] == "Porto Alegre"
