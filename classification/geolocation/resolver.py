"""Resolution: an explicit score for each candidate place of each mention, then one point for the post.

score = prior (crisis area / countries) + importance (place type, population) + name (primary vs alternate)
        + consistency (near what the other mentions of the post resolve to)
The post's point is the best mention by score plus a bonus for specificity (a town beats its country) times the
weight of the text it came from (OCR text counts less). Nothing found: the crisis centre and radius, flagged.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from classification.geolocation.crisis_places import CrisisPlaces
from classification.geolocation.gazetteer import (
    ADMIN1,
    ADMIN2,
    CITY,
    CONTINENT,
    COUNTRY,
    LOCAL,
    SPECIFICITY,
    PlaceRecord,
)
from classification.geolocation.geo import Area, haversine_km
from classification.geolocation.postal import ZipPlace, zip_agrees
from classification.geolocation.recognizer import POSTAL, Mention, Recognizer, SourceText, crisis_stop_keys

if TYPE_CHECKING:
    from classification.geolocation.selector import OptionSelector

# Weights of the scoring function, in one place so that tuning is visible (tuned on IDRISI-D English train).
PRIOR_IN_AREA = 3.0
PRIOR_NEAR_AREA = 1.5
PRIOR_IN_COUNTRY = 2.0
PRIOR_IN_COUNTRY_OUTSIDE_AREA = 1.0
IMPORTANCE = {CONTINENT: 0.2, COUNTRY: 1.2, ADMIN1: 1.0, ADMIN2: 0.7, LOCAL: 0.6}
REGION_SIZE_KM = 250.0  # a region's importance grows with its size up to this radius ("Florida" the state)
PRIMARY_NAME = 0.4
CONSISTENT = 1.0
CONTAINED = 1.0  # inside a region or county named elsewhere in the post
SHADOWED = 1.0  # a town named like a country or region it is not in ("Mozambique" the town, "Florida, PR")
SHADOW_EXEMPT_POPULATION = 1_000_000
MINOR_POPULATION = 200_000  # towns below this are dropped when their name is a common word, unless prior says
VERY_COMMON_ZIPF = 4.3  # wordfreq Zipf: "note", "church", "alliance": only inside the crisis area
# Near where the crisis's other located posts are (crisis_places.py): a town there beats its namesakes elsewhere.
CRISIS_SUPPORT = 1.5
SUPPORTED_KINDS = (CITY, LOCAL, ADMIN2)  # a state's or country's point says little about where its posts are
SPECIFICITY_BONUS = {CONTINENT: -1.0, COUNTRY: 0.0, ADMIN1: 0.5, ADMIN2: 0.7, CITY: 0.9, LOCAL: 1.2}
TOP_CANDIDATES = 3
CONFIDENT_SCORE = 1.5  # a town reading below this (no crisis support, small, alternate name) never replaces a region
WORLD_RADIUS_KM = 20_015.0
CONTAINER_KINDS = (COUNTRY, ADMIN1, ADMIN2)
# Separators between a place and the region or country that qualifies it: "Katy, TX", "Paradise (CA)".
CONTAINER_SEPARATORS = frozenset({",", "(", "[", "-", "\u2013", "/"})  # "Hartsville [Darlington Co, SC]"

# The stated radius is a 68% circle, so that "± 12 km" means two chances in three: a place's own size (its
# covering radius) times the 68th percentile of error / size measured on IDRISI-D English train (3,696 posts,
# 19 crises): 0.49 for located posts, 0.86 for the fallback's covering circle. One factor for every kind: per
# kind the percentiles are degenerate (most country and state answers sit exactly on the gold point).
RADIUS_FACTOR = {CONTINENT: 0.5, COUNTRY: 0.5, ADMIN1: 0.5, ADMIN2: 0.5, CITY: 0.5, LOCAL: 0.5}
FALLBACK_RADIUS_FACTOR = 0.86


@dataclass(frozen=True)
class GeocodedPlace:
    """A result of the online geocoder, in the shape the resolver needs."""

    name: str
    lat: float
    lon: float
    radius_km: float
    kind: str = LOCAL
    raw_type: str = ""


@dataclass(frozen=True)
class CrisisContext:
    name: str
    countries: frozenset[str]
    area: Area | None
    stop_keys: frozenset[str]
    fallback: tuple[float, float, float]  # lat, lon, radius_km
    fallback_label: str
    languages: frozenset[str] = frozenset({"en"})  # whose common words guard small towns (English always)
    located: CrisisPlaces | None = None  # the crisis's posts located so far: its crisis-level prior


@dataclass
class Scored:
    place: PlaceRecord
    is_primary: bool
    score: float
    reasons: dict


@dataclass
class GeolocationResult:
    lat: float
    lon: float
    radius_km: float
    method: str  # gazetteer, geocoder, native, crisis_area
    is_fallback: bool
    score: float
    candidates: list[dict] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def importance(place: PlaceRecord) -> float:
    if place.kind == CITY:
        return min(1.0, math.log10(place.population + 1) / 6.5)
    if place.kind == ADMIN1:  # "Florida" the state before Florida, the municipality of Puerto Rico
        return IMPORTANCE[ADMIN1] * (0.6 + 0.4 * min(1.0, place.radius_km / REGION_SIZE_KM))
    if place.kind == ADMIN2:  # the county of Houston before a rural county of the same name
        return IMPORTANCE[ADMIN2] * (0.6 + 0.4 * min(1.0, math.log10(place.population + 1) / 6.5))
    return IMPORTANCE.get(place.kind, 0.5)


def prior(place: PlaceRecord, context: CrisisContext) -> tuple[float, str]:
    area = context.area
    if area is not None and place.kind in (CITY, LOCAL, ADMIN1, ADMIN2):
        if area.contains(place.lat, place.lon):
            return PRIOR_IN_AREA, "in_area"
        if area.distance_km(place.lat, place.lon) <= area.radius_km:
            return PRIOR_NEAR_AREA, "near_area"
        if place.kind in (ADMIN1, ADMIN2) and haversine_km(place.lat, place.lon, *area.centre) <= place.radius_km:
            return PRIOR_NEAR_AREA, "near_area"  # a region the area lies in ("Texas" during Harvey)
    if place.country_code and place.country_code in context.countries:
        return (PRIOR_IN_COUNTRY_OUTSIDE_AREA if area is not None else PRIOR_IN_COUNTRY), "in_country"
    return 0.0, ""


def _near(a: PlaceRecord, b: PlaceRecord) -> bool:
    if a.place_id == b.place_id:
        return False
    if a.kind == COUNTRY or b.kind == COUNTRY:
        return a.country_code == b.country_code and a.kind != b.kind
    if b.kind in CONTAINER_KINDS and SPECIFICITY[a.kind] > SPECIFICITY[b.kind]:
        return a.inside(b)
    if a.kind in CONTAINER_KINDS and SPECIFICITY[b.kind] > SPECIFICITY[a.kind]:
        return b.inside(a)
    if a.kind == ADMIN2 == b.kind and a.admin1 >= 0:  # "Camden, Glynn and Bryan counties": counties of one state
        return a.admin1 == b.admin1
    return haversine_km(a.lat, a.lon, b.lat, b.lon) <= a.radius_km + b.radius_km


def common_word_level(levels: dict[str, float] | None, languages: frozenset[str]) -> float:
    """How ordinary a word the name is in the crisis's languages (highest Zipf frequency; 0 when it is not)."""
    return max((level for language, level in (levels or {}).items() if language in languages), default=0.0)


Candidates = list[tuple[PlaceRecord, bool]]


def in_crisis_countries(candidates: Candidates, countries: frozenset[str]) -> Candidates:
    """A name that a place of the crisis's countries bears is that place: the homonyms abroad go. Countries and
    continents stay, since "Mexico" is the country before a town called Mexico."""
    if not countries or not any(place.country_code in countries for place, _ in candidates):
        return candidates
    return [(p, primary) for p, primary in candidates if p.country_code in countries or p.kind in (COUNTRY, CONTINENT)]


def _contains(container: PlaceRecord, place: PlaceRecord) -> bool:
    if SPECIFICITY[place.kind] <= SPECIFICITY[container.kind]:
        return False
    if container.kind == CITY:  # "Magnolia, Seattle": a neighbourhood of the city
        return haversine_km(place.lat, place.lon, container.lat, container.lon) <= max(2 * container.radius_km, 15)
    return place.inside(container)


def constrain_by_container(inner: Candidates, outer: Candidates) -> tuple[Candidates, Candidates]:
    """ "Town, ST", "Town, County", "City, Country", "Quarter, City": the first name must lie in the second.

    The readings of each that fit together are kept. When none fits and the second is only a region or country
    ("Long Beach, MS" where no Long Beach lies in the state read), the first's town readings go; when the second
    may be a town, the two may be a list ("Houston, Dallas") and nothing is constrained.
    """
    containers = [c for c in outer if c[0].kind in (*CONTAINER_KINDS, CITY)]
    fits = [c for c in inner if any(_contains(k[0], c[0]) for k in containers)]
    if fits:
        kept = [k for k in containers if any(_contains(k[0], c[0]) for c in fits)]
        return fits, kept
    if outer and all(c[0].kind in CONTAINER_KINDS for c in outer):
        broadest = min(SPECIFICITY[c[0].kind] for c in outer)
        return [c for c in inner if SPECIFICITY[c[0].kind] <= broadest], outer
    return inner, outer


def _source_key(mention: Mention) -> tuple:
    return mention.source, mention.ref


def adjacent_containers(mentions: list[Mention], texts: dict[tuple, str]) -> list[tuple[int, int]]:
    """(inner, outer) positions of mentions written "Inner, Outer", "Inner (Outer)" or "Inner OUTER-CODE"."""
    pairs = []
    for n in range(len(mentions) - 1):
        a, b = mentions[n], mentions[n + 1]
        if _source_key(a) != _source_key(b) or b.start < a.end:
            continue
        gap = texts.get(_source_key(a), "")[a.end : b.start].strip()
        code = b.text.isupper() and len(b.text.replace(".", "")) <= 3
        if gap in CONTAINER_SEPARATORS or (not gap and code):
            pairs.append((n, n + 1))
    return pairs


def score_mentions(
    mentions: list[Mention],
    context: CrisisContext,
    *,
    common: dict[str, dict[str, float]] | None = None,
    texts: dict[tuple, str] | None = None,
) -> list[list[Scored]]:
    """Top candidates of each gazetteer mention, best first.

    Hard constraints first: the crisis's countries (a homonym abroad never wins over a place of the crisis), an
    adjacent container ("Katy, TX") and a region or county named elsewhere in the post. Then the score of each
    remaining reading, in two passes: the second adds consistency with what the other mentions resolve to.

    ``common`` maps names that are also ordinary words to their frequency per language: in the crisis's languages
    such a name counts as a small town only with support from the crisis prior ("Paradise" during the Camp Fire,
    never "Note" or "Church"; "Ponte" in a Portuguese post is a bridge, not the Italian village).
    """
    common = common or {}
    readings = [in_crisis_countries(m.candidates, context.countries) for m in mentions]
    # Mentions whose every reading lies in the region or country written next to them, unless the mention is a
    # region's own name: "Kansas, Oklahoma and Texas" is a list of states, not the village of Kansas, Oklahoma.
    confirmed = set()
    for inner, outer in adjacent_containers(mentions, texts or {}):
        a_region = _names_a_region(readings[inner])
        readings[inner], readings[outer] = constrain_by_container(readings[inner], readings[outer])
        written = [place for place, _ in readings[outer] if place.kind in CONTAINER_KINDS]
        if readings[inner] and not a_region and all(any(_contains(w, c[0]) for w in written) for c in readings[inner]):
            confirmed.add(inner)
    regions = [
        [place for place, _ in r] for r in readings if r and all(place.kind in (ADMIN1, ADMIN2) for place, _ in r)
    ]
    for n, reading in enumerate(readings):
        elsewhere = [place for m, places in enumerate(regions) if readings[m] is not reading for place in places]
        inside = [c for c in reading if any(_contains(region, c[0]) for region in elsewhere)]
        if inside and len(inside) < len(reading):
            readings[n] = inside + [c for c in reading if c[0].kind in CONTAINER_KINDS and c not in inside]

    # The countries each mention's country and region readings name: a place abroad is plausible when the post
    # names its country or one of its regions too ("Yokota aids Japan"), by another name than its own.
    named = [{place.country_code for place, _ in r if place.kind in (COUNTRY, ADMIN1)} for r in readings]
    first_pass: list[list[Scored]] = []
    for n, (mention, reading) in enumerate(zip(mentions, readings, strict=True)):
        level = common_word_level(common.get(mention.key), context.languages)
        containers = [place for place, _ in reading if place.kind in (COUNTRY, ADMIN1)]
        names_a_region = _names_a_region(reading)
        named_elsewhere = set().union(*(codes for m, codes in enumerate(named) if mentions[m].key != mention.key))
        scored = []
        for place, is_primary in reading:
            p, why = prior(place, context)
            minor = place.kind in (CITY, LOCAL) and place.population < MINOR_POPULATION
            # "Hollywood, Florida" is the town, however ordinary a word its name is
            if minor and level and n not in confirmed and (p == 0 or (level >= VERY_COMMON_ZIPF and why != "in_area")):
                continue
            if _word_for_a_town(place, is_primary, level) and n not in confirmed and why != "in_area":
                continue
            if level and p == 0 and context.countries and _word_region(place, is_primary, mention.text):
                continue
            if p == 0 and context.area is None and _stray_abroad(place, is_primary, context, named_elsewhere, level):
                continue
            score = p + importance(place) + PRIMARY_NAME * is_primary
            reasons = {"prior": why, "importance": round(importance(place), 2), "primary": is_primary}
            if place.kind in (CITY, ADMIN2) and (
                (
                    any(container.kind == COUNTRY or not _contains(container, place) for container in containers)
                    and not (is_primary and place.population >= SHADOW_EXEMPT_POPULATION)
                )
                # "Maryland" is the state, not Maryland City inside it, whose other name it is
                or (names_a_region and not is_primary and place.population < SHADOW_EXEMPT_POPULATION)
            ):
                score -= SHADOWED
                reasons["shadowed"] = True
            elif context.located is not None and place.kind in SUPPORTED_KINDS:
                # Not for a town read from a country's or region's name (a capital that bears its country's name
                # as another name): the support chooses among namesakes, never against the country.
                support = context.located.support(place.lat, place.lon)
                if support:
                    score += CRISIS_SUPPORT * support
                    reasons["crisis_support"] = round(support, 2)
            scored.append(Scored(place, is_primary, score, reasons))
        scored.sort(key=lambda s: -s.score)
        first_pass.append(scored)
    # Only the other names count: a mention's own top reading ("Maryland" the state) would make its namesake inside
    # it ("Maryland City", whose other name is "Maryland") look confirmed by the post.
    tops = [(mention.key, scored[0].place) for mention, scored in zip(mentions, first_pass, strict=True) if scored]
    for mention, scored in zip(mentions, first_pass, strict=True):
        others = [place for key, place in tops if key != mention.key]
        for s in scored:
            if any(_near(s.place, other) for other in others if other.place_id != s.place.place_id):
                s.score += CONSISTENT
                s.reasons["consistent"] = True
        scored.sort(key=lambda s: -s.score)
        del scored[TOP_CANDIDATES:]
    return first_pass


def _names_a_region(reading: Candidates) -> bool:
    """Whether the mention is a country's or a region's own name (not one of its other names)."""
    return any(primary and place.kind in (COUNTRY, ADMIN1) for place, primary in reading)


def _stray_abroad(place: PlaceRecord, is_primary: bool, context: CrisisContext, named: set[str], level: float) -> bool:
    """Abroad, with nothing else in the post pointing to its country: a small town (a namesake of a village the
    gazetteer lacks), a town read by one of its other names ("Sams" is Samsun's; a great city's, like "Bombay",
    stays unless the post names another country abroad: "the Kali Gandaki River in Nepal" is no Cali, Colombia) or
    a region named by a very common word ("Rose", "Centre") is no guess worth a pin. Only without a drawn area: with
    one, places outside it are only ever shown as flagged candidates."""
    if not context.countries or place.country_code in context.countries or place.country_code in named:
        return False
    if place.kind in (CITY, LOCAL):
        another_country_named = bool(named - context.countries)
        by_other_name = not is_primary and (place.population < SHADOW_EXEMPT_POPULATION or another_country_named)
        return place.population < MINOR_POPULATION or by_other_name
    return place.kind in (ADMIN1, ADMIN2) and level >= VERY_COMMON_ZIPF


def _word_for_a_town(place: PlaceRecord, is_primary: bool, level: float) -> bool:
    """A town read only by one of its other names, where that name is a very common word of the crisis's languages:
    "bairro Mathias Velho" is old Mathias's neighbourhood, not Porto Velho, which some call "Velho". A great city's
    other name ("Rio") stays."""
    return (
        place.kind in (CITY, LOCAL)
        and not is_primary
        and level >= VERY_COMMON_ZIPF
        and place.population < SHADOW_EXEMPT_POPULATION
    )


def _word_region(place: PlaceRecord, is_primary: bool, text: str) -> bool:
    """A region or county read from an ordinary word: by one of its other names ("Hello", "Wall", "Line" are
    alternate names of regions abroad) or written in lowercase ("centre", "pool", "acre"). Outside the crisis's
    countries such a reading is the word, not the place."""
    return place.kind in (ADMIN1, ADMIN2) and (not is_primary or text == text.lower())


def calibrated_radius_km(place: PlaceRecord) -> float:
    """The 68% radius of a pin on this place (see RADIUS_FACTOR); a geocoder's answer keeps its own extent and a
    ZIP its own estimate (postal.py)."""
    if place.place_id < 0 or isinstance(place, ZipPlace):
        return place.radius_km
    return round(max(0.05, place.radius_km * RADIUS_FACTOR.get(place.kind, 1.0)), 3)


def _candidate_dict(s: Scored, mention: Mention) -> dict:
    return {
        "name": s.place.name,
        "kind": s.place.kind,
        "country_code": s.place.country_code,
        "lat": round(s.place.lat, 6),
        "lon": round(s.place.lon, 6),
        "radius_km": calibrated_radius_km(s.place),
        "score": round(s.score, 3),
        "mention": mention.text,
        "source": mention.source,
        "reasons": s.reasons,
        "place_id": s.place.place_id if s.place.place_id > 0 else None,
    }


Option = tuple[float, Scored, Mention]


def choose(options: list[Option], order: dict[int, int]) -> Option:
    """The best option by value, except that a place inside it, named in the same post with confidence, is more
    useful than the region or country: "Mati, #Greece" is Mati, "Omaha, Nebraska" is Omaha. The most specific such
    place wins, from the most trusted text (the post before OCR), the first named among equals."""
    best = options[0]
    if best[1].place.kind not in CONTAINER_KINDS:
        return best
    inside = [o for o in options[1:] if o[1].score >= CONFIDENT_SCORE and _contains(best[1].place, o[1].place)]
    if not inside:
        return best
    return max(inside, key=lambda o: (SPECIFICITY[o[1].place.kind], o[2].weight, -order.get(id(o[2]), 0), o[0]))


TOWN_KINDS = (CITY, LOCAL, ADMIN2)


def choose_postal(postal: list[Option], scored: list[list[Scored]], chosen: Option | None) -> Option | None:
    """The ZIP that is the post's point, if any: an address is the most precise thing a post says. The first ZIP
    written wins over the place chosen among the named ones, unless that place is a town or county and no town or
    county the post names (in any of its readings) lies within the ZIP's reach: then the ZIP contradicts the post
    ("Port Arthur, TX 77002" is Port Arthur; 77002 is in Houston) and is ignored, a typo being likelier than a
    wrong town. A region or country chosen never contradicts: the ZIP's state was checked against the text. A street
    the geocoder found stands when it lies within the ZIP's reach (it is more precise) and yields when it does not
    (a namesake of the street written)."""
    if not postal:
        return None
    if chosen is None:
        return postal[0]
    place = chosen[1].place
    if place.place_id < 0:
        return None if any(zip_agrees(option[1].place, place) for option in postal) else postal[0]
    if place.kind not in TOWN_KINDS:
        return postal[0]
    towns = [s.place for readings in scored for s in readings if s.place.kind in TOWN_KINDS and s.place.place_id > 0]
    for option in postal:
        if any(zip_agrees(option[1].place, town) for town in towns):
            return option
    return None


@dataclass
class PreparedPost:
    """A post's mentions, scored readings and options before one is chosen."""

    mentions: list[Mention]
    places: list[Mention]  # the mentions with gazetteer readings, in the order of ``scored``
    scored: list[list[Scored]]
    options: list[Option]  # best value first; with a drawn area, only those in or near it
    outside: list[Option]  # with a drawn area: every option, when none lies in or near it
    spans: list[dict]
    provenance: dict
    texts: dict[tuple, str]
    pairs: list[tuple[Mention, Mention]]  # "Inner, Outer" written side by side
    postal: list[Option] = field(default_factory=list)  # ZIP codes (postal.py), first written first; never options


class GeoLocator:
    """Recognise and resolve the places of one post. Pure computation: the caller brings the geocoder."""

    def __init__(self, recognizer: Recognizer, *, selector: "OptionSelector | None" = None):
        self.recognizer = recognizer
        self.index = recognizer.index
        self.selector = selector

    def context(
        self,
        *,
        name: str,
        countries: list[str] | frozenset[str] = (),
        area_geojson: dict | None = None,
        hashtags: list[str] = (),
        keywords: list[str] = (),
        languages: list[str] = (),
        located: CrisisPlaces | None = None,
    ) -> CrisisContext:
        countries = frozenset(code.upper() for code in countries)
        spoken = frozenset({"en", *(code.split("-")[0].lower() for code in languages)})
        area = Area.from_geojson(area_geojson)

        def is_crisis_place(key: str) -> bool:
            return any(
                place.country_code in countries or (area is not None and area.contains(place.lat, place.lon))
                for place, _ in self.index.lookup(key)
                if place.kind != CONTINENT
            )

        stop_keys = crisis_stop_keys(self.recognizer, texts=[name, *hashtags, *keywords], keep=is_crisis_place)
        if area is not None:
            fallback, label = (*area.centre, area.radius_km), "crisis_area"
        else:
            fallback, label = self._countries_fallback(countries)
        return CrisisContext(name, countries, area, stop_keys, fallback, label, spoken, located)

    def _countries_fallback(self, countries: frozenset[str]) -> tuple[tuple[float, float, float], str]:
        places = [p for p in self.index.of_kind(COUNTRY) if p.country_code in countries]
        if not places:
            return (0.0, 0.0, WORLD_RADIUS_KM), "world"
        lat = sum(p.lat for p in places) / len(places)
        lon = sum(p.lon for p in places) / len(places)
        radius = max(haversine_km(lat, lon, p.lat, p.lon) + p.radius_km for p in places)
        return (lat, lon, round(radius, 1)), "crisis_countries"

    @staticmethod
    def fallback_point(context: CrisisContext) -> tuple[float, float, float, bool]:
        """(lat, lon, 68% radius, from located posts) of a post that names no usable place. Without a drawn area,
        the densest part of the crisis's located posts is a better guess than the middle of its countries (the
        coast a hurricane struck, not the middle of the continent)."""
        centre = context.located.centre() if context.area is None and context.located is not None else None
        if centre is not None:
            return *centre, True
        lat, lon, radius = context.fallback
        return lat, lon, min(WORLD_RADIUS_KM, radius * FALLBACK_RADIUS_FACTOR), False

    def _fallback(self, context: CrisisContext, *, reason: str, spans, provenance, candidates=()) -> GeolocationResult:
        lat, lon, radius, from_posts = self.fallback_point(context)
        if from_posts:  # still a flagged fallback, with the radius that holds 68% of those posts
            provenance = {**provenance, "fallback": "centre of the crisis's located posts"}
        return GeolocationResult(
            lat=lat,
            lon=lon,
            radius_km=round(radius, 1),
            method=context.fallback_label,
            is_fallback=True,
            score=0.0,
            candidates=list(candidates),
            spans=spans,
            provenance={**provenance, "reason": reason},
        )

    def prepare(
        self,
        sources: list[SourceText],
        context: CrisisContext,
        *,
        geocode: Callable[[str], list[GeocodedPlace]] | None = None,
    ) -> "PreparedPost":
        """Recognise and score the post's mentions: the options its point is chosen from, best value first (with
        a drawn area, only those in or near it), and the spans and provenance of the answer."""
        mentions = self.recognizer.recognize(
            sources, stop_keys=context.stop_keys, countries=context.countries, languages=context.languages
        )
        texts = {(source.kind, source.ref): source.text for source in sources}
        places = [m for m in mentions if m.candidates and m.label != POSTAL]
        scored = score_mentions(places, context, common=self.index.common, texts=texts)
        postal = [self._postal_option(m, context) for m in mentions if m.label == POSTAL]
        options: list[Option] = [
            ((s[0].score + SPECIFICITY_BONUS.get(s[0].place.kind, 0.0)) * m.weight, s[0], m)
            for m, s in zip(places, scored, strict=True)
            if s
        ]
        geocoded = self._geocode(mentions, options, context, geocode) if geocode else []
        options += geocoded
        resolved = {id(m): s[0].place for m, s in zip(places, scored, strict=True) if s}
        resolved.update({id(m): s.place for _, s, m in geocoded})
        resolved.update({id(m): s.place for _, s, m in postal})
        spans = []
        for m in mentions:
            span = {"source": m.source, "ref": m.ref, "start": m.start, "end": m.end, "text": m.text, "label": m.label}
            if id(m) in resolved:
                place = resolved[id(m)]
                span.update(lat=round(place.lat, 6), lon=round(place.lon, 6), place=place.name, kind=place.kind)
            spans.append(span)
        provenance = {
            "matcher": self.recognizer.matcher,
            "sources": sorted({source.kind for source in sources if source.text}),
            "stop_words": sorted(context.stop_keys),
            "geocoded": [g[2].text for g in geocoded],
        }
        options.sort(key=lambda option: -option[0])
        outside: list[Option] = []
        if context.area is not None and options:
            # A pin outside the drawn area is no confident guess ("Orem por nós" is a prayer, not Orem, Utah;
            # "muro da Mauá" is the avenue's wall, not Mauá 800 km away): the places named inside or near the area
            # compete among themselves, and when there are none the flagged crisis area stands, with the places
            # named shown as candidates marked outside it.
            near = [o for o in options if o[1].reasons.get("prior") in ("in_area", "near_area")]
            if not near:
                options, outside = [], options
            else:
                options = near
        if context.area is not None:  # as for the named places: a ZIP far from the drawn area is no pin
            postal = [o for o in postal if o[1].reasons.get("prior") in ("in_area", "near_area")]
        pairs = [(places[a], places[b]) for a, b in adjacent_containers(places, texts)]
        return PreparedPost(mentions, places, scored, options, outside, spans, provenance, texts, pairs, postal)

    @staticmethod
    def _postal_option(mention: Mention, context: CrisisContext) -> Option:
        """A ZIP scored like a place (prior, importance of a locality, primary name), for its value among the
        candidates; whether it is the post's point is decided by ``choose_postal``, not by its value. ZIPs stay out
        of the options: the selector was trained without them."""
        place = mention.candidates[0][0]
        p, why = prior(place, context)
        score = p + IMPORTANCE[LOCAL] + PRIMARY_NAME
        reasons = {"prior": why, "zip": place.zip_code, "state": place.state}
        return (score + SPECIFICITY_BONUS[LOCAL]) * mention.weight, Scored(place, True, score, reasons), mention

    def option_features(self, post: "PreparedPost"):
        """The selector's feature rows of the post's options (selector.FEATURES), in the order of ``options``."""
        from classification.geolocation.selector import OptionView, option_features

        position = {id(m): n for n, (_, _, m) in enumerate(post.options)}
        views = [
            OptionView(value, s.place, s.score, s.reasons, m, post.texts.get(_source_key(m), ""))
            for value, s, m in post.options
        ]
        pairs = {(position[id(a)], position[id(b)]) for a, b in post.pairs if id(a) in position and id(b) in position}
        return option_features(views, pairs=pairs, contains=lambda inner, outer: _contains(outer, inner))

    def choose_option(self, post: "PreparedPost") -> Option:
        """The post's option: a ZIP written in it unless it contradicts the named place chosen (``choose_postal``);
        else the learned selector's pick when one is loaded and there is a choice, else the rules' (the best
        value, or the most specific confident place named inside it)."""
        named = self._choose_named(post) if post.options else None
        return choose_postal(post.postal, post.scored, named) or named

    def _choose_named(self, post: "PreparedPost") -> Option:
        if self.selector is not None and len(post.options) > 1:
            return post.options[self.selector.best(self.option_features(post))]
        return choose(post.options, {id(m): n for n, m in enumerate(post.mentions)})

    def locate(
        self,
        sources: list[SourceText],
        context: CrisisContext,
        *,
        geocode: Callable[[str], list[GeocodedPlace]] | None = None,
    ) -> GeolocationResult:
        post = self.prepare(sources, context, geocode=geocode)
        spans, provenance = post.spans, post.provenance
        if post.outside and not post.postal:
            candidates = [{**_candidate_dict(s, m), "outside_area": True} for _, s, m in post.outside[:TOP_CANDIDATES]]
            return self._fallback(
                context,
                reason="every place named is outside the crisis area",
                spans=spans,
                provenance=provenance,
                candidates=candidates,
            )
        if not post.options and not post.postal:
            return self._fallback(context, reason="no place recognised", spans=spans, provenance=provenance)
        options = post.options
        value, best, mention = self.choose_option(post)
        if self.selector is not None:
            provenance["selector"] = self.selector.metadata.get("version", "learned")
        if post.postal:  # which ZIP was read, and whether it was the point or contradicted the named place
            used = mention.label == POSTAL
            provenance["postal"] = {"zip": (best if used else post.postal[0][1]).place.zip_code, "used": used}
        candidates, seen = [], set()
        for _, s, m in [(value, best, mention), *post.postal, *options]:
            if (s.place.lat, s.place.lon) not in seen:
                seen.add((s.place.lat, s.place.lon))
                candidates.append(_candidate_dict(s, m))
        for m, s in zip(post.places, post.scored, strict=True):  # runners-up of the chosen mention
            if m is mention:
                for alternative in s[1:]:
                    if (alternative.place.lat, alternative.place.lon) not in seen:
                        seen.add((alternative.place.lat, alternative.place.lon))
                        candidates.append(_candidate_dict(alternative, m))
        for span in spans:
            span["chosen"] = span["start"] == mention.start and span["source"] == mention.source
        return GeolocationResult(
            lat=best.place.lat,
            lon=best.place.lon,
            radius_km=calibrated_radius_km(best.place),
            method="geocoder" if best.place.place_id < 0 else "gazetteer",
            is_fallback=False,
            score=round(value, 3),
            candidates=candidates[:TOP_CANDIDATES],
            spans=spans,
            provenance=provenance,
        )

    def _geocode(self, mentions, options, context: CrisisContext, geocode) -> list[Option]:
        """Streets and landmarks, qualified by the best resolved town or region ("Westheimer Road, Houston"),
        searched within the crisis area; without a town, within the area alone."""
        towns = [s.place for _, s, _ in sorted(options, key=lambda o: -o[0]) if s.place.kind in (CITY, ADMIN2, ADMIN1)]
        found = []
        for n, mention in enumerate(m for m in mentions if m.label in ("STREET", "FAC")):
            query = f"{mention.text}, {towns[0].name}" if towns else mention.text
            for result in geocode(query)[:1]:
                place = PlaceRecord(-(n + 1), LOCAL, result.name, "", result.lat, result.lon, 0, result.radius_km)
                p, why = prior(place, context)
                consistent = any(_near(place, town) for town in towns[:1])
                score = p + IMPORTANCE[LOCAL] + CONSISTENT * consistent
                reasons = {"prior": why, "geocoded": query, "consistent": consistent}
                if context.area is not None and why not in ("in_area", "near_area"):
                    continue  # the server was asked for the crisis area; anything else is a stray result
                value = (score + SPECIFICITY_BONUS[LOCAL]) * mention.weight
                found.append((value, Scored(place, True, score, reasons), mention))
        return found
