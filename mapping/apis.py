"""The map API: GeoJSON of verified points and text guesses (bbox, filters, pages, ``since``), exports, dashboard.

Thin views: the input serializers make the 400s, selectors choose rows and permissions, ``geojson`` and
``exports`` write the bytes. Responses are built by hand (not DRF's renderer) because that is the fast path.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.selectors import user_is_coordinator
from geoloc_platform.throttling import ScopedRateThrottle
from mapping import exports, selectors, services
from mapping.forecast import assumptions_said
from mapping.geojson import as_datetime, feature_collection, guess_features, point_features
from mapping.selectors import PRECISION_RANK, CrisisAccess, MapFilters

MAX_PAGE = 50_000


class MapFilterInput(serializers.Serializer):
    """Filters shared by the map layers and the exports; every one is also a query parameter of the map page."""

    crisis = serializers.CharField(required=False, help_text="Crisis slug, or several separated by commas.")
    hazard = serializers.ChoiceField(choices=Crisis.Hazard.choices, required=False)
    bbox = serializers.CharField(required=False, help_text="min_lon,min_lat,max_lon,max_lat (WGS84).")
    start = serializers.DateTimeField(required=False, help_text="Posts made at or after this time.")
    end = serializers.DateTimeField(required=False, help_text="Posts made at or before this time.")
    confidence = serializers.ChoiceField(
        choices=list(PRECISION_RANK), required=False, help_text="Lowest precision to show (low < medium < high)."
    )
    max_radius = serializers.FloatField(required=False, min_value=0, help_text="Largest 68% radius, metres.")
    tags = serializers.CharField(required=False, help_text="Hashtags (without #), any of, separated by commas.")

    def validate_bbox(self, value: str) -> tuple[float, float, float, float]:
        try:
            min_lon, min_lat, max_lon, max_lat = (float(part) for part in value.split(","))
        except ValueError:
            raise serializers.ValidationError("Give min_lon,min_lat,max_lon,max_lat.") from None
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            raise serializers.ValidationError("The box must lie within -180..180, -90..90, min before max.")
        return min_lon, min_lat, max_lon, max_lat

    def validate_tags(self, value: str) -> tuple[str, ...]:
        tags = tuple(dict.fromkeys(tag.strip().lstrip("#") for tag in value.split(",") if tag.strip().lstrip("#")))
        if len(tags) > 20 or any(len(tag) > 100 or '"' in tag for tag in tags):
            raise serializers.ValidationError("At most 20 tags of up to 100 characters.")
        return tags

    @staticmethod
    def filters(data: dict) -> MapFilters:
        return MapFilters(
            bbox=data.get("bbox"),
            posted_from=data.get("start"),
            posted_to=data.get("end"),
            min_precision=data.get("confidence"),
            max_radius_m=data.get("max_radius"),
            tags=data.get("tags", ()),
        )


def _accesses(request, data: dict) -> list[CrisisAccess]:
    slugs = [slug.strip() for slug in data.get("crisis", "").split(",") if slug.strip()] or None
    accesses = selectors.map_accesses(user=request.user, slugs=slugs, hazard=data.get("hazard"))
    if slugs and len({a.slug for a in accesses}) < len(set(slugs)) and not data.get("hazard"):
        raise Http404("No such crisis.")  # private crises do not reveal that they exist
    return accesses


def _cursor_encode(updated_at: datetime, media_id: int) -> str:
    return base64.urlsafe_b64encode(f"{updated_at.isoformat()}|{media_id}".encode()).decode().rstrip("=")


def _cursor_decode(value: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at, media_id = raw.rsplit("|", 1)
        parsed = parse_datetime(at)
        if parsed is None:
            raise ValueError(at)
        return parsed, int(media_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise serializers.ValidationError({"cursor": "Not a cursor this API gave."}) from None


def _geojson_response(body: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/geo+json")
    response["Cache-Control"] = "private, no-store"
    return response


def _image_url() -> str:
    return reverse("mapping:media-image", args=[0]).replace("/0/", "/{id}/")


FILTER_PARAMETERS = [
    OpenApiParameter(name, OpenApiTypes.STR, description=help_text)
    for name, help_text in (
        ("crisis", "Crisis slug(s), comma-separated; default: every crisis you may see."),
        ("hazard", "flood, earthquake, wildfire, storm, landslide, other."),
        ("bbox", "min_lon,min_lat,max_lon,max_lat."),
        ("start", "ISO 8601: posts made at or after."),
        ("end", "ISO 8601: posts made at or before."),
        ("confidence", "low, medium or high: the lowest precision shown."),
        ("max_radius", "Largest 68% radius in metres."),
        ("tags", "Hashtags, comma-separated (any of)."),
    )
]


class MapFeaturesApi(APIView):
    """Crowd-verified locations as GeoJSON. Public crises are coarsened and delayed unless you are a responder."""

    permission_classes = [AllowAny]  # public maps are public; selectors decide crisis by crisis
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "map_features"

    class InputSerializer(MapFilterInput):
        since = serializers.DateTimeField(required=False, help_text="Only points changed since (the `since` given).")
        cursor = serializers.CharField(required=False, help_text="The `cursor` of the previous page.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    @extend_schema(
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Live updates: the `since` of a response."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="Next page: the `cursor` of a response."),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"Page size, up to {MAX_PAGE}."),
        ],
        responses={200: OpenApiResponse(description="GeoJSON FeatureCollection with `cursor`, `since`, `removed`.")},
    )
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        accesses = _accesses(request, data)
        filters = MapFilterInput.filters(data)
        after = _cursor_decode(data["cursor"]) if data.get("cursor") else None
        limit = data.get("limit", settings.MAP_PAGE_SIZE)
        now = timezone.now()
        since = data.get("since")
        rows = selectors.map_points(
            accesses=accesses, filters=filters, now=now, since=since, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        features, _ = point_features(
            rows, accesses={a.crisis_id: a for a in accesses}, image_url=_image_url(), bbox=filters.bbox
        )
        removed = selectors.map_points_removed(accesses=accesses, since=since) if since and not after else []
        body = feature_collection(
            features,
            cursor=_cursor_encode(as_datetime(rows[-1][10]), rows[-1][0]) if more else None,
            since=now.isoformat(),
            removed=removed,
            poll_seconds=settings.MAP_LIVE_POLL_SECONDS,
        )
        return _geojson_response(body)


class MapGuessesApi(APIView):
    """Unverified text-derived locations of images the crowd has not placed yet (clearly not crowd results)."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "map_features"

    class InputSerializer(MapFilterInput):
        include_fallback = serializers.BooleanField(required=False, default=False)
        after = serializers.IntegerField(required=False, min_value=0, default=0, help_text="Last id of a page.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: OpenApiResponse(description="GeoJSON")})
    def get(self, request):
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        accesses = _accesses(request, data)
        filters = MapFilterInput.filters(data)
        limit = data.get("limit", settings.MAP_PAGE_SIZE)
        rows = selectors.text_guesses(
            accesses=accesses,
            filters=filters,
            now=timezone.now(),
            include_fallback=data["include_fallback"],
            after_id=data["after"],
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        features, _ = guess_features(
            rows, accesses={a.crisis_id: a for a in accesses}, image_url=_image_url(), bbox=filters.bbox
        )
        return _geojson_response(feature_collection(features, after=rows[-1][0] if more else None))


class MapExportApi(APIView):
    """One crisis's verified locations as GeoJSON, CSV (HXL), KML or GeoPackage, with the map's filters."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "map_export"

    class InputSerializer(MapFilterInput):
        pass

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={200: OpenApiResponse(description="The file, as an attachment.")},
    )
    def get(self, request, slug: str, fmt: str):
        if fmt not in exports.FORMATS:
            raise Http404("Unknown export format.")
        crisis = get_object_or_404(Crisis, slug=slug)
        access = selectors.crisis_access(user=request.user, crisis=crisis)
        if access is None:
            raise Http404("No such crisis.")
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        export = exports.crisis_export(
            access=access,
            filters=MapFilterInput.filters(serializer.validated_data),
            fmt=fmt,
            image_url=request.build_absolute_uri("/").rstrip("/") + _image_url(),  # keeps {id} unescaped
        )
        return exports.as_response(export)


class DashboardApi(APIView):
    """A crisis's coordinator statistics, at most ``MAP_DASHBOARD_MAX_AGE_SECONDS`` old, with the time they are of."""

    class OutputSerializer(serializers.Serializer):
        crisis = serializers.CharField(source="crisis.slug")
        computed_at = serializers.DateTimeField()
        age_seconds = serializers.FloatField(help_text="How old the statistics were when served (clocks may differ).")
        data = serializers.JSONField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, slug: str):
        crisis = get_object_or_404(Crisis, slug=slug)
        if not user_is_coordinator(user=request.user, crisis=crisis):
            raise Http404("No such crisis.")
        snapshot = services.dashboard_snapshot_fresh(crisis=crisis)
        snapshot.age_seconds = round((timezone.now() - snapshot.computed_at).total_seconds(), 1)
        body = self.OutputSerializer(snapshot).data
        forecast = (body["data"] or {}).get("forecast")
        if forecast:  # a copy for this response: the snapshot is shared by coordinators of every language
            said = assumptions_said(forecast["assumptions"])
            body["data"] = {**body["data"], "forecast": {**forecast, "assumptions": said}}
        return Response(body)
