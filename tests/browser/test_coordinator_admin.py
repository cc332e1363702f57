"""In a real browser, coordinators need no shell: a crisis set up with tag inputs, an area drawn on the map and its
sources ticked; a ZIP of photos imported with a preview, a column mapping, progress, and the rows with errors."""

import csv
import io

import pytest

from crawling.models import ImportJob, Media, Post
from geoloc_platform.accounts.services import coordinator_grant, role_groups_ensure
from geoloc_platform.crises.models import Crisis
from tests.browser.conftest import screenshot
from tests.browser.drawing import draw_rectangle
from tests.conftest import PASSWORD, make_crisis, make_user
from tests.crawling.import_files import FLOOD_ROWS, HEADER, flood_zip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def coordinator():
    role_groups_ensure()
    return coordinator_grant(user=make_user("coordinator"))


def log_in(page, user) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


def add_tags(page, field: str, *tags: str) -> None:
    for tag in tags:
        page.fill(f"#id_{field}-entry", tag)
        page.keyboard.press("Enter")


def chips(page, field: str) -> list[str]:
    texts = page.locator(f".field-{field} .tag-input-chips li").all_inner_texts()
    return [text.removesuffix("\u00d7").strip() for text in texts]  # less the remove button's cross


def test_a_crisis_is_set_up_with_tag_inputs_a_drawn_area_and_its_sources_and_errors_are_clear(page, coordinator):
    log_in(page, coordinator)
    page.goto("/admin/crises/crisis/add/")
    page.fill("#id_name", "Lisbon floods")
    page.select_option("#id_hazard", "flood")
    add_tags(page, "languages", "PT", "en")
    add_tags(page, "country_codes", "pt")
    add_tags(page, "hashtags", "#CheiasLisboa", "Lisbon floods")
    page.fill("#id_keywords", "pt: cheia, inundação\nen: flood")
    page.uncheck("input[name=crawl_sources][value=x]")
    assert chips(page, "languages") == ["pt", "en"] and chips(page, "country_codes") == ["PT"]

    draw_rectangle(page, "#id_affected_area-map", start=(0.4, 0.3), end=(0.6, 0.5))
    screenshot(page, "crisis_setup_filled")
    page.get_by_role("button", name="Save", exact=True).click()

    # One hashtag has a space: the form comes back saying so, with everything typed still there.
    page.get_by_text("“Lisbon floods” has a space: a hashtag is one word").wait_for()
    page.locator(".field-hashtags .tag-input-chips li").nth(1).wait_for()  # the page's script draws the chips
    assert chips(page, "hashtags") == ["CheiasLisboa", "Lisbon floods"]
    assert page.locator(".crisis-area-map path.leaflet-interactive").count() == 1  # the drawn area, kept
    screenshot(page, "crisis_setup_error")
    page.get_by_role("button", name="Remove Lisbon floods").click()
    add_tags(page, "hashtags", "LisbonFloods")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/admin/crises/crisis/")

    crisis = Crisis.objects.get(slug="lisbon-floods")
    assert (crisis.languages, crisis.country_codes) == (["pt", "en"], ["PT"])
    assert crisis.hashtags == ["CheiasLisboa", "LisbonFloods"]
    assert crisis.keywords == {"pt": ["cheia", "inundação"], "en": ["flood"]}
    assert crisis.crawl_sources == ["mastodon", "bluesky", "flickr"]
    assert crisis.affected_area["type"] == "Polygon" and len(crisis.affected_area["coordinates"][0]) == 5

    page.goto(f"/admin/crises/crisis/{crisis.pk}/change/")
    assert chips(page, "hashtags") == ["CheiasLisboa", "LisbonFloods"]
    assert page.locator(".crisis-area-map path.leaflet-interactive").count() == 1
    screenshot(page, "crisis_setup_saved")


def test_a_zip_of_photos_is_imported_with_a_preview_a_mapping_progress_and_its_errors_to_download(
    page, page_problems, coordinator, settings, tmp_path
):
    settings.IMPORT_IN_BACKGROUND_THREAD = True  # the embedded default: the import runs beside the web requests
    settings.IMAGE_MAX_BYTES = 2_000_000
    crisis = make_crisis(coordinator=coordinator)
    archive = tmp_path / "floods.zip"
    archive.write_bytes(flood_zip())
    log_in(page, coordinator)

    page.goto("/admin/crawling/importjob/add/")
    page.select_option("#id_crisis", label=crisis.name)
    page.set_input_files("#id_upload", str(archive))
    screenshot(page, "import_upload")
    page.get_by_role("button", name="Upload and preview").click()

    preview = page.locator("#import-preview")
    preview.wait_for()
    assert preview.locator("tbody tr").count() == 5
    assert "Image “photos/missing.jpg” is not in the ZIP." in preview.inner_text()
    assert page.locator("#id_image").input_value() == "file"
    assert page.locator("#id_author").input_value() == ""  # "taken_by" is no name we know
    page.select_option("#id_author", "taken_by")
    page.get_by_role("button", name="Check again with these columns").click()
    page.locator("#import-preview th", has_text="→ Author").wait_for()
    screenshot(page, "import_preview")
    assert not Post.objects.exists()

    # The test database is SQLite in memory with a shared cache, where a page that reads while the import writes
    # may get "database table is locked": a 503 page that tries again by itself, and the progress goes on.
    page_problems.allow(r"HTTP 503: GET \S+/admin/crawling/importjob/\d+/change/")
    page.get_by_role("button", name="Start the import").click()
    page.locator("#import-status", has_text="Done").wait_for(timeout=120_000)  # the page refreshes itself
    assert page.locator("#import-imported").inner_text() == "3"
    assert page.locator("#import-failed").inner_text() == "2"
    errors = page.locator("#import-errors").inner_text()
    assert "not in the ZIP" in errors and "The image is refused: not_an_image" in errors
    screenshot(page, "import_done")

    with page.expect_download() as download:
        page.locator("#import-errors-download").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert rows[0] == [*HEADER, "import_row", "import_error"]
    assert [row[:6] for row in rows[1:]] == [FLOOD_ROWS[2], FLOOD_ROWS[4]]

    job = ImportJob.objects.get()
    assert (job.status, job.rows_imported, job.rows_failed) == ("done", 3, 2)
    assert Post.objects.filter(author_handle="Ana").exists()
    assert Media.objects.filter(crisis=crisis).count() == 3
