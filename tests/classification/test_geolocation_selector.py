"""The learned option selector: features on invented text, choosing by weights, training and leave-events-out."""

import json

import numpy as np
import pytest

from classification.geolocation import selector_training
from classification.geolocation.evaluation import GoldPost
from classification.geolocation.gazetteer import GazetteerIndex
from classification.geolocation.recognizer import Recognizer, SourceText
from classification.geolocation.resolver import GeoLocator
from classification.geolocation.selector import FEATURES, PACKAGED_WEIGHTS, OptionSelector

# (kind, name, alternates, country, lat, lon, population, radius_km, admin1_code, admin2_name)
INVENTED = [
    ("country", "Veridia", [], "XA", 10.0, 10.0, 0, 300.0, "", ""),
    ("admin1", "North Vale", ["NV"], "XA", 12.0, 10.0, 0, 150.0, "NV", ""),
    ("city", "Brindle", [], "XA", 12.3, 10.0, 300_000, 19.0, "XA.NV", ""),
    ("city", "Tollan", [], "XA", 8.2, 10.2, 20_000, 9.0, "", ""),
]
BRINDLE, VERIDIA = (12.3, 10.0), (10.0, 10.0)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    rows = [(n + 1, *row) for n, row in enumerate(INVENTED)]
    blank = Recognizer(GazetteerIndex.empty())
    return Recognizer(GazetteerIndex.build(rows, name_key=blank.name_key, common_words=False))


def selector_with(**weights) -> OptionSelector:
    return OptionSelector(weights)


def locate(locator: GeoLocator, text: str):
    context = locator.context(name="Invented storm", countries=["XA"])
    return locator.locate([SourceText("post", text)], context)


def features_of(recognizer, text: str) -> dict[str, dict[str, float]]:
    locator = GeoLocator(recognizer)
    prepared = locator.prepare([SourceText("post", text)], locator.context(name="Invented storm", countries=["XA"]))
    rows = locator.option_features(prepared)
    options = [m for _, _, m in prepared.options]
    return {m.text: dict(zip(FEATURES, row, strict=True)) for m, row in zip(options, rows, strict=True)}


def test_the_selector_picks_the_option_its_weights_prefer(recognizer):
    text = "Roofs torn off in Brindle #Veridia"
    against_hashtags = GeoLocator(recognizer, selector=selector_with(in_hashtag=-2.0))
    for_hashtags = GeoLocator(recognizer, selector=selector_with(in_hashtag=2.0))
    assert (round(locate(against_hashtags, text).lat, 2), 10.0) == BRINDLE
    assert (round(locate(for_hashtags, text).lat, 2), 10.0) == VERIDIA
    assert locate(for_hashtags, text).provenance["selector"] == "learned"


def test_without_a_selector_the_rules_choose(recognizer):
    result = locate(GeoLocator(recognizer), "Roofs torn off in Brindle #Veridia")
    assert (round(result.lat, 2), round(result.lon, 2)) == BRINDLE and "selector" not in result.provenance


def test_features_read_hashtags_event_names_containers_and_prepositions(recognizer):
    rows = features_of(recognizer, "#PrayForTollan: help needed in Brindle, North Vale #VeridiaFloods")
    assert rows["Tollan"]["in_hashtag"] == 1 and rows["Tollan"]["pray_before"] == 1
    assert rows["Tollan"]["headline_after"] == 1 and rows["Tollan"]["is_first"] == 1
    assert rows["Brindle"]["locative_before"] == 1 and rows["Brindle"]["container_inner"] == 1
    assert rows["North Vale"]["container_outer"] == 1 and rows["North Vale"]["bias_admin1"] == 1
    assert rows["Veridia"]["event_word_after"] == 1 and rows["Veridia"]["contains_other"] == 1
    assert rows["Brindle"]["inside_other"] == 1 and rows["Brindle"]["most_specific"] == 1
    assert rows["Brindle"]["in_hashtag"] == 0 and rows["Veridia"]["least_specific"] == 1


def test_weights_naming_an_unknown_feature_are_refused():
    with pytest.raises(ValueError, match="unknown features"):
        OptionSelector({"no_such_feature": 1.0})


def test_the_packaged_weights_name_every_feature_and_record_how_they_were_trained():
    document = json.loads(PACKAGED_WEIGHTS.read_text())
    assert set(document["weights"]) == set(FEATURES)
    assert {"seed", "l2", "trained_on", "metrics"} <= set(document)
    assert "selector_leave_one_event_out" in document["metrics"]
    assert OptionSelector.load(PACKAGED_WEIGHTS).metadata["version"] == document["version"]


def test_training_learns_to_prefer_the_kind_of_option_that_is_right_and_reports_held_out_events(recognizer):
    locator = GeoLocator(recognizer)
    context = locator.context(name="Invented storm", countries=["XA"])
    data = selector_training.SelectorData()
    # In every invented event the post is about the town, never the country of its hashtag.
    for event in ("first", "second", "third"):
        posts = [GoldPost(f"Roofs torn off in Brindle #Veridia {n}", *BRINDLE, (BRINDLE,)) for n in range(4)]
        posts.append(GoldPost("Nothing named here", *BRINDLE, (BRINDLE,)))
        data.add_event(locator, event, posts, context)
    everything = list(range(len(data)))
    weights = selector_training.fit(data, everything, l2=0.1)
    assert weights[FEATURES.index("bias_city")] > weights[FEATURES.index("bias_country")]
    assert selector_training.accuracy(data, everything, weights)["acc_25"] == pytest.approx(0.8)
    held_out = selector_training.leave_events_out(data, l2=0.1)
    assert set(held_out["per_event"]) == {"first", "second", "third"}
    assert held_out["all"]["posts"] == len(data)


def test_training_on_posts_with_no_choice_leaves_the_weights_at_zero(recognizer):
    locator = GeoLocator(recognizer)
    data = selector_training.SelectorData()
    data.add_event(locator, "one", [GoldPost("Help needed in Tollan", 8.2, 10.2, ((8.2, 10.2),))],
                   locator.context(name="Invented storm", countries=["XA"]))  # fmt: skip
    assert not np.any(selector_training.fit(data, [0]))
