"""Resolution: an explicit score for each candidate place of each mention, then one point for the post.

score = prior (crisis area / countries) + importance (place type, population) + name (primary vs alternate)
        + consistency (near what the other mentions of the post resolve to)
The post's point is the best mention by score plus a bonus for specificity (a town beats its country) times the
weight of the text it came from (OCR text counts less). Nothing found: the crisis centre and radius, flagged.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from classification.geolocation.gazetteer import ADMIN1, CITY, CONTINENT, COUNTRY, LOCAL, PlaceRecord
from classification.geolocation.geo import Area, haversine_km
from classification.geolocation.recognizer import Mention, Recognizer, SourceText, crisis_stop_keys

# Weights of the scoring function, in one place so that tuning is visible (tuned on IDRISI-D English train).
PRIOR_IN_AREA = 3.0
PRIOR_NEAR_AREA = 1.5
PRIOR_IN_COUNTRY = 2.0
PRIOR_IN_COUNTRY_OUTSIDE_AREA = 1.0
IMPORTANCE = {CONTINENT: 0.2, COUNTRY: 1.2, ADMIN1: 1.0, LOCAL: 0.6}
PRIMARY_NAME = 0.4
CONSISTENT = 1.0
SHADOWED = 1.0  # a town named like a country or region of the same mention ("Mozambique", "Florida, PR")
SHADOW_EXEMPT_POPULATION = 1_000_000
MINOR_POPULATION = 200_000  # towns below this are dropped when their name is a common word, unless prior says
VERY_COMMON_ZIPF = 4.3  # wordfreq Zipf: "note", "church", "alliance": only inside the crisis area
SPECIFICITY_BONUS = {CONTINENT: -1.0, COUNTRY: 0.0, ADMIN1: 0.5, CITY: 0.9, LOCAL: 1.2}
TOP_CANDIDATES = 3
WORLD_RADIUS_KM = 20_015.0


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
    return IMPORTANCE.get(place.kind, 0.5)


def prior(place: PlaceRecord, context: CrisisContext) -> tuple[float, str]:
    area = context.area
    if area is not None:
        if place.kind in (CITY, LOCAL, ADMIN1) and area.contains(place.lat, place.lon):
            return PRIOR_IN_AREA, "in_area"
        if place.kind in (CITY, LOCAL, ADMIN1) and area.distance_km(place.lat, place.lon) <= area.radius_km:
            return PRIOR_NEAR_AREA, "near_area"
    if place.country_code and place.country_code in context.countries:
        return (PRIOR_IN_COUNTRY_OUTSIDE_AREA if area is not None else PRIOR_IN_COUNTRY), "in_country"
    return 0.0, ""


def _near(a: PlaceRecord, b: PlaceRecord) -> bool:
    if a.place_id == b.place_id:
        return False
    if a.kind == COUNTRY or b.kind == COUNTRY:
        return a.country_code == b.country_code and a.kind != b.kind
    return haversine_km(a.lat, a.lon, b.lat, b.lon) <= a.radius_km + b.radius_km


def common_word_level(levels: dict[str, float] | None, languages: frozenset[str]) -> float:
    """How ordinary a word the name is in the crisis's languages (highest Zipf frequency; 0 when it is not)."""
    return max((level for language, level in (levels or {}).items() if language in languages), default=0.0)


def score_mentions(
    mentions: list[Mention], context: CrisisContext, *, common: dict[str, dict[str, float]] | None = None
) -> list[list[Scored]]:
    """Top candidates of each gazetteer mention, best first (two passes: the second adds consistency).

    ``common`` maps names that are also ordinary words to their frequency per language: in the crisis's languages
    such a name counts as a small town only with support from the crisis prior ("Paradise" during the Camp Fire,
    never "Note" or "Church"; "Ponte" in a Portuguese post is a bridge, not the Italian village).
    """
    common = common or {}
    first_pass: list[list[Scored]] = []
    for mention in mentions:
        level = common_word_level(common.get(mention.key), context.languages)
        has_container = any(place.kind in (COUNTRY, ADMIN1) for place, _ in mention.candidates)
        scored = []
        for place, is_primary in mention.candidates:
            p, why = prior(place, context)
            minor = place.kind in (CITY, LOCAL) and place.population < MINOR_POPULATION
            if minor and level and (p == 0 or (level >= VERY_COMMON_ZIPF and why != "in_area")):
                continue
            score = p + importance(place) + PRIMARY_NAME * is_primary
            reasons = {"prior": why, "importance": round(importance(place), 2), "primary": is_primary}
            if (
                has_container
                and place.kind == CITY
                and not (is_primary and place.population >= SHADOW_EXEMPT_POPULATION)
            ):
                score -= SHADOWED
                reasons["shadowed"] = True
            scored.append(Scored(place, is_primary, score, reasons))
        scored.sort(key=lambda s: -s.score)
        first_pass.append(scored)
    tops = [scored[0].place for scored in first_pass if scored]
    for scored in first_pass:
        for s in scored:
            if any(_near(s.place, other) for other in tops if other.place_id != s.place.place_id):
                s.score += CONSISTENT
                s.reasons["consistent"] = True
        scored.sort(key=lambda s: -s.score)
        del scored[TOP_CANDIDATES:]
    return first_pass


def _candidate_dict(s: Scored, mention: Mention) -> dict:
    return {
        "name": s.place.name,
        "kind": s.place.kind,
        "country_code": s.place.country_code,
        "lat": round(s.place.lat, 6),
        "lon": round(s.place.lon, 6),
        "radius_km": s.place.radius_km,
        "score": round(s.score, 3),
        "mention": mention.text,
        "source": mention.source,
        "reasons": s.reasons,
        "place_id": s.place.place_id if s.place.place_id > 0 else None,
    }


class GeoLocator:
    """Recognise and resolve the places of one post. Pure computation: the caller brings the geocoder."""

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer
        self.index = recognizer.index

    def context(
        self,
        *,
        name: str,
        countries: list[str] | frozenset[str] = (),
        area_geojson: dict | None = None,
        hashtags: list[str] = (),
        keywords: list[str] = (),
        languages: list[str] = (),
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
        return CrisisContext(name, countries, area, stop_keys, fallback, label, spoken)

    def _countries_fallback(self, countries: frozenset[str]) -> tuple[tuple[float, float, float], str]:
        places = [p for p in self.index.places if p.kind == COUNTRY and p.country_code in countries]
        if not places:
            return (0.0, 0.0, WORLD_RADIUS_KM), "world"
        lat = sum(p.lat for p in places) / len(places)
        lon = sum(p.lon for p in places) / len(places)
        radius = max(haversine_km(lat, lon, p.lat, p.lon) + p.radius_km for p in places)
        return (lat, lon, round(radius, 1)), "crisis_countries"

    def locate(
        self,
        sources: list[SourceText],
        context: CrisisContext,
        *,
        geocode: Callable[[str], list[GeocodedPlace]] | None = None,
    ) -> GeolocationResult:
        mentions = self.recognizer.recognize(sources, stop_keys=context.stop_keys)
        places = [m for m in mentions if m.candidates]
        scored = score_mentions(places, context, common=self.index.common)
        options: list[tuple[float, Scored, Mention]] = [
            (s[0].score + SPECIFICITY_BONUS.get(s[0].place.kind, 0.0), s[0], m)
            for m, s in zip(places, scored, strict=True)
            if s
        ]
        options = [(value * mention.weight, s, mention) for value, s, mention in options]
        geocoded = self._geocode(mentions, options, context, geocode) if geocode else []
        options += geocoded
        spans = [
            {"source": m.source, "ref": m.ref, "start": m.start, "end": m.end, "text": m.text, "label": m.label}
            for m in mentions
        ]
        provenance = {
            "matcher": self.recognizer.matcher,
            "sources": sorted({source.kind for source in sources if source.text}),
            "stop_words": sorted(context.stop_keys),
            "geocoded": [g[2].text for g in geocoded],
        }
        if not options:
            lat, lon, radius = context.fallback
            return GeolocationResult(
                lat=lat,
                lon=lon,
                radius_km=radius,
                method=context.fallback_label,
                is_fallback=True,
                score=0.0,
                spans=spans,
                provenance={**provenance, "reason": "no place recognised"},
            )
        options.sort(key=lambda option: -option[0])
        if context.area is not None and not any(option[1].reasons.get("prior") for option in options):
            # Every place named lies outside the drawn area and the crisis's countries ("Orem por nós" is a
            # prayer, not Orem, Utah): a pin half a world away is worse than the flagged crisis area.
            lat, lon, radius = context.fallback
            return GeolocationResult(
                lat=lat,
                lon=lon,
                radius_km=radius,
                method=context.fallback_label,
                is_fallback=True,
                score=0.0,
                candidates=[_candidate_dict(s, m) for _, s, m in options[:TOP_CANDIDATES]],
                spans=spans,
                provenance={**provenance, "reason": "every place named is outside the crisis area and countries"},
            )
        value, best, mention = options[0]
        candidates, seen = [], set()
        for _, s, m in options:
            if (s.place.lat, s.place.lon) not in seen:
                seen.add((s.place.lat, s.place.lon))
                candidates.append(_candidate_dict(s, m))
        for m, s in zip(places, scored, strict=True):  # runners-up of the chosen mention
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
            radius_km=best.place.radius_km,
            method="geocoder" if best.place.place_id < 0 else "gazetteer",
            is_fallback=False,
            score=round(value, 3),
            candidates=candidates[:TOP_CANDIDATES],
            spans=spans,
            provenance=provenance,
        )

    def _geocode(self, mentions, options, context: CrisisContext, geocode) -> list[tuple[float, Scored, Mention]]:
        """Streets and landmarks, qualified by the best resolved town or region ("Westheimer Road, Houston")."""
        towns = [s.place for _, s, _ in sorted(options, key=lambda o: -o[0]) if s.place.kind in (CITY, ADMIN1)]
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
