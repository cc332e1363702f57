"""Every export format read back with GDAL (pyogrio): features, coordinates, privacy, rate limit."""

import csv
import io
from datetime import timedelta

import pyogrio
import pytest
from django.core.cache import cache
from django.test import Client

from geoloc_platform.crises.models import Crisis
from mapping.privacy import grid_snap
from tests.mapping.conftest import make_point

POINTS = [(-30.031234, -51.221234), (-30.1, -51.05)]


def export_url(crisis, fmt: str) -> str:
    return f"/api/map/crises/{crisis.slug}/export/{fmt}/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read_back(tmp_path, content: bytes, fmt: str):
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(content)
    if fmt == "csv":
        # GDAL reads the CSV's first header row; the HXL row is the first record and is dropped here.
        meta, data = pyogrio.read_info(path), pyogrio.raw.read(path, skip_features=1, read_geometry=False)
        fields = list(meta["fields"])
        columns = dict(zip(fields, data[3], strict=True))
        return [(float(x), float(y)) for x, y in zip(columns["lon"], columns["lat"], strict=True)], columns
    meta, _, geometry, field_data = pyogrio.raw.read(path)
    import shapely

    points = shapely.from_wkb(geometry)
    columns = dict(zip(meta["fields"], field_data, strict=True))
    assert meta["crs"] in ("EPSG:4326", "OGC:CRS84")
    return [(p.x, p.y) for p in points], columns


@pytest.fixture
def points(active_crises):
    crisis = active_crises["crisis"]
    return [make_point(crisis, lat=lat, lon=lon, author="@bob", text=f"=HYPERLINK(x) {i}") for i, (lat, lon) in
            enumerate(POINTS)]  # fmt: skip


@pytest.mark.parametrize("fmt", ["geojson", "csv", "kml", "gpkg"])
def test_a_responder_export_reads_back_with_exact_lon_lat(fmt, active_crises, points, tmp_path):
    cache.clear()
    response = logged_in(active_crises["responder"]).get(export_url(active_crises["crisis"], fmt))
    assert response.status_code == 200, response.content
    assert "attachment" in response["Content-Disposition"]
    coords, columns = read_back(tmp_path, response.content, fmt)
    expected = sorted((lon, lat) for lat, lon in POINTS)
    assert sorted((round(x, 6), round(y, 6)) for x, y in coords) == expected
    names = {name.lower() for name in columns}
    assert "author" not in names  # handles: coordinators only
    assert {"precision", "answers", "review"} <= names


def test_the_csv_has_hxl_hashtags_on_its_second_row_and_no_formulas(active_crises, points):
    cache.clear()
    content = logged_in(active_crises["responder"]).get(export_url(active_crises["crisis"], "csv")).content
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0][:5] == ["id", "crisis", "hazard", "lat", "lon"]
    assert rows[1][3:5] == ["#geo+lat", "#geo+lon"]
    assert all(tag.startswith("#") for tag in rows[1])
    text = rows[0].index("text")
    assert all(row[text].startswith("'=") for row in rows[2:])  # CSV injection neutralised


def test_a_coordinator_export_carries_author_handles(active_crises, points, tmp_path):
    cache.clear()
    response = logged_in(active_crises["coordinator"]).get(export_url(active_crises["crisis"], "gpkg"))
    _, columns = read_back(tmp_path, response.content, "gpkg")
    assert list(columns["author"]) == ["@bob", "@bob"]


def test_a_public_export_is_coarse_and_delayed(active_crises, settings, tmp_path):
    cache.clear()
    crisis = active_crises["crisis"]
    make_point(crisis)  # too fresh for the public
    make_point(crisis, lat=-30.031234, lon=-51.221234, age=settings.MAP_PUBLIC_DELAY + timedelta(minutes=5))
    response = Client().get(export_url(crisis, "geojson"))
    coords, _ = read_back(tmp_path, response.content, "geojson")
    lat, lon = grid_snap(-30.031234, -51.221234, settings.MAP_PUBLIC_GRID_M)
    assert [(round(x, 6), round(y, 6)) for x, y in coords] == [(round(lon, 6), round(lat, 6))]


def test_private_crisis_exports_are_for_its_responders_and_coordinators_only(active_crises, points):
    cache.clear()
    crisis = active_crises["crisis"]
    Crisis.objects.filter(pk=crisis.pk).update(visibility=Crisis.Visibility.PRIVATE)
    assert Client().get(export_url(crisis, "csv")).status_code == 404
    for user in ("volunteer", "global_responder", "other_coordinator"):
        assert logged_in(active_crises[user]).get(export_url(crisis, "csv")).status_code == 404
    for user in ("responder", "coordinator"):
        assert logged_in(active_crises[user]).get(export_url(crisis, "csv")).status_code == 200


def test_an_unknown_format_is_a_404(active_crises):
    assert logged_in(active_crises["responder"]).get(export_url(active_crises["crisis"], "xls")).status_code == 404


def test_exports_are_rate_limited(active_crises, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    # DRF copies its rates onto the throttle class at import; patching the base class is undone after the test.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "map_export": "2/hour"}
    )
    client = logged_in(active_crises["responder"])
    codes = [client.get(export_url(active_crises["crisis"], "csv")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
