"""Online geocoding of streets and landmarks through geopy (Nominatim or Photon), bounded to the crisis area.

Requests go through geopy's RateLimiter (one per ``GEOCODER_MIN_DELAY_SECONDS``, Nominatim's usage policy) and
every answer, empty ones included, is kept in ``GeocodeCacheEntry`` so a query is sent once per server.
"""

import hashlib
import logging
import math
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim, Photon

from classification.geolocation.geo import Area, haversine_km
from classification.geolocation.resolver import GeocodedPlace
from classification.models import GeocodeCacheEntry

logger = logging.getLogger(__name__)

PROVIDERS = {"nominatim": Nominatim, "photon": Photon}


@lru_cache(maxsize=4)
def _rate_limited(provider: str, url: str, user_agent: str, timeout: float, min_delay: float):
    parts = urlsplit(url if "://" in url else f"https://{url}")
    geocoder = PROVIDERS[provider](
        domain=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme, user_agent=user_agent, timeout=timeout
    )
    # No retries and no swallowing: a failure must not be cached as "no result"; the caller logs it and a later
    # post asks again, instead of a worker sleeping through back-offs.
    return RateLimiter(geocoder.geocode, min_delay_seconds=min_delay, max_retries=0, swallow_exceptions=False)


def _radius_from_bbox(raw: dict, provider: str) -> float:
    """Half the diagonal of the result's bounding box, between 50 m and 50 km."""
    try:
        if provider == "nominatim":
            south, north, west, east = (float(v) for v in raw["boundingbox"])
        else:  # Photon: GeoJSON feature, extent = [west, north, east, south]
            west, north, east, south = (float(v) for v in raw["properties"]["extent"])
    except (KeyError, TypeError, ValueError):
        return 0.5
    return max(0.05, min(50.0, haversine_km(south, west, north, east) / 2))


def _as_place(raw: dict, provider: str, name: str, lat: float, lon: float) -> dict:
    kind = raw.get("type", "") if provider == "nominatim" else (raw.get("properties") or {}).get("osm_value", "")
    return {"name": name, "lat": lat, "lon": lon, "radius_km": round(_radius_from_bbox(raw, provider), 3), "type": kind}


class CachedGeocoder:
    """``geocoder(query)`` -> GeocodedPlace list, bounded to the crisis area, cached in the database."""

    def __init__(self, *, area: Area | None, provider: str | None = None, url: str | None = None):
        self.provider = provider if provider is not None else settings.GEOCODER_PROVIDER
        self.url = url or settings.GEOCODER_URL
        self.area = area
        self.sent = 0
        self.cache_hits = 0

    def __bool__(self) -> bool:
        return self.provider in PROVIDERS

    def _key(self, query: str) -> str:
        bounds = ",".join(f"{v:.4f}" for v in self.area.bbox) if self.area else ""
        return hashlib.sha256(f"{self.provider}|{self.url}|{query.casefold()}|{bounds}".encode()).hexdigest()

    def __call__(self, query: str) -> list[GeocodedPlace]:
        key = self._key(query)
        entry = GeocodeCacheEntry.objects.filter(key=key).first()
        if entry is None:
            try:
                results = self._ask(query)
            except GeopyError as error:
                logger.warning("geocoder %s failed for %r: %s", self.provider, query, error)
                return []
            try:
                with transaction.atomic():
                    entry = GeocodeCacheEntry.objects.create(
                        key=key, provider=self.provider, query=query[:500], results=results
                    )
            except IntegrityError:  # another worker asked the same question at the same time
                entry = GeocodeCacheEntry.objects.get(key=key)
        else:
            self.cache_hits += 1
        return [
            GeocodedPlace(r["name"], r["lat"], r["lon"], r["radius_km"], raw_type=r.get("type", ""))
            for r in entry.results
        ]

    def _ask(self, query: str) -> list[dict]:
        geocode = _rate_limited(
            self.provider,
            self.url,
            settings.GEOCODER_USER_AGENT,
            settings.GEOCODER_TIMEOUT_SECONDS,
            settings.GEOCODER_MIN_DELAY_SECONDS,
        )
        options: dict = {"exactly_one": False, "limit": 3}
        if self.area is not None:
            west, south, east, north = self.area.bbox
            if self.provider == "nominatim":
                options.update(viewbox=[(south, west), (north, east)], bounded=True)
            else:
                options.update(bbox=[(south, west), (north, east)])
        self.sent += 1
        locations = geocode(query, **options) or []
        return [
            _as_place(location.raw, self.provider, location.address, location.latitude, location.longitude)
            for location in locations
            if not (math.isnan(location.latitude) or math.isnan(location.longitude))
        ]
