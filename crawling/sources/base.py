"""The one interface every source adapter follows: fetch a page from a cursor, normalise its raw items."""

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser

import requests
from django.conf import settings
from django.utils import timezone

from geoloc_platform.crises.models import Crisis

logger = logging.getLogger(__name__)


class SourceError(Exception):
    """A page could not be fetched or read (HTTP error, malformed JSON, refused credentials)."""


class RateLimited(SourceError):
    """The source asks us to wait until ``reset_at``."""

    def __init__(self, reset_at: datetime, detail: str = ""):
        self.reset_at = reset_at
        super().__init__(f"rate limited until {reset_at.isoformat()}" + (f" ({detail})" if detail else ""))


@dataclass
class NormalisedMedia:
    remote_url: str = ""
    source_path: str = ""
    alt_text: str = ""
    declared_width: int | None = None
    declared_height: int | None = None


@dataclass
class NormalisedPost:
    source_id: str
    url: str = ""
    author_handle: str = ""
    text: str = ""
    language: str = ""
    posted_at: datetime | None = None
    hashtags: list[str] = field(default_factory=list)
    geo_lat: float | None = None
    geo_lon: float | None = None
    geo_place: str = ""
    geo_accuracy_m: float | None = None
    raw: dict = field(default_factory=dict)
    media: list[NormalisedMedia] = field(default_factory=list)


@dataclass(frozen=True)
class Stream:
    """One query of a crisis on a source; ``key`` names its entry in CrawlState.streams."""

    key: str
    params: dict


@dataclass
class Page:
    items: list[dict]  # raw items, each complete enough to be normalised alone and re-parsed later
    next_cursor: str | None  # None: the pass is over
    newest_mark: str | None = None  # the newest id or time on this page, for the next pass's "since"
    # Set when the source says its budget is spent after this page (rate headers at zero).
    rate_reset_at: datetime | None = None
    reads: int = 0  # paid reads this page cost


class BaseCrawler:
    """Subclasses set ``source`` and implement ``streams``, ``page_fetch`` and ``normalise``.

    ``normalise`` is pure: it turns one raw item into a NormalisedPost, or None when the item carries no
    usable image. It may raise KeyError, TypeError or ValueError on a malformed item; the crawl skips it.
    """

    source: str = ""
    paid_reads = False  # True where every post read costs money: the crawl passes the budget left

    def __init__(self, *, session: requests.Session | None = None):
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "geoloc-platform/1.0 (crowdsourced disaster geolocation)")

    @classmethod
    def is_enabled(cls) -> bool:
        return True

    def streams(self, crisis: Crisis) -> list[Stream]:
        raise NotImplementedError

    def page_fetch(
        self, *, stream: Stream, cursor: str | None, since: str | None, crisis: Crisis, max_results: int | None = None
    ) -> Page:
        raise NotImplementedError

    def normalise(self, raw: dict) -> NormalisedPost | None:
        raise NotImplementedError

    # Helpers shared by adapters ------------------------------------------------------------------

    def _get_json(self, url: str, *, params=None, headers=None) -> tuple[requests.Response, object]:
        """GET and parse JSON; 429 raises RateLimited; other errors raise SourceError."""
        try:
            response = self.session.get(url, params=params, headers=headers, timeout=settings.CRAWL_HTTP_TIMEOUT)
        except requests.RequestException as error:
            raise SourceError(f"{self.source}: {type(error).__name__}: {error}") from error
        return response, self._json(response)

    def _json(self, response: requests.Response):
        if response.status_code == 429:
            raise RateLimited(self.rate_reset(response) or timezone.now() + settings.CRAWL_RATE_LIMIT_DEFAULT_WAIT)
        try:
            body = response.json()
        except ValueError as error:
            raise SourceError(f"{self.source}: malformed JSON (HTTP {response.status_code})") from error
        if response.status_code >= 400:
            raise SourceError(f"{self.source}: HTTP {response.status_code}: {str(body)[:200]}")
        return body

    def rate_reset(self, response: requests.Response) -> datetime | None:
        """When the limit resets, from Retry-After or the source's rate headers; None when not said."""
        return retry_after(response.headers.get("Retry-After"))


def retry_after(value: str | None) -> datetime | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timezone.now() + timedelta(seconds=int(value))
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def epoch_to_datetime(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_iso(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def id_newer(a: str | None, b: str | None) -> str | None:
    """The newer of two numeric ids given as strings (snowflakes outgrow floats, so compare as integers)."""
    if not a or not b:
        return a or b
    try:
        return a if int(a) >= int(b) else b
    except ValueError:
        return max(a, b)


def to_int(value) -> int | None:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, paragraphs on their own lines."""
    if not html:
        return ""
    if "<" not in html:
        return unescape(html).strip()
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


HASHTAG_RE = re.compile(r"(?<![\w#])#(\w{1,100})", re.UNICODE)


def hashtags_in(text: str) -> list[str]:
    return list(dict.fromkeys(HASHTAG_RE.findall(text or "")))


def crisis_terms(crisis: Crisis) -> list[tuple[str, str]]:
    """(language, term) pairs to search for: keywords per language, then hashtags with '#' ('' language)."""
    terms: list[tuple[str, str]] = []
    for language, words in sorted((crisis.keywords or {}).items()):
        for word in words or []:
            if isinstance(word, str) and word.strip():
                terms.append((language, word.strip()))
    for tag in crisis.hashtags or []:
        if isinstance(tag, str) and tag.strip("# "):
            terms.append(("", "#" + tag.strip("# ")))
    return list(dict.fromkeys(terms))


def crisis_bbox(crisis: Crisis) -> tuple[float, float, float, float] | None:
    """(min_lon, min_lat, max_lon, max_lat) of the affected area, or None."""
    area = crisis.affected_area or {}
    coordinates = area.get("coordinates")
    if not coordinates:
        return None
    rings = coordinates if area.get("type") == "Polygon" else [ring for polygon in coordinates for ring in polygon]
    points = [point for ring in rings for point in ring]
    try:
        lons = [float(p[0]) for p in points]
        lats = [float(p[1]) for p in points]
    except (TypeError, ValueError, IndexError):
        return None
    return min(lons), min(lats), max(lons), max(lats)


def bbox_centre(bbox: list | tuple) -> tuple[float, float, float]:
    """(lat, lon, half-diagonal in metres) of a (min_lon, min_lat, max_lon, max_lat) box."""
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    lat, lon = (min_lat + max_lat) / 2, (min_lon + max_lon) / 2
    dy = (max_lat - min_lat) * 111_320
    dx = (max_lon - min_lon) * 111_320 * math.cos(math.radians(lat))
    return lat, lon, math.hypot(dx, dy) / 2


def polygon_bbox(polygon: dict | None) -> tuple[float, float, float, float] | None:
    if not polygon or not polygon.get("coordinates"):
        return None
    points = [point for ring in polygon["coordinates"] for point in ring]
    lons = [float(p[0]) for p in points]
    lats = [float(p[1]) for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def valid_point(lat, lon) -> tuple[float | None, float | None]:
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon
