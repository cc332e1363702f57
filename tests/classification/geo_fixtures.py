"""A tiny hand-made gazetteer and fake geocoder server for the text-geolocation tests (no package data)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from classification.geolocation.gazetteer import GazetteerIndex
from classification.geolocation.loader import geolocator_reset
from classification.geolocation.recognizer import Recognizer
from classification.geolocation.resolver import GeoLocator
from classification.models import Place

# (kind, name, alternate names, country, lat, lon, population, radius_km)
PLACES = [
    ("country", "Brazil", ["Brasil", "Brésil"], "BR", -10.0, -55.0, 0, 1650.0),
    ("country", "United States", ["USA", "US", "U.S."], "US", 38.0, -97.0, 0, 1770.0),
    ("country", "Costa Rica", [], "CR", 10.0, -84.0, 0, 128.0),
    ("admin1", "Rio Grande do Sul", [], "BR", -30.0, -53.5, 0, 300.0),
    ("admin1", "Texas", ["TX"], "US", 31.0, -100.0, 0, 450.0),
    ("city", "Porto Alegre", ["Portalegre"], "BR", -30.0331, -51.23, 1_400_000, 27.5),
    ("city", "Canoas", [], "BR", -29.9178, -51.1839, 323_000, 19.0),
    ("city", "Eldorado do Sul", [], "BR", -30.0847, -51.6187, 34_000, 10.9),
    ("city", "Canoas", [], "CR", 8.63, -82.85, 5_000, 6.7),
    ("city", "Houston", [], "US", 29.7633, -95.3633, 2_300_000, 31.3),
    ("city", "Rockport", [], "US", 28.0206, -97.0544, 9_000, 7.8),
    ("city", "Harvey", [], "US", 41.61, -87.6467, 25_000, 10.1),
    ("city", "Tokyo", ["東京", "Tokio"], "JP", 35.6895, 139.6917, 8_300_000, 43.0),
]


def place_rows() -> list[tuple]:
    return [
        (n + 1, kind, name, alternates, country, lat, lon, population, radius)
        for n, (kind, name, alternates, country, lat, lon, population, radius) in enumerate(PLACES)
    ]


def tiny_locator(matcher: str = "ngram") -> GeoLocator:
    key = Recognizer(GazetteerIndex.empty()).name_key
    index = GazetteerIndex.build(place_rows(), name_key=key)
    return GeoLocator(Recognizer(index, matcher=matcher))


HARVEY_AREA = {
    "type": "Polygon",
    "coordinates": [[[-97.5, 27.5], [-94.5, 27.5], [-94.5, 30.5], [-97.5, 30.5], [-97.5, 27.5]]],
}


def places_store(places: list[tuple]) -> None:
    """Rows shaped like ``PLACES`` into the Place table."""
    for kind, name, alternates, country, lat, lon, population, radius in places:
        Place.objects.create(
            kind=kind,
            name=name,
            alternate_names=alternates,
            country_code=country,
            lat=lat,
            lon=lon,
            population=population,
            radius_km=radius,
            source="test",
            source_id=f"{country}:{name}",
        )


@pytest.fixture
def gazetteer(db, settings, tmp_path):
    """The tiny gazetteer in the Place table, with the index cache in a temporary folder."""
    settings.GEOLOC_GAZETTEER_CACHE_DIR = tmp_path / "gazetteer"
    places_store(PLACES)
    geolocator_reset()
    yield
    geolocator_reset()


class FakeGeocoder:
    """A geocoding server on loopback answering /search (Nominatim JSON) and /api (Photon GeoJSON)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.results: list[dict] = []
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append({"path": parts.path, "query": query, "agent": self.headers.get("User-Agent")})
                if fake.status != 200:
                    self.send_response(fake.status)
                    self.end_headers()
                    return
                if parts.path.endswith("/api"):
                    body = {"type": "FeatureCollection", "features": [photon_feature(r) for r in fake.results]}
                else:
                    body = fake.results
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def nominatim_result(name: str, lat: float, lon: float, *, kind: str = "secondary") -> dict:
    """A /search?format=json result in Nominatim's documented shape (strings for numbers, as it sends them)."""
    return {
        "place_id": 123,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
        "osm_type": "way",
        "osm_id": 456,
        "lat": str(lat),
        "lon": str(lon),
        "class": "highway",
        "type": kind,
        "place_rank": 26,
        "importance": 0.1,
        "addresstype": "road",
        "name": name.split(",")[0],
        "display_name": name,
        "boundingbox": [str(lat - 0.01), str(lat + 0.01), str(lon - 0.02), str(lon + 0.02)],
    }


def photon_feature(result: dict) -> dict:
    lat, lon = float(result["lat"]), float(result["lon"])
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "name": result["name"],
            "osm_value": result["type"],
            "extent": [lon - 0.02, lat + 0.01, lon + 0.02, lat - 0.01],
        },
    }


@pytest.fixture
def fake_geocoder(settings):
    server = FakeGeocoder()
    settings.GEOCODER_PROVIDER = "nominatim"
    settings.GEOCODER_URL = server.url
    settings.GEOCODER_MIN_DELAY_SECONDS = 0.0
    settings.GEOCODER_USER_AGENT = "geoloc-tests"
    yield server
    server.stop()
