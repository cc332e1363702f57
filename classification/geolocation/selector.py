"""Which of a post's resolved mentions becomes its point: a small learned ranker over the options.

The rules score each reading of each mention (resolver.py); when a post names several places, one of them is the
post's location. Which one people mean is a matter of habits that rules capture badly: a country in a hashtag
beside the town in the text, the region of "Town, Region", a place in "#PrayForX", a news dateline ("CITY —"), the
town inside a named region. A conditional logit (one linear utility per option, softmax over the post's options)
learns those habits from annotated tweets: ``manage.py train_geolocation_selector`` trains it on IDRISI-D and writes
its weights, the data it saw, its seed and its leave-events-out figures into ``selector_weights.json`` beside this
file. No download at run time; without the file (or with ``GEOLOC_SELECTOR_WEIGHTS=""``) the rules choose.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classification.geolocation.gazetteer import ADMIN1, ADMIN2, CITY, CONTINENT, COUNTRY, LOCAL, SPECIFICITY
from classification.geolocation.geo import haversine_km

PACKAGED_WEIGHTS = Path(__file__).with_name("selector_weights.json")

# Words that, right after a place, make it part of an event's name ("Fort Mac Fire", "#KeralaFloods"): the post is
# about the event, and annotators often leave such names out.
EVENT_WORDS = frozenset(
    [
        "fire",
        "fires",
        "wildfire",
        "wildfires",
        "blaze",
        "flood",
        "floods",
        "flooding",
        "flooded",
        "quake",
        "earthquake",
        "earthquakes",
        "storm",
        "hurricane",
        "cyclone",
        "tornado",
        "landslide",
        "landslides",
        "relief",
        "rescue",
        "strong",
        "recovery",
        "victims",
        "appeal",
        "donations",
    ]
)
LOCATIVE_WORDS = frozenset(["in", "at", "near", "across", "around", "outside", "inside", "within", "throughout"])
DIRECTION_WORDS = frozenset(["from", "to", "into", "towards", "toward"])

FEATURES = (
    "bias_country", "bias_admin1", "bias_admin2", "bias_city", "bias_local", "bias_continent",
    "score", "value", "log_population", "prior_area", "prior_country", "primary", "consistent", "shadowed",
    "in_hashtag", "position", "is_first", "is_last", "log_options", "repeats", "contains_other", "inside_other",
    "container_inner", "container_outer", "all_caps", "event_word_after", "locative_before", "direction_before",
    "pray_before", "headline_after", "most_specific", "least_specific", "log_distance_to_others", "geocoded",
    "log_radius", "start_fraction", "distinct_places", "crisis_support",
)  # fmt: skip


@dataclass(frozen=True)
class OptionView:
    """What the features read from one option: the mention, its chosen reading, its value among the options."""

    value: float
    place: object  # PlaceRecord
    score: float
    reasons: dict
    mention: object  # Mention
    text: str  # the whole source text the mention comes from


def _word_before(text: str, start: int) -> str:
    words = text[:start].rstrip(" #\"'(").split()
    return words[-1].lower().strip(".,:;!?") if words else ""


def _rest_after(view: OptionView) -> str:
    """The word after the mention: inside a hashtag, the rest of the tag ("#KeralaFloods" -> "floods")."""
    rest = view.text[view.mention.end :]
    if view.mention.in_hashtag and rest[:1].isalpha():
        word = ""
        for ch in rest:
            if not ch.isalnum():
                break
            word += ch
        return word.lower()
    words = rest.split()
    return words[0].lower().strip(".,:;!?#") if words else ""


def _hashtag_prefix(view: OptionView) -> str:
    """The letters of the hashtag before the mention ("#PrayForAthens" -> "prayfor")."""
    before = view.text[: view.mention.start]
    hash_at = before.rfind("#")
    if hash_at < 0 or any(not ch.isalnum() for ch in before[hash_at + 1 :]):
        return ""
    return before[hash_at + 1 :].lower()


def option_features(views: list[OptionView], *, pairs: set[tuple[int, int]], contains) -> np.ndarray:
    """One row of FEATURES per option. ``pairs`` are (inner, outer) option positions written "Inner, Outer";
    ``contains(a, b)`` says whether place a lies inside place b's area as the resolver reads containment."""
    n = len(views)
    rows = np.zeros((n, len(FEATURES)), dtype=np.float64)
    specificity = [SPECIFICITY[v.place.kind] for v in views]
    order = sorted(range(n), key=lambda i: (views[i].mention.source != "post", views[i].mention.start))
    rank = {i: r for r, i in enumerate(order)}
    distinct = len({(round(v.place.lat, 3), round(v.place.lon, 3)) for v in views})
    inner = {a for a, _ in pairs}
    outer = {b for _, b in pairs}
    for i, view in enumerate(views):
        place, mention = view.place, view.mention
        others = [v for j, v in enumerate(views) if j != i]
        same = sum(1 for v in others if (v.place.lat, v.place.lon) == (place.lat, place.lon))
        distances = [
            haversine_km(place.lat, place.lon, v.place.lat, v.place.lon)
            for v in others
            if (v.place.lat, v.place.lon) != (place.lat, place.lon)
        ]
        after = _rest_after(view)
        before = _word_before(view.text, mention.start)
        tail = view.text[mention.end : mention.end + 3].lstrip(" ")
        prior = view.reasons.get("prior", "")
        values = {
            "bias_country": place.kind == COUNTRY,
            "bias_admin1": place.kind == ADMIN1,
            "bias_admin2": place.kind == ADMIN2,
            "bias_city": place.kind == CITY,
            "bias_local": place.kind == LOCAL,
            "bias_continent": place.kind == CONTINENT,
            "score": view.score / 5.0,
            "value": view.value / 5.0,
            "log_population": math.log10(place.population + 1) / 7.0,
            "prior_area": prior in ("in_area", "near_area"),
            "prior_country": prior == "in_country",
            "primary": bool(view.reasons.get("primary")),
            "consistent": bool(view.reasons.get("consistent")),
            "shadowed": bool(view.reasons.get("shadowed")),
            "in_hashtag": bool(mention.in_hashtag),
            "position": rank[i] / (n - 1) if n > 1 else 0.0,
            "is_first": rank[i] == 0,
            "is_last": rank[i] == n - 1,
            "log_options": math.log(n),
            "repeats": math.log1p(same),
            "contains_other": any(contains(v.place, place) for v in others),
            "inside_other": any(contains(place, v.place) for v in others),
            "container_inner": i in inner,
            "container_outer": i in outer,
            "all_caps": mention.text.isupper() and len(mention.text) > 3,
            "event_word_after": after in EVENT_WORDS,
            "locative_before": before in LOCATIVE_WORDS,
            "direction_before": before in DIRECTION_WORDS,
            "pray_before": "pray" in _hashtag_prefix(view) or before in ("pray", "praying", "prayers"),
            "headline_after": tail[:1] in (":", "\u2014", "\u2013") or tail[:2] == "- ",
            "most_specific": specificity[i] == max(specificity),
            "least_specific": specificity[i] == min(specificity) and max(specificity) > min(specificity),
            "log_distance_to_others": math.log1p(min(distances)) / 10.0 if distances else 0.0,
            "geocoded": place.place_id < 0,
            "log_radius": math.log1p(place.radius_km) / 8.0,
            "start_fraction": mention.start / max(1, len(view.text)),
            "distinct_places": math.log(distinct),
            "crisis_support": view.reasons.get("crisis_support", 0.0),
        }
        rows[i] = [float(values[name]) for name in FEATURES]
    return rows


class OptionSelector:
    """Utility = weights . features; the option of highest utility is the post's point."""

    def __init__(self, weights: dict[str, float], *, metadata: dict | None = None):
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"selector weights name unknown features: {sorted(unknown)}")
        self.vector = np.array([weights.get(name, 0.0) for name in FEATURES], dtype=np.float64)
        self.metadata = metadata or {}

    @classmethod
    def load(cls, path: Path | str | None) -> "OptionSelector | None":
        if not path:
            return None
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["weights"], metadata={k: v for k, v in data.items() if k != "weights"})

    def utilities(self, features: np.ndarray) -> np.ndarray:
        return features @ self.vector

    def best(self, features: np.ndarray) -> int:
        return int(np.argmax(self.utilities(features)))
