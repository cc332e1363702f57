"""The admin's import, through the HTTP client: upload, preview, mapping, run, outcomes, errors as CSV, permissions."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import OperationalError
from django.urls import reverse

from crawling import services
from crawling.models import ImportJob, ImportRow, Media, Post
from geoloc_platform.crises.models import Crisis
from tests.crawling.fakes import Reply
from tests.crawling.import_files import FLOOD_ROWS, HEADER, csv_text, flood_zip, photo, upload, zip_bytes

pytestmark = pytest.mark.django_db

UPLOAD_URL = reverse("admin:crawling_importjob_add")


@pytest.fixture(autouse=True)
def _imports_in_the_request(settings):
    """Tests run the import task in-process on commit (the browser test covers the embedded default's thread)."""
    settings.IMPORT_IN_BACKGROUND_THREAD = False
    settings.IMAGE_MAX_BYTES = 2_000_000


@pytest.fixture
def coordinator(client, people):
    client.force_login(people["coordinator"])
    return client


def job_url(job: ImportJob) -> str:
    return reverse("admin:crawling_importjob_change", args=[job.pk])


def upload_file(client, crisis: Crisis, name: str, data) -> ImportJob:
    response = client.post(UPLOAD_URL, {"crisis": crisis.pk, "upload": upload(name, data)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return ImportJob.objects.get(pk=response.url.rstrip("/").split("/")[-2])


def mapping_data(job: ImportJob, **changes) -> dict:
    return {**job.mapping, **changes}


def start(client, job: ImportJob, capture, **changes) -> ImportJob:
    with capture(execute=True):
        response = client.post(job_url(job), {**mapping_data(job, **changes), "_start": "1"})
    assert response.status_code == 302, response.content.decode()[:2000]
    job.refresh_from_db()
    return job


class TestUploadAndPreview:
    def test_the_upload_page_offers_only_the_coordinator_s_open_crises(self, coordinator, people):
        page = coordinator.get(UPLOAD_URL).content.decode()
        assert people["crisis"].name in page
        assert people["other_crisis"].name not in page
        Crisis.objects.filter(pk=people["crisis"].pk).update(status=Crisis.Status.CLOSED)
        assert people["crisis"].name not in coordinator.get(UPLOAD_URL).content.decode()

    def test_the_crisis_list_links_each_crisis_to_its_import_page_with_the_crisis_chosen(self, coordinator, people):
        crisis = people["crisis"]
        changelist = coordinator.get(reverse("admin:crises_crisis_changelist")).content.decode()
        link = f"{UPLOAD_URL}?crisis={crisis.pk}"
        assert f'href="{link}"' in changelist
        assert f'<option value="{crisis.pk}" selected>' in coordinator.get(link).content.decode()

    def test_a_zip_shows_a_preview_of_its_rows_with_the_columns_guessed_and_stores_nothing_yet(
        self, coordinator, people
    ):
        job = upload_file(coordinator, people["crisis"], "floods.zip", flood_zip())
        assert (job.kind, job.csv_member, job.status) == ("zip", "floods/posts.csv", ImportJob.Status.UPLOADED)
        assert job.columns == HEADER
        assert job.mapping == {"image": "file", "text": "caption", "lat": "lat", "lon": "lon", "date": "date"}
        page = coordinator.get(job_url(job)).content.decode()
        assert "Rua alagada no centro de Porto Alegre" in page
        assert "Image “photos/missing.jpg” is not in the ZIP." in page
        assert page.count(">ready<") == 4  # the file that is not an image is found; it is refused when decoded
        assert not Post.objects.exists()

    def test_the_coordinator_changes_the_mapping_and_checks_again(self, coordinator, people):
        job = upload_file(coordinator, people["crisis"], "floods.zip", flood_zip())
        response = coordinator.post(job_url(job), {**mapping_data(job, author="taken_by"), "_preview": "1"})
        page = response.content.decode()
        assert response.status_code == 200
        assert "→ Author" in page
        job.refresh_from_db()
        assert job.status == ImportJob.Status.UPLOADED

    @pytest.mark.parametrize(
        ("changes", "error"),
        [({"image": ""}, "This field is required."), ({"lon": ""}, "Choose both the latitude and the longitude")],
    )
    def test_a_mapping_without_image_or_with_half_a_point_is_refused(self, coordinator, people, changes, error):
        job = upload_file(coordinator, people["crisis"], "floods.zip", flood_zip())
        response = coordinator.post(job_url(job), {**mapping_data(job, **changes), "_start": "1"})
        assert error in response.content.decode()
        job.refresh_from_db()
        assert job.status == ImportJob.Status.UPLOADED

    @pytest.mark.parametrize(
        ("name", "data", "error"),
        [
            ("photo.csv", photo(1), "This is not a CSV file"),
            ("empty.csv", "", "The submitted file is empty."),
            ("two.zip", zip_bytes({"a.csv": "file\n", "b.csv": "file\n"}), "exactly one CSV file"),
            ("none.zip", zip_bytes({"a.jpg": photo(1)}), "exactly one CSV file"),
            ("same.csv", "file,file\na.jpg,b.jpg\n", "Two columns have the same name: file."),
        ],
    )
    def test_a_file_that_cannot_be_imported_says_why_and_nothing_is_stored(
        self, coordinator, people, name, data, error
    ):
        response = coordinator.post(UPLOAD_URL, {"crisis": people["crisis"].pk, "upload": upload(name, data)})
        assert response.status_code == 200
        assert error in response.content.decode()
        assert not ImportJob.objects.exists()


class TestRun:
    def test_good_rows_are_imported_and_rows_with_an_error_leave_nothing(
        self, coordinator, people, django_capture_on_commit_callbacks
    ):
        crisis = people["crisis"]
        job = upload_file(coordinator, crisis, "floods.zip", flood_zip())
        job = start(coordinator, job, django_capture_on_commit_callbacks, author="taken_by")
        assert job.status == ImportJob.Status.DONE
        assert (job.rows_total, job.rows_imported, job.rows_skipped, job.rows_failed) == (5, 3, 0, 2)
        assert Post.objects.filter(crisis=crisis).count() == 3
        assert Media.objects.filter(crisis=crisis).count() == 3
        street = Post.objects.get(text="Rua alagada no centro de Porto Alegre")
        assert (street.source, street.geo_lat, street.geo_lon, street.author_handle) == ("csv", -30.03, -51.22, "Ana")
        assert street.posted_at == datetime(2024, 5, 6, tzinfo=UTC)
        image = street.media.get()
        assert image.image and image.original and image.width == 320
        assert image.stage not in (Media.Stage.NEW, Media.Stage.FETCHED)  # the pipeline took it on
        outcomes = dict(ImportRow.objects.filter(job=job).values_list("number", "outcome"))
        assert outcomes == {1: "imported", 2: "imported", 3: "failed", 4: "imported", 5: "failed"}
        page = coordinator.get(job_url(job)).content.decode()
        assert "Image “photos/missing.jpg” is not in the ZIP." in page
        assert "The image is refused: not_an_image" in page
        assert "Download the 2 rows with an error (CSV)" in page

    def test_the_embedded_import_thread_goes_on_after_the_database_was_locked(
        self, coordinator, people, django_capture_on_commit_callbacks, monkeypatch
    ):
        """SQLite answers "database is locked" when pages read while the import writes: the thread tries again."""
        job = upload_file(coordinator, people["crisis"], "floods.zip", flood_zip())
        with django_capture_on_commit_callbacks(execute=False):
            coordinator.post(job_url(job), {**mapping_data(job), "_start": "1"})
        import_row, locked = services._import_row, []

        def locked_once_on_the_second_row(job, number, row, images):
            if number == 2 and not locked:
                locked.append(number)
                raise OperationalError("database is locked")
            import_row(job, number, row, images)

        monkeypatch.setattr(services, "_import_row", locked_once_on_the_second_row)
        monkeypatch.setattr(services.time, "sleep", lambda seconds: None)
        monkeypatch.setattr(services.connections, "close_all", lambda: None)  # the test's own connection
        services._import_job_thread(job.pk)

        job.refresh_from_db()
        assert locked == [2]
        assert job.status == ImportJob.Status.DONE
        assert (job.rows_imported, job.rows_failed) == (3, 2)
        assert sorted(ImportRow.objects.filter(job=job).values_list("number", flat=True)) == [1, 2, 3, 4, 5]
        assert Post.objects.filter(crisis=people["crisis"]).count() == 3

    def test_the_rows_with_an_error_download_as_they_were_with_their_error(
        self, coordinator, people, django_capture_on_commit_callbacks
    ):
        job = start(
            coordinator,
            upload_file(coordinator, people["crisis"], "floods.zip", flood_zip()),
            django_capture_on_commit_callbacks,
        )
        response = coordinator.get(reverse("admin:crawling_importjob_errors", args=[job.pk]))
        assert response["Content-Type"].startswith("text/csv")
        assert 'filename="floods-errors.csv"' in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == [*HEADER, "import_row", "import_error"]
        assert rows[1][:6] == FLOOD_ROWS[2] and rows[1][6] == "3" and "not in the ZIP" in rows[1][7]
        assert rows[2][:6] == FLOOD_ROWS[4] and rows[2][6] == "5"

    def test_the_same_file_imported_again_skips_every_row_already_imported(
        self, coordinator, people, django_capture_on_commit_callbacks
    ):
        crisis = people["crisis"]
        start(
            coordinator, upload_file(coordinator, crisis, "floods.zip", flood_zip()), django_capture_on_commit_callbacks
        )
        again = start(
            coordinator, upload_file(coordinator, crisis, "floods.zip", flood_zip()), django_capture_on_commit_callbacks
        )
        assert (again.rows_imported, again.rows_skipped, again.rows_failed) == (0, 3, 2)
        assert Post.objects.filter(crisis=crisis).count() == 3

    def test_images_given_by_url_are_downloaded_safely_and_bad_ones_are_row_errors(
        self, coordinator, people, server, loopback, django_capture_on_commit_callbacks
    ):
        server.route("/a.jpg", Reply.image(photo(4)))
        rows = [
            [server.url("/a.jpg"), "Boa foto"],
            [server.url("/gone.jpg"), "Sumiu"],
            ["file:///etc/passwd", "Não"],
            ["local.jpg", "Sem ZIP"],
        ]
        data = csv_text(rows, header=["image_url", "text"])
        job = start(
            coordinator,
            upload_file(coordinator, people["crisis"], "urls.csv", data),
            django_capture_on_commit_callbacks,
        )
        assert (job.rows_imported, job.rows_failed) == (1, 3)
        messages = dict(ImportRow.objects.filter(job=job).values_list("number", "message"))
        assert "could not be downloaded: http_404" in messages[2]
        assert "only http and https addresses are fetched" in messages[3]
        assert "upload a ZIP holding the images" in messages[4]
        assert Post.objects.get().media.get().remote_url == server.url("/a.jpg")

    def test_a_semicolon_csv_with_decimal_commas_is_read(
        self, coordinator, people, server, loopback, django_capture_on_commit_callbacks
    ):
        server.route("/a.jpg", Reply.image(photo(5)))
        data = csv_text(
            [[server.url("/a.jpg"), "-30,05", "-51,18"]], header=["url", "latitude", "longitude"], delimiter=";"
        )
        job = start(
            coordinator,
            upload_file(coordinator, people["crisis"], "semi.csv", data),
            django_capture_on_commit_callbacks,
        )
        assert job.rows_imported == 1
        assert (Post.objects.get().geo_lat, Post.objects.get().geo_lon) == (-30.05, -51.18)

    def test_a_row_with_a_wrong_value_is_named_and_not_stored(
        self, coordinator, people, django_capture_on_commit_callbacks
    ):
        rows = [["photos/street.jpg", "ok", "95", "10", "", ""], ["photos/street.jpg", "b", "", "", "31/31/2024", ""]]
        data = zip_bytes({"posts.csv": csv_text(rows), "photos/street.jpg": photo(1)})
        job = start(
            coordinator, upload_file(coordinator, people["crisis"], "bad.zip", data), django_capture_on_commit_callbacks
        )
        messages = dict(ImportRow.objects.filter(job=job).values_list("number", "message"))
        assert "Latitude “95”, longitude “10”" in messages[1]
        assert "Date “31/31/2024” is not a date" in messages[2]
        assert not Post.objects.exists()

    def test_a_crisis_in_draft_takes_imports(self, coordinator, people, django_capture_on_commit_callbacks):
        crisis = people["crisis"]
        assert crisis.status == Crisis.Status.DRAFT
        job = start(
            coordinator, upload_file(coordinator, crisis, "floods.zip", flood_zip()), django_capture_on_commit_callbacks
        )
        assert job.rows_imported == 3


class TestPermissions:
    @pytest.fixture
    def job(self, coordinator, people):
        return upload_file(coordinator, people["crisis"], "floods.zip", flood_zip())

    def test_another_crisis_s_coordinator_can_neither_see_nor_start_nor_download(self, client, people, job):
        client.force_login(people["other_coordinator"])
        assert client.get(job_url(job)).status_code in (302, 404)
        assert client.post(job_url(job), {**job.mapping, "_start": "1"}).status_code in (302, 404)
        assert client.get(reverse("admin:crawling_importjob_errors", args=[job.pk])).status_code == 404
        assert job.original_name not in client.get(reverse("admin:crawling_importjob_changelist")).content.decode()
        job.refresh_from_db()
        assert job.status == ImportJob.Status.UPLOADED

    def test_nobody_uploads_into_a_crisis_they_do_not_coordinate(self, client, people):
        client.force_login(people["other_coordinator"])
        response = client.post(UPLOAD_URL, {"crisis": people["crisis"].pk, "upload": upload("a.zip", flood_zip())})
        assert "Select a valid choice" in response.content.decode()
        assert not ImportJob.objects.exists()

    @pytest.mark.parametrize("role", ["volunteer", "responder", None])
    def test_people_who_coordinate_nothing_are_sent_to_the_admin_login(self, client, people, job, role):
        client.logout()  # the fixture uploaded as the coordinator
        if role:
            client.force_login(people[role])
        for url in (UPLOAD_URL, job_url(job), reverse("admin:crawling_importjob_errors", args=[job.pk])):
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login/" in response.url, url
