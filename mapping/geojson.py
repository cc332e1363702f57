"""A fast GeoJSON writer over ``.values_list()`` rows: f-strings and the C string escaper, no per-row objects.

The map endpoint serialises tens of thousands of points per request; a DRF serializer builds a dict per field per
row (``bench/bench_geojson.py`` measures the difference). Output is RFC 7946: [lon, lat], WGS84, no ``crs``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from json import dumps, loads
from json.encoder import encode_basestring as _quote  # the C implementation: escapes quotes, controls, U+2028

from django.conf import settings

from classification.geolocation.geo import Area, in_another_country, misses_area
from mapping.privacy import coarse_radius, grid_snap
from mapping.selectors import CrisisAccess
from mapping.trust import trust_key, trust_line

POPUP_TEXT_CHARS = 600


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "null"
    return f"{value:.{digits}f}"


def _str(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def iso_time(value: datetime | str | None) -> str:
    """ISO 8601 with its offset. ``selectors.fetch_raw`` on SQLite gives naive UTC datetimes (or UTC text)."""
    if value is None:
        return ""
    return as_datetime(value).isoformat()


def as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _time(value: datetime | str | None) -> str:
    return "null" if value is None else f'"{iso_time(value)}"'


def safe_url(url: str | None) -> str:
    """Only http(s) links leave the server: a ``javascript:`` URL in a crawled post stays out of every href."""
    if url and (url.startswith("https://") or url.startswith("http://")):
        return url
    return ""


def point_features(
    rows: Iterable[tuple], *, accesses: dict[int, CrisisAccess], image_url: str, bbox=None
) -> tuple[list[str], int]:
    """Features of crowd-verified points (``selectors.POINT_FIELDS`` rows) and how many rows were read.

    Points of coarse crises are snapped to the public grid and re-checked against ``bbox`` after snapping.
    ``image_url`` is the image route with ``{id}`` left to fill (str.replace is cheaper than reverse per row).
    """
    grid = settings.MAP_PUBLIC_GRID_M
    prefix, suffix = image_url.split("{id}")
    out = []
    read = 0
    lines: dict[tuple, str] = {}  # the popup's trust line per evidence key: few distinct ones per response
    for (
        media_id,
        crisis_id,
        lat,
        lon,
        r68,
        r95,
        precision,
        ambiguous,
        n_answers,
        review,
        _updated_at,
        text,
        url,
        source,
        posted_at,
        author,
        trusted,
        evidence,
    ) in rows:
        read += 1
        access = accesses[crisis_id]
        if not access.exact:
            lat, lon = grid_snap(lat, lon, grid)
            r68, r95 = coarse_radius(r68, grid), coarse_radius(r95, grid)
            if bbox is not None and not (bbox[1] <= lat <= bbox[3] and bbox[0] <= lon <= bbox[2]):
                continue
        if text and len(text) > POPUP_TEXT_CHARS:
            text = text[:POPUP_TEXT_CHARS] + "…"
        author_part = f',"author":{_str(author)}' if access.show_author else ""
        trust_part = (
            f',"trusted":{"true" if trusted else "false"},"verified_by":{verified_by(evidence, trusted, lines)}'
        )
        out.append(
            f'{{"type":"Feature","id":{media_id},"geometry":{{"type":"Point","coordinates":'
            f"[{lon:.6f},{lat:.6f}]}},"
            f'"properties":{{"layer":"verified","crisis":{_str(access.slug)},"hazard":"{access.hazard}",'
            f'"radius_m":{_num(r68)},"radius_95_m":{_num(r95)},"precision":"{precision}",'
            f'"ambiguous":{"true" if ambiguous else "false"},"answers":{n_answers},"review":"{review}",'
            f'"exact":{"true" if access.exact else "false"},"posted_at":{_time(posted_at)},'
            f'"source":{_str(source)},"url":{_str(safe_url(url))},'
            f'"text":{_str(text)},"image":"{prefix}{media_id}{suffix}"{author_part}{trust_part}}}}}'
        )
    return out, read


def verified_by(evidence: dict | str | None, trusted: bool = False, lines: dict | None = None) -> str:
    """Who verified the point, as JSON numbers (never volunteers' ids) and the popup's line in the active language
    (``mapping.trust``: "Verified by 3 volunteers, one with a track record; 40 correct checked answers").

    A raw cursor hands PostgreSQL's jsonb and SQLite's JSON text over unparsed, depending on the driver. ``lines``
    memoises the line per evidence key within one response.
    """
    if isinstance(evidence, str):
        evidence = loads(evidence or "{}")
    evidence = evidence or {}
    key = trust_key(evidence, trusted=bool(trusted))
    lines = {} if lines is None else lines
    line = lines.get(key)
    if line is None:
        line = lines[key] = trust_line(key)
    return (
        f'{{"volunteers":{int(evidence.get("volunteers", 0))},"with_record":{int(evidence.get("with_record", 0))},'
        f'"coordinators":{int(evidence.get("coordinators", 0))},"line":{_quote(line)},'
        f'"best_record":{int(evidence.get("best_record", 0))},"best_record_gold":'
        f'{int(evidence.get("best_record_gold", 0))},"checks":{int(evidence.get("checks", 0))},'
        f'"streetview":{"true" if evidence.get("streetview") else "false"},'
        f'"reviewed_by":{_str(str(evidence.get("reviewed_by") or ""))}}}'
    )


# Methods whose point is a place the text names (not the post's own coordinates, not a fallback).
NAMED_PLACE_METHODS = frozenset({"gazetteer", "geocoder"})


def _misses_crisis(
    access: CrisisAccess, area: Area | None, *, lat: float, lon: float, radius_km: float, method: str, country_code: str
) -> bool:
    """The volunteer page's rule (``tasks_app.apis.lease_payload``): a guess that does not reach the drawn area, or
    without one a named place in another country, is a namesake or another event's photo, not a lead."""
    if area is not None:
        return misses_area(area, lat=lat, lon=lon, radius_km=radius_km)
    return method in NAMED_PLACE_METHODS and in_another_country(country_code, access.country_codes)


def guess_features(
    rows: Iterable[tuple], *, accesses: dict[int, CrisisAccess], image_url: str, bbox=None
) -> tuple[list[str], int]:
    """Features of unverified text-derived guesses (``selectors.GUESS_FIELDS`` rows)."""
    grid = settings.MAP_PUBLIC_GRID_M
    prefix, suffix = image_url.split("{id}")
    areas = {crisis_id: Area.from_geojson(access.affected_area) for crisis_id, access in accesses.items()}
    out = []
    read = 0
    for media_id, crisis_id, lat, lon, radius_km, method, is_fallback, text, url, source, posted_at, author, cc in rows:
        read += 1
        access = accesses[crisis_id]
        outside = not is_fallback and _misses_crisis(
            access, areas[crisis_id], lat=lat, lon=lon, radius_km=radius_km, method=method, country_code=cc or ""
        )
        radius_m = radius_km * 1000.0
        if not access.exact:
            lat, lon = grid_snap(lat, lon, grid)
            radius_m = coarse_radius(radius_m, grid)
            if bbox is not None and not (bbox[1] <= lat <= bbox[3] and bbox[0] <= lon <= bbox[2]):
                continue
        if text and len(text) > POPUP_TEXT_CHARS:
            text = text[:POPUP_TEXT_CHARS] + "…"
        author_part = f',"author":{_str(author)}' if access.show_author else ""
        out.append(
            f'{{"type":"Feature","id":{media_id},"geometry":{{"type":"Point","coordinates":'
            f"[{lon:.6f},{lat:.6f}]}},"
            f'"properties":{{"layer":"text_guess","unverified":true,"crisis":{_str(access.slug)},'
            f'"hazard":"{access.hazard}","radius_m":{_num(radius_m)},"method":"{method}",'
            f'"fallback":{"true" if is_fallback else "false"},"outside":{"true" if outside else "false"},'
            f'"exact":{"true" if access.exact else "false"},'
            f'"posted_at":{_time(posted_at)},"source":{_str(source)},"url":{_str(safe_url(url))},'
            f'"text":{_str(text)},"image":"{prefix}{media_id}{suffix}"{author_part}}}}}'
        )
    return out, read


def feature_collection(features: list[str], **members) -> str:
    """A FeatureCollection with foreign members (``next``, ``since``, ``removed``...) serialised by json."""
    extra = "".join(f",{_quote(key)}:{dumps(value, default=str)}" for key, value in members.items())
    return f'{{"type":"FeatureCollection","features":[{",".join(features)}]{extra}}}'
