"""Every export format read back with GDAL (pyogrio): features, coordinates, privacy, rate limit."""

import csv
import io
import json
from datetime import timedelta

import pyogrio
import pytest
from defusedxml import ElementTree
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoloc_platform.crises.models import Crisis
from mapping import exports
from mapping import selectors as map_selectors
from mapping.privacy import grid_snap
from mapping.selectors import MapFilters
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


class TestEveryExportParsesWhateverTheCrowdWrote:
    """Random Unicode in posts, handles and the crisis name, through every export, read back by strict parsers."""

    # What the database can hold: PostgreSQL refuses NUL (the ingest strips it) and neither backend stores lone
    # surrogates. xml_text gets every code point below.
    STORED_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)

    @staticmethod
    def parse_each(content_by_format: dict[str, bytes], tmp_path) -> dict[str, object]:
        kml = ElementTree.fromstring(content_by_format["kml"])  # expat, hardened: refuses anything not well-formed
        geojson = json.loads(content_by_format["geojson"], parse_constant=pytest.fail)
        rows = list(csv.reader(io.StringIO(content_by_format["csv"].decode("utf-8"), newline="")))
        for fmt, content in content_by_format.items():
            path = tmp_path / f"export.{fmt}"
            path.write_bytes(content)
            assert pyogrio.read_info(path)["features"] >= 1, fmt
        return {"kml": kml, "geojson": geojson, "csv": rows}

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
    )
    @given(text=STORED_TEXT, author=STORED_TEXT, crisis_name=STORED_TEXT.filter(str.strip))
    def test_every_format_is_well_formed_and_keeps_every_allowed_character(
        self, active_crises, tmp_path, text, author, crisis_name
    ):
        crisis = active_crises["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(name=crisis_name)
        crisis.refresh_from_db()
        media = make_point(crisis, text=text, author=author)
        access = map_selectors.crisis_access(user=active_crises["coordinator"], crisis=crisis)
        content_by_format = {
            fmt: exports.crisis_export(access=access, filters=MapFilters(), fmt=fmt, image_url="/i/{id}/").content
            for fmt in exports.FORMATS
        }
        media.post.delete()
        parsed = self.parse_each(content_by_format, tmp_path)

        kml_ns = {"k": "http://www.opengis.net/kml/2.2"}
        placemark = parsed["kml"].find("k:Document/k:Placemark", kml_ns)
        readable = exports.XML_FORBIDDEN.sub("\ufffd", text)
        # An XML parser reads a carriage return as a line feed (XML 1.0, 2.11); nothing else may change.
        assert placemark.findtext("k:description", namespaces=kml_ns) == readable.replace("\r\n", "\n").replace(
            "\r", "\n"
        )
        assert parsed["geojson"]["features"][0]["properties"]["text"] == text
        assert parsed["csv"][2][parsed["csv"][0].index("author")].lstrip("'") == author.lstrip("'")

    @given(value=st.text(st.characters(), max_size=60))
    def test_xml_text_makes_any_string_xml_character_data(self, value):
        element = ElementTree.fromstring(f"<v>{exports.xml_text(value)}</v>".encode("utf-8", "surrogatepass"))
        for char in element.text or "":
            assert char in "\t\n" or 0x20 <= ord(char) <= 0xD7FF or 0xE000 <= ord(char) <= 0xFFFD or ord(char) > 0xFFFF

    @pytest.mark.parametrize("character", ["\x0b", "\x1b", "\x00", "\ufffe", "\uffff", "\ud800", "\x7f\x0c"])
    def test_one_forbidden_character_in_a_post_no_longer_breaks_the_kml(self, character, active_crises):
        crisis = active_crises["crisis"]
        access = map_selectors.crisis_access(user=active_crises["coordinator"], crisis=crisis)
        record = {name: "" for name, _ in [*exports.COLUMNS, exports.AUTHOR_COLUMN]}
        record.update(id=1, lat=1.0, lon=2.0, precision="high", posted_at=None, text=f"flood{character}street")
        document = ElementTree.fromstring(exports.to_kml([record], access=access))
        description = document.find(".//{http://www.opengis.net/kml/2.2}description").text
        assert description.startswith("flood") and description.endswith("street")
