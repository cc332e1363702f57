"""Reads of the classification app: text locations, relevance decisions, training labels."""

import math
import time
import unicodedata

from django.db.models import QuerySet

from classification.geolocation.crisis_places import SPECIFIC_RADIUS_KM
from classification.geolocation.geo import haversine_km
from classification.geolocation.loader import FINGERPRINT_TTL_SECONDS, gazetteer_fingerprint
from classification.models import (
    MediaRelevance,
    ModelVersion,
    Place,
    PostGeolocation,
    RelevanceLabel,
    RelevanceThreshold,
)
from crawling.models import Media, Post


def post_text_location(*, post: Post) -> PostGeolocation | None:
    return PostGeolocation.objects.filter(post=post).first()


def crisis_located_points(*, crisis_id: int, limit: int = 2000) -> list[tuple[float, float]]:
    """Points of the crisis's posts located at a town or closer (no fallback, no state or country), newest first:
    the crisis-level prior of text geolocation. One query of two columns."""
    rows = PostGeolocation.objects.filter(
        post__crisis_id=crisis_id, is_fallback=False, radius_km__lte=SPECIFIC_RADIUS_KM
    ).order_by("-id")
    return list(rows.values_list("lat", "lon")[:limit])


def media_text_location(*, media: Media) -> PostGeolocation | None:
    """The text location of an image is its post's: computed once per post, shared by its images."""
    return PostGeolocation.objects.filter(post_id=media.post_id).first()


def media_relevance(*, media: Media) -> MediaRelevance | None:
    return MediaRelevance.objects.filter(media=media).first()


def media_filtered(*, crisis_id: int | None = None, held_back: bool = False) -> QuerySet[Media]:
    """Images the relevance filter dropped (or, with ``held_back``, held back as probably not relevant), newest
    first, with the decision that dropped them."""
    stage = Media.Stage.PROBABLY_IRRELEVANT if held_back else Media.Stage.IRRELEVANT
    queryset = Media.objects.filter(stage=stage).select_related("relevance", "post")
    if crisis_id is not None:
        queryset = queryset.filter(crisis_id=crisis_id)
    return queryset.order_by("-stage_changed_at")


def relevance_training_labels(*, crisis_id: int | None = None) -> QuerySet[RelevanceLabel]:
    """Human relevance labels for the image classifier, latest label per image last."""
    queryset = RelevanceLabel.objects.select_related("media").order_by("media_id", "created_at")
    if crisis_id is not None:
        queryset = queryset.filter(media__crisis_id=crisis_id)
    return queryset


def relevance_verdicts(*, crisis_id: int | None = None) -> list[RelevanceLabel]:
    """One label per labelled image, the one training believes: a coordinator's latest restore or confirmation
    wins over the crowd's label (coordinators judge the image itself, the crowd only rated it), else the crowd's."""
    chosen: dict[int, RelevanceLabel] = {}
    for label in relevance_training_labels(crisis_id=crisis_id).iterator(chunk_size=2000):
        held = chosen.get(label.media_id)
        if held is None or label.source != RelevanceLabel.Source.CROWD or held.source == RelevanceLabel.Source.CROWD:
            chosen[label.media_id] = label  # ordered by time: a later label of the same rank replaces an earlier one
    return list(chosen.values())


def relevance_labelled_scores(*, crisis_id: int, model_version_id: int) -> tuple[list[float], list[float]]:
    """The scores a relevance model version gave to the crisis's labelled images: (relevant, not relevant), one
    per image, by the label training believes (``relevance_verdicts``). Images the rules decided have no score."""
    verdicts = {label.media_id: label.relevant for label in relevance_verdicts(crisis_id=crisis_id)}
    scores = MediaRelevance.objects.filter(media_id__in=list(verdicts), model_version_id=model_version_id)
    relevant, irrelevant = [], []
    for media_id, score in scores.values_list("media_id", "score"):
        (relevant if verdicts[media_id] else irrelevant).append(score)
    return relevant, irrelevant


def relevance_hold_back_threshold(*, crisis_id: int, model_version_id: int | None, default: float) -> float:
    """The crisis's chosen threshold for this model version, else ``default``."""
    row = RelevanceThreshold.objects.filter(crisis_id=crisis_id, model_version_id=model_version_id).first()
    return row.threshold if row is not None else default


def crowd_relevance_verdicts(*, crisis_id: int | None = None) -> dict[int, bool]:
    """Per image the crowd rated: False when its rating consensus is "not relevant", True for any other rating."""
    # consensus.selectors.training_labels() leaves the "not relevant" rows out (the difficulty classifier never
    # trains on them); here they are the point, so this reads the consensus table itself, read-only.
    from consensus.models import RatingConsensus

    rows = RatingConsensus.objects.all()
    if crisis_id is not None:
        rows = rows.filter(crisis_id=crisis_id)
    return {media_id: label != "not_relevant" for media_id, label in rows.values_list("media_id", "label")}


def media_relevance_probabilities(*, media_ids: list[int]) -> dict[int, float]:
    """p(relevant) of the images among ``media_ids`` that the relevance classifier scored (the scheduler's term)."""
    # A restored image was dropped: the coordinator overruled that score, so it gets no relevance term of its own.
    rows = MediaRelevance.objects.filter(media_id__in=media_ids, model_version__isnull=False, dropped=False)
    return {media_id: 1.0 - score for media_id, score in rows.values_list("media_id", "score")}


def post_text_sources(*, post: Post, alt_weight: float, ocr_weight: float) -> list:
    """The texts of a post for geolocation: its text, its images' alt texts and OCR text, with weights."""
    from classification.geolocation.recognizer import SourceText

    sources = [SourceText("post", post.text or "", 1.0)]
    for media in post.media.all().order_by("position").select_related("relevance"):
        if media.alt_text:
            sources.append(SourceText("alt", media.alt_text, alt_weight, media.pk))
        relevance = getattr(media, "relevance", None)
        if relevance is not None and relevance.ocr_text:
            sources.append(SourceText("ocr", relevance.ocr_text, ocr_weight, media.pk))
    return sources


def model_version_active(*, crisis_id: int | None, purpose: str = ModelVersion.Purpose.DIFFICULTY):
    """The version of ``purpose`` that scores a crisis's images: its own active one, else the global active one,
    else None."""
    active = ModelVersion.objects.filter(is_active=True, purpose=purpose)
    if crisis_id is not None:
        own = active.filter(crisis_id=crisis_id).first()
        if own is not None:
            return own
    return active.filter(crisis__isnull=True).first()


SEARCHABLE_KINDS = (Place.Kind.ADMIN1, Place.Kind.ADMIN2, Place.Kind.CITY, Place.Kind.LOCAL)
_searchable: dict[frozenset[str], tuple[float, str, list[tuple]]] = {}


def fold(text: str) -> str:
    """Case and accents folded away: "Mauá" and "maua" are one name to a search box."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def _search_label(name: str, country: str, region: str) -> str:
    """ "Sarandi (RS, BR)": the region's code tells a country's namesakes apart ("Sarandi (PR, BR)")."""
    code = region.partition(".")[2]
    return f"{name} ({code}, {country})" if code else f"{name} ({country})"


def searchable_places(*, country_codes: frozenset[str]) -> list[tuple[str, str, str, float, float, int]]:
    """(folded name, label, country, lat, lon, population) of the gazetteer's towns, regions and counties in these
    countries: towns down to 500 people and the wholes regions split ("Abaco"), where the bundled list the map's
    search used had towns of 15,000 only. Read once per process and country set, again after the table changed
    (looked at once a minute). Empty where the gazetteer has nothing for them yet."""
    now = time.monotonic()
    cached = _searchable.get(country_codes)
    if cached is not None and now - cached[0] < FINGERPRINT_TTL_SECONDS:
        return cached[2]
    fingerprint = gazetteer_fingerprint()
    if cached is not None and cached[1] == fingerprint:
        rows = cached[2]
    else:
        places = Place.objects.filter(country_code__in=country_codes, kind__in=SEARCHABLE_KINDS)
        rows = [
            (fold(name), _search_label(name, country, region), country, lat, lon, population)
            for name, country, region, lat, lon, population in places.values_list(
                "name", "country_code", "admin1_code", "lat", "lon", "population"
            )
        ]
    _searchable[country_codes] = (now, fingerprint, rows)
    return rows


_country_circles: dict[frozenset[str], tuple[float, list[dict]]] = {}


def country_circles(*, country_codes: frozenset[str]) -> list[dict]:
    """``{lat, lon, radius_m}`` of each of these countries as the gazetteer holds it (a crisis without a drawn area
    is its countries: where a map of it opens). Read again once a minute at most."""
    now = time.monotonic()
    cached = _country_circles.get(country_codes)
    if cached is not None and now - cached[0] < FINGERPRINT_TTL_SECONDS:
        return cached[1]
    countries = Place.objects.filter(kind=Place.Kind.COUNTRY, country_code__in=country_codes)
    circles = [
        {"lat": lat, "lon": lon, "radius_m": radius_km * 1000}
        for lat, lon, radius_km in countries.order_by("country_code").values_list("lat", "lon", "radius_km")
    ]
    _country_circles[country_codes] = (now, circles)
    return circles


# Towns of 500 people lie this near nearly every inhabited point; farther out (sea, ice, desert) the gazetteer cannot
# say which country a point is in, and it is not called abroad.
COUNTRY_READING_KM = 60.0
TOWN_KINDS = (Place.Kind.CITY, Place.Kind.LOCAL)


def km_outside_countries(*, lat: float, lon: float, country_codes: frozenset[str]) -> float:
    """How far a point lies outside these countries, read from the gazetteer's towns: 0 when the nearest town within
    ``COUNTRY_READING_KM`` is in one of them, or when no town is that near; else the distance to the nearest of their
    towns that near, or, with none, to the nearest of their countries' circles (at least the reading distance).
    Approximate at a border by the spacing of towns: callers allow a margin."""
    if not country_codes:
        return 0.0
    dlat = COUNTRY_READING_KM / 111.32
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    towns = Place.objects.filter(
        kind__in=TOWN_KINDS, lat__range=(lat - dlat, lat + dlat), lon__range=(lon - dlon, lon + dlon)
    ).values_list("lat", "lon", "country_code")
    nearest, nearest_home = None, None
    for town_lat, town_lon, country in towns:
        km = haversine_km(lat, lon, town_lat, town_lon)
        if km > COUNTRY_READING_KM:
            continue
        if nearest is None or km < nearest[0]:
            nearest = (km, country)
        if country in country_codes and (nearest_home is None or km < nearest_home):
            nearest_home = km
    if nearest is None or nearest[1] in country_codes:
        return 0.0
    if nearest_home is not None:
        return nearest_home
    circles = country_circles(country_codes=country_codes)
    beyond = [haversine_km(lat, lon, c["lat"], c["lon"]) - c["radius_m"] / 1000 for c in circles]
    return max(COUNTRY_READING_KM, min(beyond, default=COUNTRY_READING_KM))


def searchable_places_forget() -> None:
    """Drop this process's copy of the searchable places and country circles (tests: rolled-back Place rows)."""
    _searchable.clear()
    _country_circles.clear()
