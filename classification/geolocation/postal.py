"""US ZIP codes written in a post ("Port Arthur, TX 77640"): the ZIP's centroid with a ZIP-sized radius, offline.

The data is the ``zipcodes`` package (the US Postal Service's ZIP list with centroids, compiled into its wheel; no
network). It is queried only for a number that may be a ZIP in context, so a worker that never sees one pays
nothing. A five-digit number is a ZIP only in context, never bare ("text REDCROSS to 30333", "80000 evacuated"):
right after a state's code or name that agrees with the ZIP ("TX 77640", "Texas 77640"), after the ZIP's own town
("Houston 77084"), or after the words "zip", "zip code" or "postal code". Only US ZIPs (and those of its
territories) are read: other countries' postal codes would need another data source (classification/README.md).

Radius. The package gives no ZIP areas. A ZIP's 68% radius is half the mean distance from its centroid to the three
nearest other ZIP centroids, within 1-30 km: ZIPs tile the land, so in a regular tiling with spacing d a ZIP's cell
is a hexagon whose inscribed circle has radius d/2 and holds 91% of the cell (a point spread evenly over it is
within 0.43 d of the centre with probability 0.68). Real ZIPs are irregular and their centroids not always central,
so the share is lower by an amount that cannot be measured without posts annotated with their true addresses.
"""

import functools
import re
from dataclasses import dataclass

from classification.geolocation.gazetteer import LOCAL, PlaceRecord
from classification.geolocation.geo import haversine_km

# Where the data says a ZIP is: only STANDARD ZIPs that are in use. A PO box's, an organisation's (UNIQUE) or a
# military ZIP is a mailing address, not where anything happened ("send donations to PO Box 9, Houston TX 77001").
USABLE_TYPES = frozenset({"STANDARD"})
NEIGHBOURS = 3  # the radius is half the mean distance to this many nearest other ZIP centroids
MIN_RADIUS_KM = 1.0  # package coordinates have four decimals; a city block is no finer a guess than a ZIP
MAX_RADIUS_KM = 30.0  # the largest stated radius of a town (60 km size x 0.5): a ZIP is never vaguer than a town
DUPLICATE_KM = 0.05  # ZIPs that share a centroid are no neighbours of each other
SEARCH_MILES = (10.0, 40.0, 160.0)  # circles searched for neighbours; none within 160 miles: MAX_RADIUS_KM

# Territories written like states carry their own ISO country code (the crisis's countries are ISO codes).
TERRITORY_COUNTRIES = {"PR": "PR", "VI": "VI", "GU": "GU", "AS": "AS", "MP": "MP", "FM": "FM", "MH": "MH", "PW": "PW"}
STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN", "texas": "TX",
    "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR", "virgin islands": "VI", "guam": "GU",
    "american samoa": "AS", "northern mariana islands": "MP",
}  # fmt: skip
STATE_CODES = frozenset(STATE_NAMES.values())

# Five digits, optionally ZIP+4, not inside a longer number, a handle, a hashtag, an amount or a decimal.
_ZIP = re.compile(r"(?<![\w@#$€£+./-])(\d{5})(?:-\d{4})?(?![\w%€$£]|[.,]\d)")
_WINDOW = 40  # characters before the number that may hold its context
# A state code in capitals or title case ("TX", "Tx"), then an optional dot or comma: "Port Arthur, TX 77640".
_STATE_CODE_BEFORE = re.compile(r"(?<![\w.])([A-Z][A-Za-z])\.?,?\s+$")
_STATE_NAME_BEFORE = re.compile(
    r"(?<![\w])(" + "|".join(sorted(map(re.escape, STATE_NAMES), key=len, reverse=True)) + r"),?\s+$",
    re.IGNORECASE,
)
_CAPITALISED_BEFORE = re.compile(r"[A-Z][\w.'-]*,?\s+$")  # a word that may be the ZIP's town: "Houston 77084"
_KEYWORD_BEFORE = re.compile(r"(?<![\w])(?:zip|zip\s*code|zipcode|postal\s*code|post\s*code)s?\s*[:#-]?\s*$", re.I)


@dataclass(frozen=True, slots=True)
class ZipPlace(PlaceRecord):
    """A ZIP as a place the resolver can compare with towns; ``radius_km`` is already the 68% radius."""

    zip_code: str = ""
    state: str = ""


@dataclass(frozen=True)
class ZipMention:
    start: int  # offsets of the ZIP (ZIP+4 included) in the text
    end: int
    place: ZipPlace


@dataclass(frozen=True)
class ZipRecord:
    zip_code: str
    lat: float
    lon: float
    state: str
    town: str  # the Postal Service's name of the ZIP's town
    towns: tuple[str, ...]  # that name and the others it accepts for the ZIP, lowercase
    radius_km: float


def _usable(row: dict) -> bool:
    return (
        row["zip_code_type"] in USABLE_TYPES
        and bool(row["active"])
        and (float(row["lat"] or 0), float(row["long"] or 0)) != (0, 0)
    )


def _query(zip_code: str) -> list[dict]:
    """The package's rows for a ZIP. Imported and queried only here: the package parses its data on the first
    query (~0.4 s, ~40-55 MB), so a worker that never sees a ZIP in context pays nothing."""
    import zipcodes

    return zipcodes.matching(zip_code)


def _nearby(lat: float, lon: float, miles: float) -> list[dict]:
    import zipcodes

    return zipcodes.filter_by_coordinates(lat, lon, miles)


@functools.lru_cache(maxsize=4096)
def zip_record(zip_code: str) -> ZipRecord | None:
    """A ZIP that exists, is in use and is a place (a STANDARD ZIP), with its radius; None otherwise."""
    rows = [row for row in _query(zip_code) if _usable(row)]
    if not rows:
        return None
    row = rows[0]
    lat, lon = float(row["lat"]), float(row["long"])
    towns = tuple(name.lower() for name in [row["city"], *row.get("acceptable_cities", [])] if name)
    return ZipRecord(zip_code, lat, lon, row["state"], row["city"], towns, _radius_km(lat, lon, zip_code))


def _radius_km(lat: float, lon: float, zip_code: str) -> float:
    """Half the mean distance to the NEIGHBOURS nearest other ZIP centroids (searched in growing circles)."""
    for miles in SEARCH_MILES:
        distances = [
            haversine_km(lat, lon, float(row["lat"]), float(row["long"]))
            for row in _nearby(lat, lon, miles)
            if row["zip_code"] != zip_code and _usable(row)
        ]
        distances = [d for d in distances if d > DUPLICATE_KM]
        if len(distances) >= NEIGHBOURS:
            return radius_from_neighbours(distances)
    return MAX_RADIUS_KM


def radius_from_neighbours(distances_km: list[float]) -> float:
    """A ZIP's 68% radius from the distances to other ZIP centroids: half the mean of the NEIGHBOURS nearest,
    within MIN_RADIUS_KM and MAX_RADIUS_KM (see the module's docstring)."""
    nearest = sorted(distances_km)[:NEIGHBOURS]
    if len(nearest) < NEIGHBOURS:
        return MAX_RADIUS_KM
    return round(min(MAX_RADIUS_KM, max(MIN_RADIUS_KM, sum(nearest) / len(nearest) / 2)), 2)


def country_of(state: str) -> str:
    return TERRITORY_COUNTRIES.get(state, "US")


def reads_zip_codes(countries: frozenset[str]) -> bool:
    """ZIPs are read for a crisis with no countries set or with the US or one of its territories among them."""
    return not countries or bool(countries & {"US", *TERRITORY_COUNTRIES.values()})


def find_zip_codes(text: str, *, countries: frozenset[str] = frozenset()) -> list[ZipMention]:
    """The ZIPs written in context in ``text`` that exist, are in use and agree with the state or town before them;
    only those of the crisis's countries (any, when it has none)."""
    if not reads_zip_codes(countries):
        return []
    found = []
    for match in _ZIP.finditer(text):
        before = text[max(0, match.start() - _WINDOW) : match.start()]
        state, context = _state_before(before)
        if context is None and _KEYWORD_BEFORE.search(before):
            context = "keyword"
        if context is None and not _CAPITALISED_BEFORE.search(before):
            continue  # "text REDCROSS to 30333", "80000 evacuated": not even a town before it, so no query
        record = zip_record(match.group(1))
        if record is None or (state is not None and state != record.state):
            continue  # no such ZIP in use, or the state written before it is not the ZIP's
        if context is None and _town_before(before, record.towns):
            context = "town"
        if context is None or (countries and country_of(record.state) not in countries):
            continue
        place = ZipPlace(
            0,
            LOCAL,
            f"{record.town}, {record.state} {record.zip_code}",
            country_of(record.state),
            record.lat,
            record.lon,
            0,
            record.radius_km,
            zip_code=record.zip_code,
            state=record.state,
        )
        found.append(ZipMention(match.start(), match.end(), place))
    return found


def _state_before(before: str) -> tuple[str | None, str | None]:
    """(state code, "state") when a state's code or name ends the text before the number, else (None, None)."""
    code = _STATE_CODE_BEFORE.search(before)
    if code and code.group(1).upper() in STATE_CODES:
        return code.group(1).upper(), "state"
    name = _STATE_NAME_BEFORE.search(before)
    if name:
        return STATE_NAMES[" ".join(name.group(1).lower().split())], "state"
    return None, None


def _town_before(before: str, towns: tuple[str, ...]) -> bool:
    """Whether the text before the number ends with one of the ZIP's own town names ("Houston 77084")."""
    tail = before.rstrip().rstrip(",").rstrip().lower()
    return any(tail.endswith(town) and not tail[: -len(town)][-1:].isalnum() for town in towns)


def zip_agrees(zip_place: PlaceRecord, place: PlaceRecord) -> bool:
    """Whether a ZIP lies within a named town's or county's reach: its centroid no farther from the place's point
    than the place's size plus twice the ZIP's radius (a ZIP's cell reaches ~1.2 times its radius from its centroid;
    twice leaves room for centroids that are not central)."""
    distance = haversine_km(zip_place.lat, zip_place.lon, place.lat, place.lon)
    return distance <= place.radius_km + 2 * zip_place.radius_km
