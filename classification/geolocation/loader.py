"""One gazetteer index and geolocator per process, rebuilt when the ``Place`` table changes.

The index is stored under ``GEOLOC_GAZETTEER_CACHE_DIR`` (a folder of numpy arrays named after a fingerprint of the
table) and memory-mapped, so workers load it in a second instead of tokenising every name again, and processes
forked after ``geolocator_preload()`` share its pages.
"""

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.db.models import Count, Max

from classification.geolocation.gazetteer import GazetteerIndex
from classification.geolocation.recognizer import Recognizer
from classification.geolocation.resolver import GeoLocator
from classification.geolocation.selector import PACKAGED_WEIGHTS, OptionSelector
from classification.models import Place

logger = logging.getLogger(__name__)

FINGERPRINT_TTL_SECONDS = 60.0  # how often a worker checks that the Place table has not changed

_lock = threading.Lock()
_state: dict = {"fingerprint": None, "checked_at": 0.0, "locator": None}


def gazetteer_fingerprint() -> str:
    stats = Place.objects.aggregate(n=Count("id"), last_id=Max("id"), changed=Max("updated_at"))
    raw = f"{stats['n']}|{stats['last_id']}|{stats['changed']}|{settings.GEOLOC_MATCHER}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def build_index(recognizer_tokenizer_key) -> GazetteerIndex:
    rows = Place.objects.values_list(
        "id",
        "kind",
        "name",
        "alternate_names",
        "country_code",
        "lat",
        "lon",
        "population",
        "radius_km",
        "admin1_code",
        "admin2_name",
    ).order_by("id")
    return GazetteerIndex.build(rows.iterator(chunk_size=5000), name_key=recognizer_tokenizer_key)


def load_index(fingerprint: str) -> GazetteerIndex:
    path = settings.GEOLOC_GAZETTEER_CACHE_DIR / f"gazetteer-{fingerprint}"
    index = GazetteerIndex.load(path)
    if index is None:
        started = time.perf_counter()
        key = Recognizer(GazetteerIndex.empty()).name_key
        index = build_index(key)
        index.save(path)
        logger.info("gazetteer index built: %d places in %.1f s -> %s", len(index), time.perf_counter() - started, path)
    return index


def load_selector() -> OptionSelector | None:
    """The learned option selector named by GEOLOC_SELECTOR_WEIGHTS ("packaged", a path, or "off": the rules)."""
    setting = settings.GEOLOC_SELECTOR_WEIGHTS.strip()
    if setting.lower() in ("", "off", "rules"):
        return None
    path = PACKAGED_WEIGHTS if setting.lower() == "packaged" else setting
    if setting.lower() == "packaged" and not PACKAGED_WEIGHTS.exists():
        logger.warning("no packaged selector weights at %s: the rules choose each post's point", PACKAGED_WEIGHTS)
        return None
    return OptionSelector.load(path)


def geolocator() -> GeoLocator:
    """The process's geolocator, rebuilt when the Place table changed (checked once a minute)."""
    with _lock:
        now = time.monotonic()
        if _state["locator"] is None or now - _state["checked_at"] > FINGERPRINT_TTL_SECONDS:
            fingerprint = gazetteer_fingerprint()
            _state["checked_at"] = now
            if fingerprint != _state["fingerprint"]:
                recognizer = Recognizer(
                    load_index(fingerprint),
                    matcher=settings.GEOLOC_MATCHER,
                    statistical_model=settings.GEOLOC_SPACY_MODEL,
                )
                _state.update(fingerprint=fingerprint, locator=GeoLocator(recognizer, selector=load_selector()))
        return _state["locator"]


def geolocator_preload() -> GeoLocator:
    """Load the gazetteer index and the process's geolocator now. The one entry point for loading: call it before
    forking workers (Celery's pool, the evaluation's processes) so that they share the index's pages."""
    return geolocator()


def geolocator_reset() -> None:
    """Forget the process's geolocator (tests, and after ``build_gazetteer``)."""
    with _lock:
        _state.update(fingerprint=None, checked_at=0.0, locator=None)
