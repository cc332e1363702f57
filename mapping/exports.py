"""Exports of a crisis's verified locations: GeoJSON (RFC 7946), CSV with HXL hashtags, KML, GeoPackage.

All four read the same rows as the map (``selectors.map_points``) with the same privacy: coordinates are exact
only for the crisis's responders and coordinators, author handles only for coordinators. The GeoPackage is
written with the standard library's sqlite3 (the format is SQLite with three metadata tables), so exports need
no GDAL; the tests read every format back with pyogrio/GDAL.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from mapping import selectors
from mapping.geojson import feature_collection, iso_time, point_features, safe_url
from mapping.privacy import coarse_radius, grid_snap
from mapping.selectors import CrisisAccess, MapFilters

FORMATS = {
    "geojson": ("application/geo+json", "geojson"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
}

# (column, HXL hashtag): the second header row of the CSV, for HDX (https://hxlstandard.org/standard/1-1final/).
COLUMNS = [
    ("id", "#meta+id"),
    ("crisis", "#crisis+code"),
    ("hazard", "#crisis+type"),
    ("lat", "#geo+lat"),
    ("lon", "#geo+lon"),
    ("radius_68_m", "#geo+radius+p68"),
    ("radius_95_m", "#geo+radius+p95"),
    ("precision", "#indicator+precision"),
    ("ambiguous", "#indicator+ambiguous"),
    ("answers", "#indicator+answers+num"),
    ("review", "#status+review"),
    ("trusted", "#indicator+trusted"),
    ("exact", "#indicator+exact"),
    ("posted_at", "#date+posted"),
    ("updated_at", "#date+updated"),
    ("source", "#meta+source"),
    ("url", "#meta+url"),
    ("text", "#description"),
    ("image", "#meta+image+url"),
]
AUTHOR_COLUMN = ("author", "#contact+author")


@dataclass(frozen=True)
class Export:
    content: bytes
    content_type: str
    filename: str
    count: int


def export_records(*, access: CrisisAccess, filters: MapFilters, image_url: str, now: datetime) -> list[dict]:
    """One dict per point, coordinates already exact or snapped as ``access`` allows."""
    rows = selectors.map_points(accesses=[access], filters=filters, now=now)
    grid = settings.MAP_PUBLIC_GRID_M
    prefix, suffix = image_url.split("{id}")
    records = []
    for (
        media_id, _crisis_id, lat, lon, r68, r95, precision, ambiguous, n_answers, review, updated_at, text, url,
        source, posted_at, author, trusted, _evidence,
    ) in rows:  # fmt: skip
        if not access.exact:
            lat, lon = grid_snap(lat, lon, grid)
            r68, r95 = coarse_radius(r68, grid), coarse_radius(r95, grid)
            if filters.bbox and not (
                filters.bbox[1] <= lat <= filters.bbox[3] and filters.bbox[0] <= lon <= filters.bbox[2]
            ):
                continue
        record = {
            "id": media_id,
            "crisis": access.slug,
            "hazard": access.hazard,
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "radius_68_m": None if r68 is None else round(r68, 1),
            "radius_95_m": None if r95 is None else round(r95, 1),
            "precision": precision,
            "ambiguous": bool(ambiguous),
            "answers": n_answers,
            "review": review,
            "trusted": bool(trusted),
            "exact": access.exact,
            "posted_at": iso_time(posted_at),
            "updated_at": iso_time(updated_at),
            "source": source,
            "url": safe_url(url),
            "text": text or "",
            "image": f"{prefix}{media_id}{suffix}",
        }
        if access.show_author:
            record["author"] = author
        records.append(record)
    return records


def _columns(access: CrisisAccess) -> list[tuple[str, str]]:
    return [*COLUMNS, AUTHOR_COLUMN] if access.show_author else COLUMNS


def to_geojson(*, access: CrisisAccess, filters: MapFilters, image_url: str, now: datetime) -> tuple[bytes, int]:
    rows = selectors.map_points(accesses=[access], filters=filters, now=now)
    features, _ = point_features(rows, accesses={access.crisis_id: access}, image_url=image_url, bbox=filters.bbox)
    body = feature_collection(features, name=access.slug, generated_at=now.isoformat())
    return body.encode(), len(features)


def _csv_cell(value) -> object:
    """Neutralise spreadsheet formulas in crawled text (CSV injection): a leading = + - @ gets a quote mark."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(records: list[dict], *, access: CrisisAccess) -> bytes:
    columns = _columns(access)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    writer.writerow([tag for _, tag in columns])
    for record in records:
        writer.writerow([_csv_cell(record[name]) for name, _ in columns])
    return out.getvalue().encode("utf-8")


# Characters XML 1.0 forbids (section 2.2), lone surrogates included: one of them in a crawled post would make the
# whole document not well-formed, so each becomes U+FFFD, which says that something unreadable stood there.
XML_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """``value`` as XML character data: forbidden characters replaced, markup escaped."""
    return escape(XML_FORBIDDEN.sub("\ufffd", "" if value is None else str(value)))


KML_STYLES = {"high": "ff50981a", "medium": "ff61aefd", "low": "ff2730d7", "": "ff888888"}  # aabbggrr


def to_kml(records: list[dict], *, access: CrisisAccess) -> bytes:
    columns = [name for name, _ in _columns(access) if name not in ("lat", "lon")]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
        f"<name>{xml_text(access.name)}</name>",
    ]
    for precision, colour in KML_STYLES.items():
        parts.append(
            f'<Style id="precision-{precision or "none"}"><IconStyle><color>{colour}</color></IconStyle></Style>'
        )
    for record in records:
        data = "".join(f'<Data name="{name}"><value>{xml_text(record[name])}</value></Data>' for name in columns)
        when = f"<TimeStamp><when>{record['posted_at']}</when></TimeStamp>" if record["posted_at"] else ""
        parts.append(
            f"<Placemark><name>Image {record['id']}</name>"
            f"<description>{xml_text(record['text'])}</description>{when}"
            f"<styleUrl>#precision-{record['precision'] or 'none'}</styleUrl>"
            f"<ExtendedData>{data}</ExtendedData>"
            f"<Point><coordinates>{record['lon']:.6f},{record['lat']:.6f},0</coordinates></Point></Placemark>"
        )
    parts.append("</Document></kml>")
    return "".join(parts).encode("utf-8")


GPKG_TYPES = {int: "INTEGER", float: "REAL", bool: "BOOLEAN", str: "TEXT"}
GPKG_COLUMN_TYPES = {
    "id": "INTEGER",
    "radius_68_m": "REAL",
    "radius_95_m": "REAL",
    "ambiguous": "BOOLEAN",
    "answers": "INTEGER",
    "exact": "BOOLEAN",
}
WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]'
)


def _gpkg_point(lon: float, lat: float) -> bytes:
    # GeoPackage binary header: magic "GP", version 0, flags (little endian, no envelope), srs id; then WKB.
    return b"GP" + struct.pack("<BBi", 0, 0b00000001, 4326) + struct.pack("<BIdd", 1, 1, lon, lat)


def to_gpkg(records: list[dict], *, access: CrisisAccess, now: datetime) -> bytes:
    """A GeoPackage 1.3 with one point layer named after the crisis (OGC 12-128r18)."""
    table = "locations"
    columns = [name for name, _ in _columns(access) if name not in ("lat", "lon", "id")]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.gpkg"
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA application_id = 1196444487")  # "GPKG"
            db.execute("PRAGMA user_version = 10300")
            db.executescript(
                """
                CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
                    organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
                    definition TEXT NOT NULL, description TEXT);
                CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
                    identifier TEXT UNIQUE, description TEXT DEFAULT '',
                    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
                    min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
                CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
                    geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
                    m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
                """
            )
            db.executemany(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
                [
                    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", ""),
                    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", ""),
                    ("WGS 84 geodetic", 4326, "EPSG", 4326, WGS84_WKT, "longitude/latitude in WGS84"),
                ],
            )
            column_sql = ", ".join(f'"{name}" {GPKG_COLUMN_TYPES.get(name, "TEXT")}' for name in columns)
            db.execute(f'CREATE TABLE "{table}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, {column_sql})')
            lons = [r["lon"] for r in records] or [0.0]
            lats = [r["lat"] for r in records] or [0.0]
            db.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, min_x, "
                "min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, ?, ?, ?, ?, ?, ?, 4326)",
                (table, access.slug, access.name, now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                 min(lons), min(lats), max(lons), max(lats)),
            )  # fmt: skip
            db.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'POINT', 4326, 0, 0)", (table,))
            placeholders = ", ".join("?" for _ in columns)
            quoted = ", ".join(f'"{name}"' for name in columns)
            db.executemany(
                f'INSERT INTO "{table}" (fid, geom, {quoted}) VALUES (?, ?, {placeholders})',  # noqa: S608 - our names
                (
                    (r["id"], _gpkg_point(r["lon"], r["lat"]), *(_gpkg_value(r[name]) for name in columns))
                    for r in records
                ),
            )
            db.commit()
        finally:
            db.close()
        return path.read_bytes()


def _gpkg_value(value):
    if isinstance(value, bool):
        return int(value)
    return value


def crisis_export(*, access: CrisisAccess, filters: MapFilters, fmt: str, image_url: str) -> Export:
    """The file of one crisis in ``fmt`` (a key of FORMATS)."""
    now = timezone.now()
    content_type, extension = FORMATS[fmt]
    if fmt == "geojson":
        content, count = to_geojson(access=access, filters=filters, image_url=image_url, now=now)
    else:
        records = export_records(access=access, filters=filters, image_url=image_url, now=now)
        count = len(records)
        if fmt == "csv":
            content = to_csv(records, access=access)
        elif fmt == "kml":
            content = to_kml(records, access=access)
        else:
            content = to_gpkg(records, access=access, now=now)
    filename = f"{access.slug}-locations-{now:%Y%m%dT%H%M%SZ}.{extension}"
    return Export(content=content, content_type=content_type, filename=filename, count=count)


def as_response(export: Export) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Feature-Count"] = str(export.count)
    return response
