"""Evaluation of text geolocation on tweets in the IDRISI-D format (text + gold location mentions).

Post level: the error of the post's point to the most specific gold mention. Mention level: which gold mentions the
recogniser found (precision, recall) and how far from the gold point each found mention resolved. Calibration: the
share of gold points inside the stated radius, which should be 68% (the radius is a 68% circle).
"""

import csv
import json
import math
import resource
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from classification.geolocation.geo import haversine_km
from classification.geolocation.recognizer import SourceText
from classification.geolocation.resolver import CrisisContext, GeoLocator

SPLIT_NAMES = frozenset({"train", "dev", "development", "valid", "validation", "test"})


@dataclass(frozen=True)
class GoldMention:
    start: int
    end: int
    lat: float
    lon: float


@dataclass(frozen=True)
class GoldPost:
    text: str
    lat: float  # the most specific gold mention (highest OSM place_rank), the place the post is about
    lon: float
    all_points: tuple[tuple[float, float], ...]  # every gold mention
    mentions: tuple[GoldMention, ...] = ()


@dataclass(frozen=True)
class CrisisSpec:
    """What a coordinator sets on a crisis: its countries and, optionally, a bounding box of the affected area."""

    countries: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat

    def area_geojson(self) -> dict | None:
        if self.bbox is None:
            return None
        west, south, east, north = self.bbox
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"type": "Polygon", "coordinates": [ring]}


class CrisesFileError(ValueError):
    pass


def _codes(value) -> tuple[str, ...]:
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value or [])
    return tuple(str(code).strip().upper() for code in items if str(code).strip())


def _bbox(value) -> tuple[float, float, float, float] | None:
    if value in (None, "", []):
        return None
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    try:
        west, south, east, north = (float(v) for v in items)
    except (TypeError, ValueError) as error:
        raise CrisesFileError(f"bbox must be min_lon,min_lat,max_lon,max_lat, got {value!r}") from error
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise CrisesFileError(f"bbox {value!r} is not min_lon,min_lat,max_lon,max_lat")
    return west, south, east, north


def read_crises(path: Path) -> dict[str, CrisisSpec]:
    """Per-crisis countries and bounding boxes from YAML (``event: {countries: [US], bbox: [...]}``) or CSV
    (columns ``event``, ``countries``, optional ``bbox``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and "event" not in rows[0]:
            raise CrisesFileError(f"{path}: the CSV needs an 'event' column")
        return {row["event"].strip(): CrisisSpec(_codes(row.get("countries")), _bbox(row.get("bbox"))) for row in rows}
    import yaml

    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise CrisesFileError(f"{path}: expected a mapping of event names to {{countries, bbox}}")
    specs = {}
    for event, entry in data.items():
        if isinstance(entry, (list, str)):
            entry = {"countries": entry}
        if not isinstance(entry, dict):
            raise CrisesFileError(f"{path}: {event}: expected countries and an optional bbox")
        specs[str(event)] = CrisisSpec(_codes(entry.get("countries")), _bbox(entry.get("bbox")))
    return specs


def crisis_name_of(path: Path) -> str:
    """The crisis a file belongs to: its folder (``<event>/train.jsonl``), or its own name (``<event>.jsonl``)."""
    return path.parent.name if path.stem.lower() in SPLIT_NAMES else path.stem


def find_jsonl(paths: Iterable[Path], *, splits: frozenset[str] = frozenset()) -> list[Path]:
    """Every ``*.jsonl`` under the given folders (and the given files), optionally only some splits."""
    files: list[Path] = []
    for path in paths:
        found = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        files += [f for f in found if not splits or f.stem.lower() in splits]
    return files


def read_idrisi(path: Path) -> list[GoldPost]:
    posts = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            points, mentions = [], []
            for mention in row.get("location_mentions") or []:
                osm = mention.get("osm_json") or {}
                if osm.get("lat") is None or osm.get("lon") is None:
                    continue
                lat, lon = float(osm["lat"]), float(osm["lon"])
                points.append((int(osm.get("place_rank") or 0), lat, lon))
                if mention.get("start_offset") is not None and mention.get("end_offset") is not None:
                    mentions.append(GoldMention(int(mention["start_offset"]), int(mention["end_offset"]), lat, lon))
            if not points:
                continue  # no gold location: nothing to score the post against
            _rank, lat, lon = max(points, key=lambda p: p[0])  # max() keeps the first of equal ranks
            posts.append(GoldPost(row["text"], lat, lon, tuple((p[1], p[2]) for p in points), tuple(mentions)))
    return posts


def _mention_outcomes(post: GoldPost, spans: list[dict]) -> dict:
    """Found spans against gold mentions (overlap): counts, and the error of each matched mention's resolution."""
    predicted = [s for s in spans if s.get("source", "post") == "post"]
    matched_spans = set()
    found, errors = 0, []
    for gold in post.mentions:
        hits = [n for n, s in enumerate(predicted) if s["start"] < gold.end and gold.start < s["end"]]
        if not hits:
            continue
        found += 1
        matched_spans.update(hits)
        resolved = [predicted[n] for n in hits if predicted[n].get("lat") is not None]
        if resolved:
            errors.append(min(haversine_km(s["lat"], s["lon"], gold.lat, gold.lon) for s in resolved))
    return {
        "gold": len(post.mentions),
        "found": found,
        "predicted": len(predicted),
        "true_spans": len(matched_spans),
        "resolution_errors": errors,
    }


def evaluate(locator: GeoLocator, posts: Iterable[GoldPost], context: CrisisContext) -> list[dict]:
    """Per post: predicted point and radius, error to the most specific and to the nearest gold mention.

    With ``context.located``, the posts are taken in order as they would arrive on the platform: each post's answer
    is counted in the crisis's located posts after it is scored, so that later posts see it and it never sees
    itself."""
    outcomes = []
    for post in posts:
        result = locator.locate([SourceText("post", post.text)], context)
        if context.located is not None:
            context.located.record(result)
        outcomes.append(
            {
                "error_km": haversine_km(result.lat, result.lon, post.lat, post.lon),
                "error_any_km": min(haversine_km(result.lat, result.lon, lat, lon) for lat, lon in post.all_points),
                "radius_km": result.radius_km,
                "fallback": result.is_fallback,
                "method": result.method,
                "text": post.text,
                "predicted": (result.lat, result.lon),
                "gold": (post.lat, post.lon),
                "spans": [span["text"] for span in result.spans],
                "mentions": _mention_outcomes(post, result.spans),
            }
        )
    return outcomes


def summarise(outcomes: list[dict], seconds: float) -> dict:
    n = len(outcomes) or 1
    errors = [o["error_km"] for o in outcomes]
    covered = [o for o in outcomes if not o["fallback"]]
    mentions = [o["mentions"] for o in outcomes if "mentions" in o]
    gold = sum(m["gold"] for m in mentions)
    predicted = sum(m["predicted"] for m in mentions)
    resolution = [e for m in mentions for e in m["resolution_errors"]]
    return {
        "posts": len(outcomes),
        "acc_161": sum(e <= 161 for e in errors) / n,
        "acc_25": sum(e <= 25 for e in errors) / n,
        "acc_161_any": sum(o["error_any_km"] <= 161 for o in outcomes) / n,
        "median_km": statistics.median(errors) if errors else 0.0,
        "coverage": len(covered) / n,
        "acc_161_covered": sum(o["error_km"] <= 161 for o in covered) / (len(covered) or 1),
        "posts_per_s": len(outcomes) / seconds if seconds else 0.0,
        "inside_radius": sum(o["error_km"] <= o["radius_km"] for o in outcomes if "radius_km" in o) / n,
        "inside_radius_covered": sum(o["error_km"] <= o["radius_km"] for o in covered) / (len(covered) or 1),
        "mention_precision": sum(m["true_spans"] for m in mentions) / predicted if predicted else math.nan,
        "mention_recall": sum(m["found"] for m in mentions) / gold if gold else math.nan,
        "mention_acc_161": sum(e <= 161 for e in resolution) / len(resolution) if resolution else math.nan,
        "mention_acc_25": sum(e <= 25 for e in resolution) / len(resolution) if resolution else math.nan,
    }


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start
