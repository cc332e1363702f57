"""Read posts from dataset files: CrisisMMD annotation TSV with its image folder, Twitter v1.1 JSON/JSONL,
and a plain CSV. Each reader yields NormalisedPost, or SkippedItem for an item it could not read (the rest of the
file still imports); ``services.posts_import`` stores the posts and records the skips."""

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
    """UTF-8 (with or without a BOM); files that are not UTF-8 are read as Windows-1252, the usual other encoding of
    exported spreadsheets, rather than with every accented letter replaced."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


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

_CSV_ALIASES = {
    "text": ("text", "tweet_text", "caption"),
    "image": ("image", "image_url", "image_path", "url_image", "media"),
    "id": ("id", "post_id", "source_id"),
    "time": ("time", "posted_at", "created_at", "date"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "longitude"),
    "author": ("author", "user", "author_handle"),
    "url": ("url", "post_url", "link"),
    "language": ("language", "lang"),
}


def read_csv(path: Path, *, images_dir: Path | None = None) -> Iterator[NormalisedPost]:
    """Columns: text, image (URL, or a path under ``images_dir`` or else the CSV's folder); optional id, time,
    lat, lon, author, url, language. Without an id, the post is named by a hash of its text and image, so
    importing the same file twice finds the same posts. Rows sharing an id are one post with several images."""
    base = images_dir or path.parent
    posts: dict[str, NormalisedPost] = {}
    skipped: list[SkippedItem] = []
    with io.StringIO(read_text(path), newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            columns = {name.strip().lower(): name for name in reader.fieldnames or []}
        except csv.Error as error:
            raise ImportFileError(f"not a CSV file: {error}") from error
        pick = {key: next((columns[a] for a in aliases if a in columns), None) for key, aliases in _CSV_ALIASES.items()}
        if pick["image"] is None:
            raise ImportFileError("a CSV import needs an image column (image, image_url or image_path)")
        for row in _csv_rows(reader, skipped):

            def value(key: str, row=row) -> str:
                return (row.get(pick[key]) or "").strip() if pick[key] else ""

            image, text = value("image"), value("text")
            if not image:
                continue
            source_id = value("id") or hashlib.sha256(f"{text}\n{image}".encode()).hexdigest()[:32]
            media = NormalisedMedia(remote_url=_http(image))
            if not media.remote_url:
                media.source_path = _inside(base, image)
            post = posts.get(source_id)
            if post is None:
                lat, lon = valid_point(value("lat"), value("lon")) if value("lat") and value("lon") else (None, None)
                post = posts[source_id] = NormalisedPost(
                    source_id=source_id,
                    url=_http(value("url")),
                    author_handle=value("author")[:200],
                    text=text,
                    language=value("language")[:10],
                    posted_at=parse_iso(value("time")),
                    hashtags=hashtags_in(text),
                    geo_lat=lat,
                    geo_lon=lon,
                    raw={"rows": []},
                )
            post.raw["rows"].append(dict(row))
            post.media.append(media)
    yield from skipped
    yield from posts.values()


def _csv_rows(reader: csv.DictReader, skipped: list[SkippedItem]) -> Iterator[dict]:
    """The rows the csv module can parse; a row it cannot (a field over its size limit...) is skipped, noted."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            skipped.append(SkippedItem(f"row ending on line {reader.line_num}: {error}"))


READERS = {"crisismmd": read_crisismmd, "twitter": read_twitter_v1, "csv": read_csv}
