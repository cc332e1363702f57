"""Small spherical geometry: distances, GeoJSON polygon centre, radius and containment (no GEOS needed)."""

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _rings(geometry: dict) -> list[list[list[list[float]]]]:
    """Polygons of a GeoJSON Polygon or MultiPolygon, each a list of rings of [lon, lat]."""
    if not geometry:
        return []
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def _in_ring(lat: float, lon: float, ring: list[list[float]]) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / ((yj - yi) or 1e-12) + xi:
            inside = not inside
        j = i
    return inside


@dataclass(frozen=True)
class Area:
    """A crisis area: containment test, a centre and the radius of the circle around it that covers it."""

    geometry: dict
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    centre: tuple[float, float]  # lat, lon
    radius_km: float

    @classmethod
    def from_geojson(cls, geometry: dict | None) -> "Area | None":
        polygons = _rings(geometry or {})
        points = [pt for polygon in polygons for pt in polygon[0]] if polygons else []
        if len(points) < 3:
            return None
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        bbox = (min(lons), min(lats), max(lons), max(lats))
        # The bounding-box centre, not the vertex mean: drawn polygons have uneven vertex density.
        centre = ((bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2)
        radius = max(haversine_km(centre[0], centre[1], lat, lon) for lon, lat in points)
        return cls(geometry=geometry, bbox=bbox, centre=centre, radius_km=max(radius, 1.0))

    def contains(self, lat: float, lon: float) -> bool:
        if not (self.bbox[0] <= lon <= self.bbox[2] and self.bbox[1] <= lat <= self.bbox[3]):
            return False
        for polygon in _rings(self.geometry):
            if _in_ring(lat, lon, polygon[0]) and not any(_in_ring(lat, lon, hole) for hole in polygon[1:]):
                return True
        return False

    def distance_km(self, lat: float, lon: float) -> float:
        """0 inside the area, else the distance from its covering circle (cheap, pessimistic for odd shapes)."""
        if self.contains(lat, lon):
            return 0.0
        return max(0.0, haversine_km(lat, lon, *self.centre) - self.radius_km)


# The 95% radius of a circular normal error is 1.62 times its 68% radius (Rayleigh quantiles).
R95_OVER_R68 = 2.4477 / 1.5096


def misses_area(area: Area | None, *, lat: float, lon: float, radius_km: float) -> bool:
    """A guess that does not reach the drawn crisis area: likely a namesake elsewhere.

    "Reach" is the 95% circle: the 68% circle of a state can miss the crisis area inside it.
    """
    return area is not None and area.distance_km(lat, lon) > radius_km * R95_OVER_R68


def in_another_country(country_code: str, crisis_countries) -> bool:
    """A place in a country that is not the crisis's (both known): a namesake, or another event's photo."""
    return bool(country_code and crisis_countries) and country_code not in crisis_countries
