"""Playwright driving Debian's Chromium (never a downloaded browser) against the live test server.

Every browser test gets ``page``, which fails the test on any page error (an uncaught exception), console error,
failed request to our own server, or error status for one of our static files or images. A test that expects a
problem says so with ``page_problems.allow(pattern)``. Map tiles come from a local stand-in (no internet here), so
tile requests never fail and screenshots show a plain grid.
"""

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))
# Subresources whose error status is a broken page (an API answering 409 on purpose is not).
ASSET_TYPES = {"stylesheet", "script", "image", "font", "media"}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/bootstrap.sh --browser (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


def _tile_png() -> bytes:
    tile = Image.new("RGB", (256, 256), (236, 238, 233))
    draw = ImageDraw.Draw(tile)
    draw.line([(0, 0), (255, 0)], fill=(214, 217, 210))
    draw.line([(0, 0), (0, 255)], fill=(214, 217, 210))
    out = io.BytesIO()
    tile.save(out, "PNG")
    return out.getvalue()


TILE_PNG = _tile_png()


@dataclass
class PageProblems:
    """What went wrong in the browser during a test, and what the test said it expects."""

    origin: str
    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def record(self, problem: str) -> None:
        self.seen.append(problem)

    def ours(self, url: str) -> bool:
        return urlsplit(url)[:2] == urlsplit(self.origin)[:2]

    def unexpected(self) -> list[str]:
        return [problem for problem in self.seen if not any(p.search(problem) for p in self.allowed)]


def watch(page, problems: PageProblems) -> None:
    """Record every page error, console error and failed request of ``page`` (and its popups)."""
    page.on("pageerror", lambda error: problems.record(f"page error: {error}"))

    def console(message) -> None:
        if message.type != "error":
            return
        # Chromium logs every error status as a console error, 409s of our API included: those are judged by
        # status below, and requests to other servers (tiles, Street View) are not ours to judge.
        if message.text.startswith("Failed to load resource"):
            return
        problems.record(f"console error: {message.text} ({message.location.get('url', '')})")

    def failed(request) -> None:
        # ERR_ABORTED is the browser's own doing (a link that became a download, a fetch cut by a reload).
        if problems.ours(request.url) and "ERR_ABORTED" not in (request.failure or ""):
            problems.record(f"request failed: {request.method} {request.url} ({request.failure})")

    def response(response) -> None:
        if not problems.ours(response.url):
            return
        if response.status >= 500 or (response.status >= 400 and response.request.resource_type in ASSET_TYPES):
            problems.record(f"HTTP {response.status}: {response.request.method} {response.url}")

    page.on("console", console)
    page.on("requestfailed", failed)
    page.on("response", response)
    page.on("popup", lambda popup: watch(popup, problems))


@pytest.fixture
def page_problems(live_server):
    """Fails the test, after its pages closed, on any problem it did not say it expects."""
    problems = PageProblems(origin=live_server.url)
    yield problems
    unexpected = problems.unexpected()
    if unexpected:
        pytest.fail("The browser saw problems:\n" + "\n".join(unexpected), pytrace=False)


def new_page(browser, live_server, problems: PageProblems, *, viewport: dict | None = None):
    """A page in a fresh browser context (its own cookies), watched for problems, tiles served locally."""
    # bypass_csp: Playwright's wait_for_function evaluates its string with eval, which the site's policy refuses;
    # the policy itself is checked page by page in test_content_security_policy.py.
    context = browser.new_context(
        viewport=viewport or {"width": 1280, "height": 900}, base_url=live_server.url, bypass_csp=True
    )
    context.route(
        re.compile(r"https://[a-z.]*tile\.openstreetmap\.org/.*"),
        lambda route: route.fulfill(status=200, content_type="image/png", body=TILE_PNG),
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch(page, problems)
    return page


@pytest.fixture
def page(browser, live_server, page_problems):
    page = new_page(browser, live_server, page_problems)
    yield page
    page.context.close()


@pytest.fixture
def other_page(browser, live_server, page_problems):
    """A second person's browser, watched like ``page``, for tests where two people meet."""
    opened = []

    def open_page(viewport: dict | None = None):
        opened.append(new_page(browser, live_server, page_problems, viewport=viewport))
        return opened[-1]

    yield open_page
    for other in opened:
        other.context.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_task_page(page, *, showing: int | None = None, leaving: int | None = None) -> None:
    """Wait until the page shows task `showing`, or any page other than task `leaving`, and has loaded.

    The predicate is null-safe: between two pages the document may not have its task data yet, and a
    predicate that throws there fails the wait (and counts as a page error) instead of retrying. The load is
    waited for apart, with its own timeout: a busy machine may take a while to load the next page's image.
    """
    page.wait_for_function(
        """([showing, leaving]) => {
            if (document.readyState === "loading") return false;  // its task data may be half parsed
            const element = document.getElementById("task-data");
            if (element === null) return showing === null;
            const shown = JSON.parse(element.textContent).task_id;
            return showing !== null ? shown === showing : shown !== leaving;
        }""",
        arg=[showing, leaving],
    )
    page.wait_for_load_state()  # the page's scripts listen for keys once it has loaded


def crisis_without_area_in_zedland(crisis) -> None:
    """The crisis loses its drawn area and lies in invented Zedland (ZZ), a country of the gazetteer centred at
    12 S 40 E with a 400 km radius: where the maps of such a crisis open."""
    from classification.models import Place
    from geoloc_platform.crises.models import Crisis

    Place.objects.create(
        kind=Place.Kind.COUNTRY, name="Zedland", country_code="ZZ", lat=-12.0, lon=40.0, radius_km=400, source_id="zz"
    )
    Crisis.objects.filter(pk=crisis.pk).update(affected_area=None, country_codes=["ZZ"])
