"""Read posts from dataset files: CrisisMMD annotation TSV with its image folder, Twitter v1.1 JSON/JSONL,
and a plain CSV. Each reader yields NormalisedPost, or SkippedItem for an item it could not read (the rest of the
file still imports); ``services.posts_import`` stores the posts and records the skips."""

import csv
import hashlib
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crawling.models import Post
from crawling.sources.base import (
    NormalisedMedia,
    NormalisedPost,
    bbox_centre,
    hashtags_in,
    parse_iso,
    polygon_bbox,
    to_int,
    valid_point,
)

FORMATS = {"crisismmd": Post.Source.CRISISMMD, "twitter": Post.Source.TWITTER_V1, "csv": Post.Source.CSV}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


class ImportFileError(Exception):
    """The file cannot be read in the format asked for."""


@dataclass(frozen=True)
class SkippedItem:
    """One row, line or tweet that could not be read; ``reason`` names it and says why."""

    reason: str


# Parsing untrusted structure: what a malformed tweet raises (a missing key, a string where a list belongs...).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def read_text(path: Path) -> str:
    return decode_text(path.read_bytes())


def _finite_only(constant: str) -> None:
    """json accepts NaN and Infinity, which no database JSON column stores: read them as null."""
    return None


def _inside(base: Path | None, relative: str) -> str:
    """The absolute path of ``relative`` under ``base`` if that file exists there; '' otherwise.

    Paths that climb out of ``base`` (``../``, absolute paths, links) are refused: a dataset names files in
    its own folder, not elsewhere on the server.
    """
    if base is None or not relative:
        return ""
    base = base.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return ""
    return str(candidate)


# CrisisMMD -------------------------------------------------------------------------------------------

_DATE_DIR = re.compile(r"(?:^|/)(\d{1,2})_(\d{1,2})_(\d{4})/")


def read_crisismmd(path: Path, *, images_dir: Path | None = None) -> Iterator[NormalisedPost]:
    """One post per tweet_id; its rows (one per image, ``<tweet_id>_<n>``) become its media in order.

    The TSV has no post time: the collector's date folder in image_path (``31_5_2017/``) gives the day.
    """
    posts: dict[str, NormalisedPost] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        if not reader.fieldnames or not {"tweet_id", "image_id"} <= set(reader.fieldnames):
            raise ImportFileError("not a CrisisMMD annotation TSV: tweet_id and image_id columns are missing")
        for row in reader:
            tweet_id = (row.get("tweet_id") or "").strip().strip('"')
            if not tweet_id:
                continue
            post = posts.get(tweet_id)
            if post is None:
                text = row.get("tweet_text") or ""
                post = posts[tweet_id] = NormalisedPost(
                    source_id=tweet_id,
                    url=f"https://twitter.com/i/web/status/{tweet_id}",
                    text=text,
                    posted_at=_date_from_path(row.get("image_path") or ""),
                    hashtags=hashtags_in(text),
                    raw={"rows": []},
                )
            post.raw["rows"].append(row)
            local = _inside(images_dir, row.get("image_path") or "")
            post.media.append(
                NormalisedMedia(source_path=local, remote_url="" if local else _http(row.get("image_url")))
            )
    for post in posts.values():
        order = sorted(range(len(post.media)), key=lambda i: _image_index(post.raw["rows"][i].get("image_id")))
        post.media = [post.media[i] for i in order]
        post.raw["rows"] = [post.raw["rows"][i] for i in order]
        yield post


def _image_index(image_id: str | None) -> int:
    tail = (image_id or "").rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _date_from_path(image_path: str) -> datetime | None:
    match = _DATE_DIR.search(image_path)
    if not match:
        return None
    day, month, year = (int(v) for v in match.groups())
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _http(url: str | None) -> str:
    url = (url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


# Twitter v1.1 ----------------------------------------------------------------------------------------


def read_twitter_v1(path: Path, *, images_dir: Path | None = None) -> Iterator[NormalisedPost]:
    """Hydrated v1.1 tweets: a JSON array, ``{"statuses": [...]}``, one object, or JSON Lines.

    With ``images_dir``, a file named ``<tweet id>_<n>.<ext>`` anywhere under it is used instead of the URL.
    """
    local_images = _index_images(images_dir)
    for number, tweet in enumerate(_tweets(path), start=1):
        if isinstance(tweet, SkippedItem):
            yield tweet
            continue
        try:
            post = normalise_twitter_v1(tweet)
        except MALFORMED as error:
            yield SkippedItem(f"tweet {number}: malformed ({type(error).__name__}: {error})"[:300])
            continue
        if post is None:
            continue
        for position, media in enumerate(post.media):
            local = local_images.get(f"{post.source_id}_{position}")
            if local:
                media.source_path, media.remote_url = local, ""
        yield post


def _index_images(images_dir: Path | None) -> dict[str, str]:
    if images_dir is None:
        return {}
    base = images_dir.resolve()
    return {
        file.stem: str(file)
        for file in base.rglob("*")
        if file.suffix.lower() in IMAGE_SUFFIXES and file.resolve().is_relative_to(base) and file.is_file()
    }


def _tweets(path: Path) -> Iterator[dict | SkippedItem]:
    text = read_text(path)
    stripped = text.lstrip()
    try:
        whole = json.loads(stripped, parse_constant=_finite_only) if stripped[:1] in "[{" else None
    except json.JSONDecodeError:
        whole = None  # JSON Lines: several objects, not one document
    if isinstance(whole, list):
        yield from (t for t in whole if isinstance(t, dict))
        return
    if isinstance(whole, dict):
        yield from whole["statuses"] if isinstance(whole.get("statuses"), list) else [whole]
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tweet = json.loads(line, parse_constant=_finite_only)
        except json.JSONDecodeError as error:
            yield SkippedItem(f"line {number}: not JSON ({error.msg})")
            continue
        if isinstance(tweet, dict):
            yield tweet


def normalise_twitter_v1(raw: dict) -> NormalisedPost | None:
    """A retweet is collected as the tweet it retweets, so every retweet of one picture is one post.

    Geo: ``coordinates`` is GeoJSON [lon, lat]; the deprecated ``geo`` is [lat, lon]; ``place`` has a box.
    """
    tweet = raw["retweeted_status"] if isinstance(raw.get("retweeted_status"), dict) else raw
    tweet_id = str(tweet.get("id_str") or tweet["id"])
    entities = tweet.get("extended_entities") or tweet.get("entities") or {}
    extended = tweet.get("extended_tweet") or {}
    media = []
    for item in (extended.get("extended_entities") or entities).get("media") or []:
        url = item.get("media_url_https") or item.get("media_url")
        if item.get("type", "photo") != "photo" or not url:
            continue
        large = (item.get("sizes") or {}).get("large") or {}
        media.append(
            NormalisedMedia(
                remote_url=url,
                alt_text=item.get("ext_alt_text") or "",
                declared_width=to_int(large.get("w")),
                declared_height=to_int(large.get("h")),
            )
        )
    if not media:
        return None
    user = tweet.get("user") or {}
    screen_name = user.get("screen_name") or ""
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""
    hashtags = [h.get("text") for h in (extended.get("entities") or tweet.get("entities") or {}).get("hashtags") or []]
    post = NormalisedPost(
        source_id=tweet_id,
        url=f"https://twitter.com/{screen_name or 'i/web'}/status/{tweet_id}",
        author_handle=screen_name,
        text=text,
        language=(tweet.get("lang") or "")[:10],
        posted_at=_twitter_time(tweet.get("created_at")),
        hashtags=[h for h in hashtags if h] or hashtags_in(text),
        raw=raw,
        media=media,
    )
    coordinates = (tweet.get("coordinates") or {}).get("coordinates")
    geo = (tweet.get("geo") or {}).get("coordinates")
    if coordinates and len(coordinates) == 2:
        post.geo_lat, post.geo_lon = valid_point(coordinates[1], coordinates[0])
    elif geo and len(geo) == 2:
        post.geo_lat, post.geo_lon = valid_point(geo[0], geo[1])
    if post.geo_lat is not None:
        post.geo_accuracy_m = 10.0
    place = tweet.get("place") or {}
    if place:
        post.geo_place = (place.get("full_name") or place.get("name") or "")[:300]
        bbox = polygon_bbox(place.get("bounding_box"))
        if post.geo_lat is None and bbox:
            lat, lon, radius = bbox_centre(bbox)
            post.geo_lat, post.geo_lon = valid_point(lat, lon)
            post.geo_accuracy_m = radius
    return post


def _twitter_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return parse_iso(value)


# Plain CSV -------------------------------------------------------------------------------------------

# Each field a CSV can fill, with the column names recognised for it, best first. A column goes to the first field
# that names it ("url" is the image's when nothing else is, else the post's link). Coordinators can change the
# guess in the admin.
IMPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "image": ("file", "filename", "image", "image_url", "image_path", "url_image", "media", "url"),
    "text": ("text", "caption", "tweet_text", "description"),
    "alt_text": ("alt", "alt_text"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "date": ("date", "time", "posted_at", "created_at", "datetime", "timestamp"),
    "author": ("author", "user", "author_handle", "credit", "photographer"),
    "link": ("post_url", "link", "url"),
    "language": ("language", "lang"),
    "id": ("id", "post_id", "source_id"),
}

IMPORT_FIELD_LABELS = {
    "image": gettext_lazy("Image: its file name in the ZIP, or its URL"),
    "text": gettext_lazy("Post text or caption"),
    "alt_text": gettext_lazy("Alt text (a description of the image)"),
    "lat": gettext_lazy("Latitude"),
    "lon": gettext_lazy("Longitude"),
    "date": gettext_lazy("Date posted or taken"),
    "author": gettext_lazy("Author"),
    "link": gettext_lazy("Link to the original post"),
    "language": gettext_lazy("Language of the text"),
    "id": gettext_lazy("Post id (a row whose id was imported before is skipped)"),
}


def _column_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def columns_guess(columns: list[str]) -> dict[str, str]:
    """Field -> column, from the columns' names (case, spaces and hyphens do not matter)."""
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_column_key(column), column)
    mapping: dict[str, str] = {}
    for field_name, aliases in IMPORT_FIELDS.items():
        taken = set(mapping.values())
        found = next((by_key[a] for a in aliases if a in by_key and by_key[a] not in taken), None)
        if found is not None:
            mapping[field_name] = found
    return mapping


class RowError(Exception):
    """One row cannot be imported; the message says which value is wrong and how."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class CsvRow:
    """A CSV row read through a column mapping: the post it makes and its image (a URL, or a file name)."""

    post: NormalisedPost
    image: str

    @property
    def image_is_url(self) -> bool:
        return bool(_http(self.image))


def row_read(row: dict[str, str | None], mapping: dict[str, str]) -> CsvRow:
    """The post of one row, or RowError naming the first wrong value. Without an id, the post is named by a hash of
    its text and image, so importing the same rows twice finds the same posts."""
    if None in row:
        raise RowError(_("The row has more values than the file has columns (a comma in an unquoted value?)."))

    def value(name: str) -> str:
        column = mapping.get(name)
        return (row.get(column) or "").strip() if column else ""

    image, text = value("image"), value("text")
    if not image:
        raise RowError(_("No image: the “%(column)s” column is empty.") % {"column": mapping.get("image", "")})
    if "://" in image[:12] and not _http(image):
        raise RowError(_("Image “%(image)s”: only http and https addresses are fetched.") % {"image": image[:100]})
    lat, lon = value("lat"), value("lon")
    point = (None, None)
    if lat or lon:
        point = valid_point(lat.replace(",", "."), lon.replace(",", "."))
        if point[0] is None:
            raise RowError(
                _("Latitude “%(lat)s”, longitude “%(lon)s”: give both, in degrees (-90 to 90, -180 to 180).")
                % {"lat": lat[:30], "lon": lon[:30]}
            )
    date = value("date")
    posted_at = date_read(date) if date else None
    if date and posted_at is None:
        raise RowError(
            _("Date “%(date)s” is not a date: write it as 2024-05-06, 2024-05 or 2024-05-06T10:30:00Z.")
            % {"date": date[:40]}
        )
    link = value("link")
    if link and not _http(link):
        raise RowError(_("Link “%(link)s” is not an http or https address.") % {"link": link[:100]})
    source_id = value("id") or hashlib.sha256(f"{text}\n{image}".encode()).hexdigest()[:32]
    post = NormalisedPost(
        source_id=source_id[:200],
        url=link,
        author_handle=value("author")[:200],
        text=text,
        language=value("language")[:10],
        posted_at=posted_at,
        hashtags=hashtags_in(text),
        geo_lat=point[0],
        geo_lon=point[1],
        raw={"rows": [dict(row)]},
        media=[NormalisedMedia(remote_url=_http(image), alt_text=value("alt_text"))],
    )
    return CsvRow(post=post, image=image)


_YEAR_OR_MONTH = re.compile(r"(\d{4})(?:-(\d{1,2}))?")


def date_read(value: str) -> datetime | None:
    """An ISO 8601 date or time; a year and month (2006-04) or a year alone, as archives often give, is read as
    its first day."""
    partial = _YEAR_OR_MONTH.fullmatch(value.strip())
    if partial:
        try:
            return datetime(int(partial[1]), int(partial[2] or 1), 1, tzinfo=UTC)
        except ValueError:
            return None
    return parse_iso(value.strip())


def read_csv(path: Path, *, images_dir: Path | None = None) -> Iterator[NormalisedPost]:
    """Columns as in IMPORT_FIELDS: an image (URL, or a path under ``images_dir`` or else the CSV's folder), and
    optionally text, alt text, lat, lon, date, author, link, language and id. Rows sharing an id are one post with
    several images; rows without an image are passed over, and rows with a wrong value are skipped and said."""
    base = images_dir or path.parent
    posts: dict[str, NormalisedPost] = {}
    skipped: list[SkippedItem] = []
    columns, rows = table_read(path.read_bytes())
    mapping = columns_guess(columns)
    if "image" not in mapping:
        raise ImportFileError("a CSV import needs an image column (file, image, image_url, image_path or url)")
    for number, row in rows:
        if isinstance(row, RowError):
            skipped.append(SkippedItem(f"row {number}: {row.message}"))
            continue
        if not (row.get(mapping["image"]) or "").strip():
            continue  # a row without an image makes no post
        try:
            read = row_read(row, mapping)
        except RowError as error:
            skipped.append(SkippedItem(f"row {number}: {error.message}"))
            continue
        media = read.post.media[0]
        if not media.remote_url:
            media.source_path = _inside(base, read.image)
        post = posts.get(read.post.source_id)
        if post is None:
            post = posts[read.post.source_id] = read.post
        else:
            post.raw["rows"].extend(read.post.raw["rows"])
            post.media.append(media)
    yield from skipped
    yield from posts.values()


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a BOM); bytes that are not UTF-8 are read as Windows-1252, the usual other encoding of
    exported spreadsheets, rather than with every accented letter replaced."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def table_read(data: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, str | None] | RowError]]]:
    """The columns of a CSV and its numbered rows (1 = the first after the header). Commas, semicolons (spreadsheets
    in many languages) and tabs are recognised; a row the csv module cannot parse comes as a RowError."""
    text = decode_text(data)
    if "\x00" in text[:4096]:
        raise ImportFileError(_("This is not a CSV file (it holds binary data)."))
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        columns = [name.strip() for name in reader.fieldnames or []]
    except csv.Error as error:
        raise ImportFileError(_("This is not a CSV file: %(error)s.") % {"error": error}) from error
    if not any(columns):
        raise ImportFileError(_("The file is empty: the first line must name the columns."))
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if repeated:
        raise ImportFileError(
            _("Two columns have the same name: %(names)s. Rename one.") % {"names": ", ".join(repeated)}
        )
    reader.fieldnames = columns

    def rows() -> Iterator[tuple[int, dict[str, str | None] | RowError]]:
        number = 0
        while True:
            number += 1
            try:
                yield number, next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield number, RowError(_("This row cannot be read as CSV: %(error)s.") % {"error": error})

    return columns, rows()


# Uploads (the admin's import) -------------------------------------------------------------------------


class ZipImages:
    """The images of an uploaded ZIP, found by the name a CSV row gives: relative to the CSV's folder in the ZIP,
    from the ZIP's root, or by file name alone when only one file has it. Nothing is extracted to disk."""

    def __init__(self, archive: zipfile.ZipFile, *, csv_member: str):
        self.archive = archive
        self.folder = posixpath.dirname(csv_member)
        self.by_path: dict[str, zipfile.ZipInfo] = {}
        names: dict[str, list[zipfile.ZipInfo]] = {}
        for info in archive.infolist():
            if info.is_dir() or _zip_junk(info.filename):
                continue
            self.by_path[posixpath.normpath(info.filename)] = info
            names.setdefault(posixpath.basename(info.filename).lower(), []).append(info)
        self.by_name = {name: found[0] for name, found in names.items() if len(found) == 1}

    def find(self, name: str) -> zipfile.ZipInfo | None:
        wanted = name.strip().replace("\\", "/").removeprefix("./").lstrip("/")
        for candidate in (posixpath.join(self.folder, wanted), wanted):
            info = self.by_path.get(posixpath.normpath(candidate))
            if info is not None:
                return info
        return self.by_name.get(posixpath.basename(wanted).lower())

    def read(self, name: str, *, max_bytes: int) -> bytes:
        """The bytes of the image ``name``, or RowError. Sizes are checked as declared and as read (a ZIP can lie)."""
        info = self.find(name)
        if info is None:
            raise RowError(_("Image “%(name)s” is not in the ZIP.") % {"name": name[:200]})
        if info.flag_bits & 0x1:
            raise RowError(_("Image “%(name)s” is encrypted in the ZIP.") % {"name": name[:200]})
        if info.file_size > max_bytes:
            raise RowError(_("Image “%(name)s” is larger than %(max)d bytes.") % {"name": name[:200], "max": max_bytes})
        try:
            with self.archive.open(info) as handle:
                data = handle.read(max_bytes + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
            raise RowError(
                _("Image “%(name)s” cannot be read from the ZIP: %(error)s") % {"name": name[:200], "error": error}
            ) from error
        if len(data) > max_bytes:
            raise RowError(_("Image “%(name)s” is larger than %(max)d bytes.") % {"name": name[:200], "max": max_bytes})
        return data


def image_check(row: CsvRow, images: ZipImages | None) -> None:
    """RowError when the row's image cannot be had: a file name needs an uploaded ZIP that holds it."""
    if row.image_is_url:
        return
    if images is None:
        raise RowError(
            _("Image “%(name)s” is a file name: upload a ZIP holding the images and the CSV, or give URLs.")
            % {"name": row.image[:200]}
        )
    if images.find(row.image) is None:
        raise RowError(_("Image “%(name)s” is not in the ZIP.") % {"name": row.image[:200]})


def _zip_junk(name: str) -> bool:
    """Files archivers add that are no one's data (macOS resource forks, Finder and Explorer files)."""
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


@dataclass
class Upload:
    """An uploaded CSV, or a ZIP holding one CSV and its images: the columns, the numbered rows, the images."""

    kind: str  # "csv" or "zip"
    columns: list[str]
    rows: Iterator[tuple[int, dict[str, str | None] | RowError]]
    images: ZipImages | None = None
    csv_member: str = ""


def upload_read(handle: BinaryIO, *, max_csv_bytes: int) -> Upload:
    """Read an upload from an open binary file (kept open while the rows are read); ImportFileError says why a file
    cannot be imported at all."""
    handle.seek(0)
    if not zipfile.is_zipfile(handle):
        handle.seek(0)
        data = handle.read(max_csv_bytes + 1)
        if len(data) > max_csv_bytes:
            raise ImportFileError(_("The CSV is larger than %(max)d bytes.") % {"max": max_csv_bytes})
        columns, rows = table_read(data)
        return Upload(kind="csv", columns=columns, rows=rows)
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
        tables = [
            info
            for info in archive.infolist()
            if info.filename.lower().endswith((".csv", ".tsv")) and not info.is_dir() and not _zip_junk(info.filename)
        ]
        if len(tables) != 1:
            raise ImportFileError(
                _("The ZIP must hold exactly one CSV file beside the images; it holds %(n)d.") % {"n": len(tables)}
            )
        if tables[0].file_size > max_csv_bytes:
            raise ImportFileError(_("The CSV is larger than %(max)d bytes.") % {"max": max_csv_bytes})
        data = archive.read(tables[0])
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
        raise ImportFileError(_("The ZIP cannot be read: %(error)s") % {"error": error}) from error
    columns, rows = table_read(data)
    member = tables[0].filename
    return Upload(
        kind="zip", columns=columns, rows=rows, images=ZipImages(archive, csv_member=member), csv_member=member
    )


READERS = {"crisismmd": read_crisismmd, "twitter": read_twitter_v1, "csv": read_csv}
