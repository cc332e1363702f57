"""Where a crisis's posts are: the located points of its posts so far, counted on a grid, for a crisis-level prior.

A real crisis has hundreds of posts, and most of those that name a place name one near the disaster. A name that
several towns share ("Springfield", "Salem") is most likely the town where the crisis's other posts are, and a post
that names no place is most likely there too. The counts come from answers already given (never from gold data):
the platform reads them from the crisis's stored text locations, the evaluation adds each post's answer after
locating it, so a post never supports itself.
"""

import math
from collections import Counter

from classification.geolocation.geo import haversine_km

CELL_DEG = 0.5  # grid cells of half a degree (~55 km north-south): a town's support is its 3 x 3 cells' posts
SPECIFIC_RADIUS_KM = 40.0  # only answers at most this uncertain count: a town or county, not a state or country
MIN_POSTS = 10  # below this many located posts the crisis has no shape yet: no support, no centre
FULL_SUPPORT_SHARE = 0.05  # a town near 5% of the crisis's located posts is fully supported
CENTRE_SHARE = 0.2  # the crisis's centre stands in for a post naming nothing once 20% of its points are there
_LON_CELLS = round(360 / CELL_DEG)


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG) % _LON_CELLS


class CrisisPlaces:
    """Counts of a crisis's located posts per grid cell. Cheap to query: nine dictionary reads per place."""

    def __init__(self, points=()):
        self.cells: Counter[tuple[int, int]] = Counter()
        self.total = 0
        for lat, lon in points:
            self.add(lat, lon)

    def add(self, lat: float, lon: float) -> None:
        self.cells[_cell(lat, lon)] += 1
        self.total += 1

    def record(self, result) -> None:
        """Count a post's answer (a ``GeolocationResult``) when it is a specific place, not a fallback."""
        if not result.is_fallback and result.radius_km <= SPECIFIC_RADIUS_KM:
            self.add(result.lat, result.lon)

    def _near(self, row: int, column: int) -> int:
        cells = self.cells
        return sum(cells.get((row + dr, (column + dc) % _LON_CELLS), 0) for dr in (-1, 0, 1) for dc in (-1, 0, 1))

    def share(self, lat: float, lon: float) -> float:
        """The share of the crisis's located posts within about one cell of the point (0 while too few)."""
        if self.total < MIN_POSTS:
            return 0.0
        return self._near(*_cell(lat, lon)) / self.total

    def support(self, lat: float, lon: float) -> float:
        """0 (no located post near) to 1 (FULL_SUPPORT_SHARE of them or more near)."""
        return min(1.0, self.share(lat, lon) / FULL_SUPPORT_SHARE)

    def centre(self) -> tuple[float, float, float] | None:
        """The crisis's densest neighbourhood as (lat, lon, radius_km): the count-weighted mean of its cells, with
        the radius holding 68% of all located posts. None while the posts have no clear centre."""
        if self.total < MIN_POSTS:
            return None
        row, column = max(self.cells, key=lambda cell: (self._near(*cell), self.cells[cell]))
        near = [
            ((r + 0.5) * CELL_DEG, (c + 0.5) * CELL_DEG, count)
            for (r, c), count in self.cells.items()
            if abs(r - row) <= 1 and min(abs(c - column), _LON_CELLS - abs(c - column)) <= 1
        ]
        weight = sum(count for _, _, count in near)
        if weight < CENTRE_SHARE * self.total:
            return None
        lat = sum(la * count for la, _, count in near) / weight
        east = sum(math.sin(math.radians(lo)) * count for _, lo, count in near)
        north = sum(math.cos(math.radians(lo)) * count for _, lo, count in near)
        lon = math.degrees(math.atan2(east, north))
        distances = sorted(
            (haversine_km(lat, lon, (r + 0.5) * CELL_DEG, (c + 0.5) * CELL_DEG), count)
            for (r, c), count in self.cells.items()
        )
        covered, radius = 0, distances[-1][0]
        for distance, count in distances:
            covered += count
            if covered >= 0.68 * self.total:
                radius = distance
                break
        return lat, lon, max(radius, CELL_DEG * 111.0)
