"""Post-level evaluation of text geolocation on tweets in the IDRISI-D format (text + gold location mentions)."""

import json
import resource
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from classification.geolocation.geo import haversine_km
from classification.geolocation.recognizer import SourceText
from classification.geolocation.resolver import CrisisContext, GeoLocator


@dataclass(frozen=True)
class GoldPost:
    text: str
    lat: float  # the most specific gold mention (highest OSM place_rank), the place the post is about
    lon: float
    all_points: tuple[tuple[float, float], ...]  # every gold mention


def read_idrisi(path: Path) -> list[GoldPost]:
    posts = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            points = []
            for mention in row.get("location_mentions") or []:
                osm = mention.get("osm_json") or {}
                if osm.get("lat") is None or osm.get("lon") is None:
                    continue
                points.append((int(osm.get("place_rank") or 0), float(osm["lat"]), float(osm["lon"])))
            if not points:
                continue  # no gold location: nothing to score the post against
            _rank, lat, lon = max(points, key=lambda p: p[0])  # max() keeps the first of equal ranks
            posts.append(GoldPost(row["text"], lat, lon, tuple((p[1], p[2]) for p in points)))
    return posts


def evaluate(locator: GeoLocator, posts: Iterable[GoldPost], context: CrisisContext) -> list[dict]:
    """Per post: predicted point, error to the most specific gold mention and to the nearest gold mention."""
    outcomes = []
    for post in posts:
        result = locator.locate([SourceText("post", post.text)], context)
        outcomes.append(
            {
                "error_km": haversine_km(result.lat, result.lon, post.lat, post.lon),
                "error_any_km": min(haversine_km(result.lat, result.lon, lat, lon) for lat, lon in post.all_points),
                "fallback": result.is_fallback,
                "text": post.text,
                "predicted": (result.lat, result.lon),
                "gold": (post.lat, post.lon),
                "spans": [span["text"] for span in result.spans],
            }
        )
    return outcomes


def summarise(outcomes: list[dict], seconds: float) -> dict:
    n = len(outcomes) or 1
    errors = [o["error_km"] for o in outcomes]
    covered = [o for o in outcomes if not o["fallback"]]
    return {
        "posts": len(outcomes),
        "acc_161": sum(e <= 161 for e in errors) / n,
        "acc_25": sum(e <= 25 for e in errors) / n,
        "acc_161_any": sum(o["error_any_km"] <= 161 for o in outcomes) / n,
        "median_km": statistics.median(errors) if errors else 0.0,
        "coverage": len(covered) / n,
        "acc_161_covered": sum(o["error_km"] <= 161 for o in covered) / (len(covered) or 1),
        "posts_per_s": len(outcomes) / seconds if seconds else 0.0,
    }


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start
