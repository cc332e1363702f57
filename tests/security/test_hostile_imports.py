"""Hostile imports and downloads at the service level: bombs, truncated and polyglot files, SVG, 50 MB bodies,
malformed CSV/JSON, cp1252, invalid coordinates. Each bad item gets a clear recorded reason, nothing crashes, and the
good rows of the same file are still imported ("nothing else lost").

Files are imported from the local folder (``posts_import`` + ``media_fetch`` of ``source_path``): the same decoding
(``crawling.imaging.decode_image``) serves downloads, whose network limits ``tests/crawling/test_fetching.py`` covers.
"""

import io
import json
import zipfile

import pytest

from crawling import services
from crawling.models import Media, Post
from tests.conftest import make_crisis
from tests.crawling.fakes import encode, picture, png_bomb

pytestmark = pytest.mark.django_db

GOOD_ROWS = 2


@pytest.fixture
def crisis(db):
    return make_crisis()


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("evil.class", b"\xca\xfe\xba\xbe payload")
    return out.getvalue()


HOSTILE_FILES = {
    # name: (bytes, or a size for a sparse file; the reason code it must be rejected with, or None if accepted)
    "bomb.png": (png_bomb(), "decompression_bomb"),
    "truncated.jpg": (encode(picture(seed=2, size=(400, 300)), "JPEG")[:600], "undecodable"),
    "evil.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not_an_image"),
    "page.jpg": (b"<!doctype html><script>alert(1)</script>", "not_an_image"),
    "huge.jpg": (50 * 1024 * 1024, "too_large"),
    "empty.jpg": (b"", "not_an_image"),
    # Polyglots decode as the image they start with; only the re-encoded copy is ever shown, without the payload.
    "polyglot.jpg": (encode(picture(seed=5), "JPEG") + _zip_bytes(), None),
    "gifar.gif": (encode(picture(seed=6), "GIF") + _zip_bytes(), None),
}


def _write(folder, name, content):
    path = folder / name
    if isinstance(content, int):
        with path.open("wb") as handle:  # sparse: 50 MB on paper, nothing written to disk
            handle.write(b"\xff\xd8\xff\xe0")
            handle.truncate(content)
    else:
        path.write_bytes(content)
    return path


def _fetch_all(crisis) -> dict[str, Media]:
    for media_id in Media.objects.filter(crisis=crisis, stage=Media.Stage.NEW).values_list("pk", flat=True):
        services.media_fetch(media_id=media_id)
    return {m.source_path.rsplit("/", 1)[-1]: m for m in Media.objects.filter(crisis=crisis)}


def test_hostile_image_files_are_rejected_with_reasons_and_the_good_ones_fetched(crisis, tmp_path):
    rows = ["id,text,image"]
    for index in range(GOOD_ROWS):
        _write(tmp_path, f"good{index}.jpg", encode(picture(seed=10 + index), "JPEG"))
        rows.append(f"g{index},Flooded street {index},good{index}.jpg")
    for name, (content, _reason) in HOSTILE_FILES.items():
        _write(tmp_path, name, content)
        rows.append(f"{name},Hostile {name},{name}")
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("\n".join(rows) + "\n")

    report = services.posts_import(crisis=crisis, fmt="csv", path=csv_file)
    assert (report.posts_created, report.media_created, report.errors) == (len(rows) - 1, len(rows) - 1, [])

    media = _fetch_all(crisis)
    for index in range(GOOD_ROWS):
        assert media[f"good{index}.jpg"].stage == Media.Stage.FETCHED
    for name, (_content, reason) in HOSTILE_FILES.items():
        item = media[name]
        if reason is None:
            assert item.stage == Media.Stage.FETCHED, (name, item.reject_reason)
            assert b"PK\x03\x04" not in item.image.read(), name  # the zip rode along in the original only
        else:
            assert item.stage == Media.Stage.REJECTED, name
            assert item.reject_reason.startswith(reason + ":"), (name, item.reject_reason)
            assert not item.image, name


def test_a_file_that_climbs_out_of_the_dataset_folder_is_not_read(crisis, tmp_path):
    (tmp_path / "secret.jpg").write_bytes(encode(picture(seed=7), "JPEG"))
    folder = tmp_path / "dataset"
    folder.mkdir()
    csv_file = folder / "posts.csv"
    csv_file.write_text("id,text,image\n1,Escape,../secret.jpg\n2,Absolute,/etc/passwd\n")
    services.posts_import(crisis=crisis, fmt="csv", path=csv_file)
    assert set(Media.objects.values_list("source_path", "remote_url")) == {("", "")}
    for media_id in Media.objects.values_list("pk", flat=True):
        services.media_fetch(media_id=media_id)
    assert set(Media.objects.values_list("stage", "reject_reason")) == {
        (Media.Stage.REJECTED, "no_source: no file or URL to fetch")
    }


INVALID_POINTS = [("91", "10"), ("10", "200"), ("NaN", "NaN"), ("abc", "-51.1"), ("inf", "0"), ("-90.5", "-180.1")]


def test_invalid_coordinates_in_a_csv_are_row_errors_and_nothing_of_those_rows_is_stored(crisis, tmp_path):
    rows = ["id,text,image,lat,lon", "ok,Good point,https://img.example/ok.jpg,-30.03,-51.22"]
    rows += [
        f"bad{i},Bad point {i},https://img.example/{i}.jpg,{lat},{lon}" for i, (lat, lon) in enumerate(INVALID_POINTS)
    ]
    csv_file = tmp_path / "points.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    report = services.posts_import(crisis=crisis, fmt="csv", path=csv_file)
    # A coordinator's file with a wrong coordinate is told which row to fix (and re-uploads it), never stored
    # half: the row's post and image wait for the corrected file.
    assert report.posts_created == 1 and len(report.errors) == len(INVALID_POINTS)
    assert all("row " in error for error in report.errors)
    assert list(Post.objects.values_list("source_id", flat=True)) == ["ok"]
    assert Post.objects.get(source_id="ok").geo_lat == pytest.approx(-30.03)


def _tweet(tweet_id: int, **fields) -> dict:
    media = [{"media_url_https": f"https://pbs.example/{tweet_id}.jpg", "type": "photo"}]
    return {"id_str": str(tweet_id), "text": f"Tweet {tweet_id}", "entities": {"media": media}, **fields}


def test_invalid_coordinates_in_twitter_json_are_dropped_and_the_tweets_kept(crisis, tmp_path):
    tweets = [
        _tweet(1, coordinates={"type": "Point", "coordinates": [-51.22, -30.03]}),
        _tweet(2, coordinates={"coordinates": ["NaN", "abc"]}),
        _tweet(3, geo={"coordinates": [91, 200]}),
        _tweet(4, coordinates={"coordinates": ["1e999", 0]}),  # a string that parses as infinity
    ]
    path = tmp_path / "tweets.json"
    path.write_text(json.dumps(tweets))
    report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
    assert (report.posts_created, report.errors) == (4, [])
    points = dict(Post.objects.values_list("source_id", "geo_lat"))
    assert points["1"] == pytest.approx(-30.03)
    assert points["2"] is points["3"] is points["4"] is None


@pytest.mark.parametrize(
    ("content", "says_why"),
    [
        (b"", True),  # empty: no header, so no image column
        (b"text,caption\nno image column,here\n", True),
        (b"\x00\x01\x02\xff\xfe binary \x00 garbage", True),
        # A quote that never closes swallows the rest of the file into one field: the row has no image and is
        # skipped without a recorded reason (rows without an image are skipped silently by design).
        (b'text,image\n"unclosed quote,a.jpg\n', False),
    ],
    ids=["empty", "no-image-column", "binary", "unclosed-quote"],
)
def test_a_malformed_csv_fails_cleanly_with_a_recorded_error(crisis, tmp_path, content, says_why):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    report = services.posts_import(crisis=crisis, fmt="csv", path=path)  # no exception
    assert report.posts_created == 0
    assert bool(report.errors) == says_why
    from crawling.models import CrawlState

    state = CrawlState.objects.get(crisis=crisis, source=Post.Source.CSV)
    assert state.last_error == (report.errors[0] if report.errors else "")


@pytest.mark.parametrize("content", ["[1, 2", '{"statuses": ', "not json at all", "\u0000"], ids=str)
def test_a_malformed_json_file_fails_cleanly_with_a_recorded_error(crisis, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
    assert report.posts_created == 0
    assert report.errors and "not JSON" in report.errors[0]


# --- Malformed items: each is skipped with its reason, and the rest of the file still imports ----------------


def test_a_csv_with_a_giant_field_keeps_its_good_rows(crisis, tmp_path):
    path = tmp_path / "giant.csv"
    path.write_text(
        "id,text,image\n1,ok,https://img.example/1.jpg\n2," + "x" * 200_000 + ",https://img.example/2.jpg\n"
    )
    report = services.posts_import(crisis=crisis, fmt="csv", path=path)
    assert report.errors
    assert Post.objects.filter(source_id="1").exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "no id", "entities": {"media": [{"media_url_https": "https://pbs.example/x.jpg"}]}},
        _tweet(90, coordinates={"coordinates": 5}),
        _tweet(91, coordinates=[1, 2]),
        _tweet(92, entities={"media": "abc"}),
        _tweet(93, user="abc"),
        _tweet(94, place={"bounding_box": {"coordinates": "zz"}}),
    ],
    ids=["missing-id", "coordinates-int", "coordinates-list", "media-string", "user-string", "place-box-string"],
)
def test_one_malformed_tweet_is_skipped_and_the_others_imported(crisis, tmp_path, bad):
    path = tmp_path / "tweets.json"
    path.write_text(json.dumps([_tweet(1), bad, _tweet(2)]))
    services.posts_import(crisis=crisis, fmt="twitter", path=path)
    assert set(Post.objects.values_list("source_id", flat=True)) >= {"1", "2"}


def test_a_broken_json_line_loses_only_itself(crisis, tmp_path):
    path = tmp_path / "tweets.jsonl"
    path.write_text(json.dumps(_tweet(1)) + "\n{broken\n" + json.dumps(_tweet(2)) + "\n")
    report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
    assert report.errors and "line 2" in report.errors[0]
    assert Post.objects.filter(source_id="1").exists()


def test_a_tweet_with_infinity_in_its_json_is_imported_or_reported(crisis, tmp_path):
    path = tmp_path / "tweets.json"
    path.write_text(
        '[{"id_str": "1", "text": "ok", "entities": {"media": [{"media_url_https": "https://p.example/1.jpg"}]}},'
        ' {"id_str": "2", "text": "inf", "score": Infinity,'
        ' "entities": {"media": [{"media_url_https": "https://p.example/2.jpg"}]}}]'
    )
    report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
    assert Post.objects.filter(source_id="1").exists()
    assert Post.objects.filter(source_id="2").exists() or report.errors


def test_a_cp1252_csv_is_decoded_or_refused_with_a_clear_error(crisis, tmp_path):
    path = tmp_path / "cp1252.csv"
    path.write_bytes("id,text,image\n1,Inundação em São Leopoldo,https://img.example/1.jpg\n".encode("cp1252"))
    report = services.posts_import(crisis=crisis, fmt="csv", path=path)
    post = Post.objects.filter(source_id="1").first()
    assert (post is not None and post.text == "Inundação em São Leopoldo") or (post is None and report.errors)
