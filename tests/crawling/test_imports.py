"""File imports: CrisisMMD TSV with its image folder, Twitter v1.1 JSON/JSONL, plain CSV; twice is once."""

import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from crawling import imports, services
from crawling.imports import normalise_twitter_v1
from crawling.models import CrawlState, ImportJob, ImportRow, Media, Post
from tests.crawling.fakes import encode, picture
from tests.crawling.import_files import flood_zip, upload, zip_bytes
from tests.crawling.payloads import v1_tweet

pytestmark = pytest.mark.django_db

TSV_HEADER = (
    "tweet_id\timage_id\ttext_info\ttext_info_conf\timage_info\timage_info_conf\ttext_human\ttext_human_conf\t"
    "image_human\timage_human_conf\timage_damage\timage_damage_conf\ttweet_text\timage_url\timage_path"
)


def tsv_row(tweet_id: str, n: int, text: str, date_dir: str = "31_5_2017") -> str:
    return (
        f'"{tweet_id}"\t{tweet_id}_{n}\tinformative\t1.0\tinformative\t1.0\tother_relevant_information\t1.0\t'
        f"affected_individuals\t1.0\t\t\t{text}\thttp://pbs.example/{tweet_id}_{n}.jpg\t"
        f"data_image/srilanka_floods/{date_dir}/{tweet_id}_{n}.jpg"
    )


@pytest.fixture
def crisismmd(tmp_path):
    images = tmp_path / "images"
    folder = images / "data_image" / "srilanka_floods" / "31_5_2017"
    folder.mkdir(parents=True)
    for name in ("111_0", "111_1", "222_0"):
        (folder / f"{name}.jpg").write_bytes(encode(picture(seed=len(name)), "JPEG"))
    tsv = tmp_path / "annotations.tsv"
    rows = [
        TSV_HEADER,
        tsv_row("111", 1, "Second image #FloodSL"),
        tsv_row("111", 0, "Second image #FloodSL"),
        tsv_row("222", 0, "Rescue boats"),
        tsv_row("333", 0, "Image not in the folder"),
    ]
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tsv, images


class TestCrisisMMD:
    def test_rows_of_one_tweet_become_one_post_with_its_images_in_order(self, crisis, crisismmd):
        tsv, images = crisismmd
        report = services.posts_import(crisis=crisis, fmt="crisismmd", path=tsv, images_dir=images)
        assert (report.posts_created, report.media_created) == (3, 4)
        post = Post.objects.get(source_id="111")
        assert post.source == Post.Source.CRISISMMD
        assert post.hashtags == ["FloodSL"]
        assert post.posted_at == datetime(2017, 5, 31, tzinfo=UTC)
        paths = [m.source_path for m in post.media.order_by("position")]
        assert [p.rsplit("/", 1)[-1] for p in paths] == ["111_0.jpg", "111_1.jpg"]
        assert post.raw["rows"][0]["image_info"] == "informative"

    def test_an_image_missing_from_the_folder_falls_back_to_its_url(self, crisis, crisismmd):
        tsv, images = crisismmd
        services.posts_import(crisis=crisis, fmt="crisismmd", path=tsv, images_dir=images)
        media = Media.objects.get(post__source_id="333")
        assert (media.source_path, media.remote_url) == ("", "http://pbs.example/333_0.jpg")

    def test_importing_the_same_file_twice_creates_nothing_new(self, crisis, crisismmd):
        tsv, images = crisismmd
        services.posts_import(crisis=crisis, fmt="crisismmd", path=tsv, images_dir=images)
        report = services.posts_import(crisis=crisis, fmt="crisismmd", path=tsv, images_dir=images)
        assert (report.posts_seen, report.posts_created, report.media_created) == (3, 0, 0)
        assert (Post.objects.count(), Media.objects.count()) == (3, 4)

    def test_imported_files_are_fetched_from_the_folder(self, crisis, crisismmd):
        tsv, images = crisismmd
        services.posts_import(crisis=crisis, fmt="crisismmd", path=tsv, images_dir=images)
        media = Media.objects.get(post__source_id="222")
        assert services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.FETCHED

    def test_a_file_that_is_not_a_crisismmd_tsv_is_reported(self, crisis, tmp_path):
        path = tmp_path / "x.tsv"
        path.write_text("a\tb\n1\t2\n")
        report = services.posts_import(crisis=crisis, fmt="crisismmd", path=path)
        assert "tweet_id" in report.errors[0]
        assert CrawlState.objects.get(crisis=crisis, source="crisismmd").last_error


class TestTwitterV1:
    def test_coordinates_are_lon_lat_and_geo_is_lat_lon(self):
        from_coordinates = normalise_twitter_v1(
            v1_tweet("1", coordinates={"type": "Point", "coordinates": [-95.37, 29.76]})
        )
        from_geo = normalise_twitter_v1(v1_tweet("2", geo={"type": "Point", "coordinates": [29.76, -95.37]}))
        assert (from_coordinates.geo_lat, from_coordinates.geo_lon) == (29.76, -95.37)
        assert (from_geo.geo_lat, from_geo.geo_lon) == (29.76, -95.37)

    def test_a_place_gives_its_name_and_the_centre_of_its_box(self):
        box = {"type": "Polygon", "coordinates": [[[-95.8, 29.5], [-95.8, 30.1], [-95.0, 30.1], [-95.0, 29.5]]]}
        post = normalise_twitter_v1(v1_tweet("3", place={"full_name": "Houston, TX", "bounding_box": box}))
        assert post.geo_place == "Houston, TX"
        assert (round(post.geo_lat, 2), round(post.geo_lon, 2)) == (29.8, -95.4)
        assert post.geo_accuracy_m > 10_000

    def test_a_retweet_is_collected_as_the_original_tweet(self):
        post = normalise_twitter_v1(v1_tweet("9", images=0, retweet_of=v1_tweet("5")))
        assert post.source_id == "5"
        assert post.raw["id_str"] == "9"

    def test_a_tweet_is_normalised(self):
        post = normalise_twitter_v1(v1_tweet("4", images=2))
        assert post.posted_at == datetime(2017, 8, 27, 15, 2, 11, tzinfo=UTC)
        assert (post.author_handle, post.hashtags, len(post.media)) == ("example_user", ["HarveyFlood"], 2)
        assert post.media[0].declared_width == 2048
        assert post.url == "https://twitter.com/example_user/status/4"

    @pytest.mark.parametrize("shape", ["jsonl", "array", "statuses"])
    def test_json_lines_arrays_and_search_responses_are_read(self, crisis, tmp_path, shape):
        tweets = [v1_tweet("10"), v1_tweet("11"), v1_tweet("12", images=0)]
        path = tmp_path / "tweets.json"
        if shape == "jsonl":
            path.write_text("\n".join(json.dumps(t) for t in tweets) + "\n")
        else:
            path.write_text(json.dumps(tweets if shape == "array" else {"statuses": tweets}))
        report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
        assert report.posts_created == 2  # the tweet without a photo is not a post to geolocate
        assert services.posts_import(crisis=crisis, fmt="twitter", path=path).posts_created == 0

    def test_local_images_named_by_tweet_id_replace_the_urls(self, crisis, tmp_path):
        (tmp_path / "imgs" / "day").mkdir(parents=True)
        (tmp_path / "imgs" / "day" / "10_0.jpg").write_bytes(encode(picture(), "JPEG"))
        path = tmp_path / "t.jsonl"
        path.write_text(json.dumps(v1_tweet("10")) + "\n")
        services.posts_import(crisis=crisis, fmt="twitter", path=path, images_dir=tmp_path / "imgs")
        media = Media.objects.get()
        assert media.source_path.endswith("day/10_0.jpg") and media.remote_url == ""

    def test_a_broken_line_stops_the_import_with_its_number(self, crisis, tmp_path):
        path = tmp_path / "t.jsonl"
        path.write_text(json.dumps(v1_tweet("10")) + "\n{broken\n")
        report = services.posts_import(crisis=crisis, fmt="twitter", path=path)
        assert "line 2" in report.errors[0]


class TestCsv:
    def test_urls_paths_times_and_coordinates_are_read(self, crisis, tmp_path):
        (tmp_path / "photos").mkdir()
        (tmp_path / "photos" / "a.png").write_bytes(encode(picture(), "PNG"))
        path = tmp_path / "posts.csv"
        path.write_text(
            "text,image,time,lat,lon\n"
            "Rua alagada #RSFloods,photos/a.png,2024-05-06T10:00:00Z,-30.03,-51.22\n"
            "Ponte caiu,https://img.example/b.jpg,,,\n"
            "Sem imagem,,,,\n"
        )
        report = services.posts_import(crisis=crisis, fmt="csv", path=path)
        assert report.posts_created == 2
        first = Post.objects.get(text="Rua alagada #RSFloods")
        assert (first.geo_lat, first.geo_lon, first.hashtags) == (-30.03, -51.22, ["RSFloods"])
        assert first.posted_at == datetime(2024, 5, 6, 10, tzinfo=UTC)
        assert first.media.get().source_path == str((tmp_path / "photos" / "a.png").resolve())
        assert Post.objects.get(text="Ponte caiu").media.get().remote_url == "https://img.example/b.jpg"

    def test_importing_the_same_csv_twice_creates_nothing_new(self, crisis, tmp_path):
        path = tmp_path / "posts.csv"
        path.write_text("text,image_url\nA,https://img.example/a.jpg\nB,https://img.example/b.jpg\n")
        services.posts_import(crisis=crisis, fmt="csv", path=path)
        assert services.posts_import(crisis=crisis, fmt="csv", path=path).posts_created == 0
        assert Post.objects.count() == 2

    def test_paths_outside_the_image_folder_are_not_read(self, crisis, tmp_path):
        path = tmp_path / "posts.csv"
        path.write_text("text,image\nsecret,../../../../etc/passwd\nabsolute,/etc/hostname\n")
        services.posts_import(crisis=crisis, fmt="csv", path=path)
        assert set(Media.objects.values_list("source_path", "remote_url")) == {("", "")}
        media = Media.objects.first()
        services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert media.reject_reason.startswith("no_source")

    def test_a_csv_without_an_image_column_is_reported(self, crisis, tmp_path):
        path = tmp_path / "posts.csv"
        path.write_text("text\nA\n")
        assert "image column" in services.posts_import(crisis=crisis, fmt="csv", path=path).errors[0]


class TestImportCommand:
    def test_the_command_imports_and_says_how_many(self, crisis, crisismmd, capsys):
        tsv, images = crisismmd
        call_command("import_posts", crisis.slug, str(tsv), "--format", "crisismmd", "--images", str(images))
        assert "3 new posts, 4 new images" in capsys.readouterr().out
        call_command("import_posts", crisis.slug, str(tsv), "--format", "crisismmd", "--images", str(images))
        assert "0 new posts, 0 new images" in capsys.readouterr().out

    def test_an_unknown_crisis_is_an_error(self, db, tmp_path):
        path = tmp_path / "a.csv"
        path.write_text("text,image\n")
        with pytest.raises(CommandError, match="No crisis"):
            call_command("import_posts", "nope", str(path), "--format", "csv")


class TestColumnsGuess:
    @pytest.mark.parametrize(
        ("columns", "expected"),
        [
            (
                ["File", "Caption", "Latitude", "Longitude"],
                {"image": "File", "text": "Caption", "lat": "Latitude", "lon": "Longitude"},
            ),
            (["url", "text"], {"image": "url", "text": "text"}),
            (["image_url", "url", "alt"], {"image": "image_url", "link": "url", "alt_text": "alt"}),
            (["Image Path", "Posted At", "author"], {"image": "Image Path", "date": "Posted At", "author": "author"}),
            (["notes", "where"], {}),
        ],
    )
    def test_common_column_names_are_recognised(self, columns, expected):
        assert imports.columns_guess(columns) == expected


class TestZipImages:
    def zip_images(self, files: dict) -> imports.ZipImages:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes(files)))
        return imports.ZipImages(archive, csv_member="set/posts.csv")

    def test_names_are_found_beside_the_csv_from_the_root_or_alone_by_their_file_name(self):
        images = self.zip_images({"set/posts.csv": "", "set/a/1.jpg": b"1", "b/2.jpg": b"2", "deep/er/3.JPG": b"3"})
        assert images.read("a/1.jpg", max_bytes=10) == b"1"
        assert images.read("./a/1.jpg", max_bytes=10) == b"1"
        assert images.read("b/2.jpg", max_bytes=10) == b"2"
        assert images.read("3.jpg", max_bytes=10) == b"3"
        assert images.find("../../etc/passwd") is None

    def test_a_file_name_held_twice_is_not_guessed(self):
        images = self.zip_images({"set/posts.csv": "", "x/1.jpg": b"1", "y/1.jpg": b"2"})
        with pytest.raises(imports.RowError, match="is not in the ZIP"):
            images.read("1.jpg", max_bytes=10)

    def test_an_image_over_the_size_limit_is_refused_whatever_its_entry_says(self):
        images = self.zip_images({"set/posts.csv": "", "set/big.jpg": b"x" * 11})
        with pytest.raises(imports.RowError, match="larger than 10 bytes"):
            images.read("big.jpg", max_bytes=10)


@pytest.fixture
def zip_job(crisis, settings):
    settings.IMPORT_IN_BACKGROUND_THREAD = False
    settings.IMAGE_MAX_BYTES = 2_000_000
    job = services.import_job_create(crisis=crisis, user=None, upload=upload("floods.zip", flood_zip()))
    return job


class TestImportJobRun:
    def test_a_run_that_stopped_goes_on_after_its_last_row_and_counts_each_row_once(self, zip_job, settings):
        assert services.import_job_start(job=zip_job, mapping=zip_job.mapping)
        services.import_job_run(job_id=zip_job.pk)
        done = ImportJob.objects.get(pk=zip_job.pk)
        assert (done.status, done.rows_imported, done.rows_failed) == ("done", 3, 2)
        # As if the process had stopped after row 2: rows 3-5 and their posts gone, the job still running.
        later = ImportRow.objects.filter(job=done, number__gt=2)
        Post.objects.filter(pk__in=later.exclude(post=None).values("post_id")).delete()
        later.delete()
        long_ago = timezone.now() - settings.PIPELINE_STUCK_AFTER - timedelta(seconds=1)
        ImportJob.objects.filter(pk=done.pk).update(
            status="running", rows_imported=2, rows_failed=0, progress_at=long_ago
        )
        assert services.import_job_run(job_id=done.pk)
        resumed = ImportJob.objects.get(pk=done.pk)
        assert (resumed.status, resumed.rows_imported, resumed.rows_failed, resumed.rows_done) == ("done", 3, 2, 5)
        assert Post.objects.filter(crisis=done.crisis).count() == 3

    def test_a_second_run_while_one_runs_does_nothing(self, zip_job):
        ImportJob.objects.filter(pk=zip_job.pk).update(status="running", progress_at=timezone.now())
        assert services.import_job_run(job_id=zip_job.pk) is False
        assert not ImportRow.objects.exists()

    def test_a_row_whose_storage_fails_is_rolled_back_whole_and_imported_on_resume(self, zip_job, monkeypatch):
        real = services.media_store_decoded
        calls = []

        def disk_full_on_the_second_image(**kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(**kwargs)

        monkeypatch.setattr(services, "media_store_decoded", disk_full_on_the_second_image)
        services.import_job_start(job=zip_job, mapping=zip_job.mapping)
        services.import_job_run(job_id=zip_job.pk)
        failed = ImportJob.objects.get(pk=zip_job.pk)
        assert failed.status == "failed" and "No space left on device" in failed.error
        assert list(Post.objects.values_list("text", flat=True)) == ["Rua alagada no centro de Porto Alegre"]
        assert Media.objects.count() == 1
        assert services.import_job_resume(job=failed)
        services.import_job_run(job_id=failed.pk)
        resumed = ImportJob.objects.get(pk=failed.pk)
        assert (resumed.status, resumed.rows_imported, resumed.rows_failed) == ("done", 3, 2)
        assert Post.objects.count() == Media.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_on_the_embedded_default_an_import_runs_in_a_thread_while_the_page_can_show_it(settings, people):
    settings.IMPORT_IN_BACKGROUND_THREAD = True
    settings.IMAGE_MAX_BYTES = 2_000_000
    job = services.import_job_create(crisis=people["crisis"], user=None, upload=upload("floods.zip", flood_zip()))
    assert services.import_job_start(job=job, mapping=job.mapping)  # autocommit: the thread starts at once
    deadline = time.monotonic() + 120
    while ImportJob.objects.get(pk=job.pk).status != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    finished = ImportJob.objects.get(pk=job.pk)
    assert (finished.status, finished.rows_imported, finished.rows_failed) == ("done", 3, 2)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
        ("2024-05-06T10:30:00Z", datetime(2024, 5, 6, 10, 30, tzinfo=UTC)),
        ("2006-04", datetime(2006, 4, 1, tzinfo=UTC)),
        ("1998", datetime(1998, 1, 1, tzinfo=UTC)),
        ("2006-13", None),
        ("31/12/2024", None),
    ],
)
def test_dates_are_iso_8601_or_a_year_and_month_read_as_its_first_day(written, read):
    assert imports.date_read(written) == read
