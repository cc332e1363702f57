"""Spatial consensus for location pins: weighted geometric median, radii, multimodality and retirement."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius

# Weight of an answer by the precision the volunteer stated; multiplied by their skill in [0, 1].
PRECISION_WEIGHTS: dict[str, float] = {"high": 1.0, "medium": 0.5, "low": 0.25}
# Skill floor: a new or poor volunteer still counts a little, so a pin is never silently dropped.
MIN_SKILL = 0.05


class Retirement(enum.StrEnum):
    """What happens to an image's location task next."""

    DONE = "done"
    NEEDS_EXPERT_REVIEW = "needs_expert_review"
    CANNOT_GEOLOCATE = "cannot_geolocate"
    NEEDS_MORE_ANSWERS = "needs_more_answers"


@dataclass(frozen=True)
class CandidateSite:
    """One cluster of pins: centre (weighted geometric median), size, share of the weight, 68% radius."""

    lat: float
    lon: float
    n_answers: int
    weight_share: float
    radius_68_m: float


@dataclass(frozen=True)
class SpatialConsensus:
    """Consensus location of one image. When ``ambiguous``, centre and radii are None: see ``candidates``."""

    lat: float | None
    lon: float | None
    radius_68_m: float | None
    radius_95_m: float | None
    n_answers: int
    ambiguous: bool
    candidates: tuple[CandidateSite, ...]
    flag: str


@dataclass(frozen=True)
class RetirementDecision:
    status: Retirement
    reason: str


def validate_coordinates(
    *, lat: np.ndarray | Sequence[float], lon: np.ndarray | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return lat and lon as float arrays, or raise ValueError naming the first bad value."""
    lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    if lat_a.shape != lon_a.shape or lat_a.ndim != 1:
        raise ValueError(f"lat and lon must be one-dimensional and of the same length: {lat_a.shape}, {lon_a.shape}.")
    bad_lat = ~(np.isfinite(lat_a) & (lat_a >= -90.0) & (lat_a <= 90.0))
    if bad_lat.any():
        i = int(np.argmax(bad_lat))
        raise ValueError(f"Latitude {lat_a[i]} at position {i} is outside [-90, 90].")
    bad_lon = ~(np.isfinite(lon_a) & (lon_a >= -180.0) & (lon_a <= 180.0))
    if bad_lon.any():
        i = int(np.argmax(bad_lon))
        raise ValueError(f"Longitude {lon_a[i]} at position {i} is outside [-180, 180].")
    return lat_a, lon_a


def haversine_m(
    *, lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float, lon2: np.ndarray | float
) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees; broadcasts like numpy."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def answer_weights(*, precisions: Sequence[str], skills: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """Weight per answer: PRECISION_WEIGHTS[precision] (high 1, medium 0.5, low 0.25) times skill.

    Skill is the volunteer's reliability in [0, 1] (e.g. a DS accuracy); missing means 1. It is clipped to
    [MIN_SKILL, 1].
    """
    try:
        base = np.array([PRECISION_WEIGHTS[p.lower()] for p in precisions], dtype=np.float64)
    except KeyError as error:
        raise ValueError(f"Unknown precision {error.args[0]!r}: use one of {sorted(PRECISION_WEIGHTS)}.") from None
    if skills is None:
        return base
    skill = np.asarray(skills, dtype=np.float64)
    if skill.shape != base.shape or not np.isfinite(skill).all():
        raise ValueError("skills must be finite and one per answer.")
    return base * np.clip(skill, MIN_SKILL, 1.0)


def _weights(weights: np.ndarray | Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative, one per point, and not all zero.")
    return w


def _to_plane(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Azimuthal equidistant projection (metres east, north) about (lat0, lon0); exact distances from it."""
    phi, phi0 = np.radians(lat), np.radians(lat0)
    dlmb = np.radians(lon - lon0)
    c = haversine_m(lat1=lat0, lon1=lon0, lat2=lat, lon2=lon)
    azimuth = np.arctan2(
        np.sin(dlmb) * np.cos(phi), np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(dlmb)
    )
    return np.column_stack([c * np.sin(azimuth), c * np.cos(azimuth)])


def _from_plane(xy: np.ndarray, lat0: float, lon0: float) -> tuple[float, float]:
    phi0, lmb0 = np.radians(lat0), np.radians(lon0)
    c = float(np.hypot(xy[0], xy[1])) / EARTH_RADIUS_M
    azimuth = float(np.arctan2(xy[0], xy[1]))
    phi = np.arcsin(np.sin(phi0) * np.cos(c) + np.cos(phi0) * np.sin(c) * np.cos(azimuth))
    lmb = lmb0 + np.arctan2(np.sin(azimuth) * np.sin(c) * np.cos(phi0), np.cos(c) - np.sin(phi0) * np.sin(phi))
    lon = (np.degrees(lmb) + 180.0) % 360.0 - 180.0
    return float(np.degrees(phi)), float(lon)


def _weiszfeld(points: np.ndarray, weights: np.ndarray, tol_m: float, max_iter: int) -> np.ndarray:
    """Weighted geometric median in the plane; Vardi-Zhang's step gets past a pin under the iterate."""
    y = weights @ points / weights.sum()
    for _ in range(max_iter):
        diff = points - y
        dist = np.hypot(diff[:, 0], diff[:, 1])
        away = dist > 1e-9
        if not away.any():
            return y
        inv = weights[away] / dist[away]
        target = inv @ points[away] / inv.sum()
        at_y = weights[~away].sum()
        if at_y > 0:
            pull = float(np.hypot(*(inv @ diff[away])))
            share = min(1.0, at_y / pull) if pull > 0 else 1.0
            target = (1.0 - share) * target + share * y
        step = float(np.hypot(*(target - y)))
        y = target
        if step <= tol_m:
            break
    return y


def geometric_median(
    *,
    lat: np.ndarray | Sequence[float],
    lon: np.ndarray | Sequence[float],
    weights: np.ndarray | Sequence[float] | None = None,
    tol_m: float = 0.01,
    max_iter: int = 200,
) -> tuple[float, float]:
    """Weighted geometric median on the sphere: the point of least weighted sum of great-circle distances.

    Weiszfeld runs in an azimuthal equidistant plane about the weighted mean, then once more about the result,
    where distances from the centre are exact; fine for pins within a few hundred kilometres of each other.
    """
    lat_a, lon_a = validate_coordinates(lat=lat, lon=lon)
    if lat_a.size == 0:
        raise ValueError("At least one point is needed.")
    w = _weights(weights, lat_a.size)
    if (lat_a == lat_a[0]).all() and (lon_a == lon_a[0]).all():
        return float(lat_a[0]), float(lon_a[0])
    # weighted mean of unit vectors: a start that does not break across the antimeridian
    phi, lmb = np.radians(lat_a), np.radians(lon_a)
    xyz = w @ np.column_stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)])
    if np.linalg.norm(xyz) < 1e-12:
        lat0, lon0 = float(lat_a[np.argmax(w)]), float(lon_a[np.argmax(w)])
    else:
        lat0 = float(np.degrees(np.arctan2(xyz[2], np.hypot(xyz[0], xyz[1]))))
        lon0 = float(np.degrees(np.arctan2(xyz[1], xyz[0])))
    for _ in range(2):
        plane = _to_plane(lat_a, lon_a, lat0, lon0)
        lat0, lon0 = _from_plane(_weiszfeld(plane, w, tol_m, max_iter), lat0, lon0)
    return lat0, lon0


def weighted_radius_m(*, distances_m: np.ndarray, weights: np.ndarray, coverage: float) -> float:
    """Smallest distance from the centre within which answers carrying ``coverage`` of the weight lie."""
    if not 0.0 < coverage <= 1.0:
        raise ValueError("coverage must be in (0, 1].")
    if distances_m.shape != weights.shape or distances_m.size == 0:
        raise ValueError("distances_m and weights must be non-empty and of the same shape.")
    order = np.argsort(distances_m, kind="stable")
    cumulative = np.cumsum(weights[order])
    # slack so that e.g. 2 of 3 equal weights covers 2/3 despite rounding in the cumulative sum
    index = int(np.searchsorted(cumulative, coverage * cumulative[-1] * (1.0 - 1e-12), side="left"))
    return float(distances_m[order][min(index, len(order) - 1)])


def density_clusters(*, lat: np.ndarray, lon: np.ndarray, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN on haversine distance: cluster id per point, -1 for noise.

    A point is core when at least ``min_samples`` points (itself included) lie within ``eps_m`` of it;
    clusters are connected components of cores, and a border point joins the cluster of its nearest core.
    Quadratic in the number of points, which is fine for the few dozen pins an image gets.
    """
    dist = haversine_m(lat1=lat[:, None], lon1=lon[:, None], lat2=lat[None, :], lon2=lon[None, :])
    near = dist <= eps_m
    core = near.sum(axis=1) >= min_samples
    labels = np.full(lat.size, -1, dtype=np.int64)
    if not core.any():
        return labels
    core_idx = np.flatnonzero(core)
    _, components = connected_components(csr_matrix(near[np.ix_(core_idx, core_idx)]), directed=False)
    labels[core_idx] = components
    border = np.flatnonzero(~core & near[:, core].any(axis=1))
    if border.size:
        to_cores = np.where(near[border][:, core_idx], dist[border][:, core_idx], np.inf)
        labels[border] = components[to_cores.argmin(axis=1)]
    return labels


def _site(lat: np.ndarray, lon: np.ndarray, w: np.ndarray, total_weight: float) -> CandidateSite:
    c_lat, c_lon = geometric_median(lat=lat, lon=lon, weights=w)
    distances = haversine_m(lat1=c_lat, lon1=c_lon, lat2=lat, lon2=lon)
    return CandidateSite(
        lat=c_lat,
        lon=c_lon,
        n_answers=int(lat.size),
        weight_share=float(w.sum() / total_weight),
        radius_68_m=weighted_radius_m(distances_m=distances, weights=w, coverage=0.68),
    )


def spatial_consensus(
    *,
    lat: np.ndarray | Sequence[float],
    lon: np.ndarray | Sequence[float],
    weights: np.ndarray | Sequence[float] | None = None,
    cluster_eps_m: float = 5_000.0,
    min_cluster_answers: int = 2,
    min_cluster_share: float = 0.2,
) -> SpatialConsensus:
    """Consensus location of one image's pins.

    Pins are clustered (DBSCAN, radius ``cluster_eps_m``, a core needs ``min_cluster_answers`` pins).
    Clusters with at least ``min_cluster_answers`` pins and ``min_cluster_share`` of the weight are candidate
    sites. Two or more candidates: the result is flagged "ambiguous: N candidate sites" and lists each site's
    centre instead of averaging them. Otherwise the centre is the weighted geometric median of all pins
    (robust to the odd stray pin), with the weighted 68% and 95% radii in metres.
    """
    lat_a, lon_a = validate_coordinates(lat=lat, lon=lon)
    if lat_a.size == 0:
        raise ValueError("At least one answer with a location is needed.")
    w = _weights(weights, lat_a.size)
    total = float(w.sum())
    clusters = density_clusters(lat=lat_a, lon=lon_a, eps_m=cluster_eps_m, min_samples=min_cluster_answers)
    candidates = []
    for cluster in np.unique(clusters[clusters >= 0]):
        members = clusters == cluster
        if members.sum() >= min_cluster_answers and w[members].sum() >= min_cluster_share * total:
            candidates.append(_site(lat_a[members], lon_a[members], w[members], total))
    candidates.sort(key=lambda site: -site.weight_share)
    if len(candidates) >= 2:
        return SpatialConsensus(
            lat=None,
            lon=None,
            radius_68_m=None,
            radius_95_m=None,
            n_answers=int(lat_a.size),
            ambiguous=True,
            candidates=tuple(candidates),
            flag=f"ambiguous: {len(candidates)} candidate sites",
        )
    c_lat, c_lon = geometric_median(lat=lat_a, lon=lon_a, weights=w)
    distances = haversine_m(lat1=c_lat, lon1=c_lon, lat2=lat_a, lon2=lon_a)
    return SpatialConsensus(
        lat=c_lat,
        lon=c_lon,
        radius_68_m=weighted_radius_m(distances_m=distances, weights=w, coverage=0.68),
        radius_95_m=weighted_radius_m(distances_m=distances, weights=w, coverage=0.95),
        n_answers=int(lat_a.size),
        ambiguous=False,
        candidates=tuple(candidates),
        flag="",
    )


def retirement_decision(
    *,
    n_answers: int,
    n_cannot_geolocate: int,
    radius_68_m: float | None,
    ambiguous: bool,
    target_radius_m: float,
    min_answers: int = 3,
    max_answers: int = 10,
) -> RetirementDecision:
    """Decide whether an image needs more location answers, with the reason.

    ``n_answers`` counts every answer, "cannot geolocate" ones included. Rules, in order:
    1. fewer than ``min_answers`` answers: needs more answers (one pin has a radius of 0 and proves nothing);
    2. more than half the answers are "cannot geolocate": retired as cannot-geolocate;
    3. not ambiguous and the 68% radius is at most ``target_radius_m``: done;
    4. ``max_answers`` reached: needs expert review (ambiguous, or still wider than the target);
    5. otherwise: needs more answers.
    """
    if n_answers < 0 or not 0 <= n_cannot_geolocate <= n_answers:
        raise ValueError("Need 0 <= n_cannot_geolocate <= n_answers.")
    if min_answers < 1 or max_answers < min_answers:
        raise ValueError("Need 1 <= min_answers <= max_answers.")
    if n_answers < min_answers:
        return RetirementDecision(
            Retirement.NEEDS_MORE_ANSWERS, f"{n_answers} of at least {min_answers} answers so far"
        )
    if 2 * n_cannot_geolocate > n_answers:
        return RetirementDecision(
            Retirement.CANNOT_GEOLOCATE,
            f"{n_cannot_geolocate} of {n_answers} answers say it cannot be geolocated",
        )
    if radius_68_m is not None and not ambiguous and radius_68_m <= target_radius_m:
        return RetirementDecision(
            Retirement.DONE, f"68% radius {radius_68_m:.0f} m is within the target of {target_radius_m:.0f} m"
        )
    if ambiguous:
        spread = "answers point to several candidate sites"
    elif radius_68_m is None:
        spread = "no answer gives a location"
    else:
        spread = f"68% radius {radius_68_m:.0f} m exceeds the target of {target_radius_m:.0f} m"
    if n_answers >= max_answers:
        return RetirementDecision(Retirement.NEEDS_EXPERT_REVIEW, f"{spread} after {n_answers} answers")
    return RetirementDecision(Retirement.NEEDS_MORE_ANSWERS, spread)


def _rings(geometry: dict) -> list[list[list[list[float]]]]:
    """Polygons of a GeoJSON Polygon or MultiPolygon, each a list of rings of [lon, lat] (the first is the shell)."""
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"An affected area is a Polygon or a MultiPolygon, not {kind!r}.")


def _inside_ring(x: float, y: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def distance_outside_area_m(*, lat: float, lon: float, area: dict | None) -> float:
    """Metres from (lat, lon) to a GeoJSON (Multi)Polygon area; 0 inside it or without an area.

    Edges are measured in a local equirectangular plane about the point: exact enough for the margins of tens of
    kilometres it serves (a pin "outside the crisis area"), not for geodesy.
    """
    if not area:
        return 0.0
    best = np.inf
    cos_lat = np.cos(np.radians(lat))
    metres = np.pi * EARTH_RADIUS_M / 180.0
    for polygon in _rings(area):
        shell, holes = polygon[0], polygon[1:]
        if _inside_ring(lon, lat, shell) and not any(_inside_ring(lon, lat, hole) for hole in holes):
            return 0.0
        for ring in polygon:
            points = np.array(ring, dtype=np.float64)
            # metres east and north of the point; longitudes wrapped so an edge near the antimeridian stays short
            x = ((points[:, 0] - lon + 180.0) % 360.0 - 180.0) * cos_lat * metres
            y = (points[:, 1] - lat) * metres
            ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = np.clip(np.where(length2 > 0, -(ax * dx + ay * dy) / np.where(length2 > 0, length2, 1), 0), 0, 1)
            best = min(best, float(np.min(np.hypot(ax + t * dx, ay + t * dy))))
    return best
