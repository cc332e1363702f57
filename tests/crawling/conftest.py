"""Fixtures of the crawling tests: fake servers on loopback, short timeouts, an active crisis."""

import pytest

from crawling.sources import bluesky
from geoloc_platform.crises import services as crisis_services
from tests.conftest import make_crisis
from tests.crawling.fakes import FakeServer


@pytest.fixture(autouse=True)
def _crawl_settings(settings):
    """Short timeouts keep the slow-drip and timeout tests quick; every source off unless a test sets it."""
    settings.FETCH_CONNECT_TIMEOUT = 1.0
    settings.FETCH_READ_TIMEOUT = 1.0
    settings.FETCH_TOTAL_TIMEOUT = 1.0
    settings.CRAWL_HTTP_TIMEOUT = 2.0
    settings.IMAGE_MAX_BYTES = 200_000
    settings.MASTODON_INSTANCES = []
    settings.BLUESKY_IDENTIFIER = settings.BLUESKY_APP_PASSWORD = ""
    settings.X_BEARER_TOKEN = ""
    settings.X_READ_BUDGET = 0
    settings.FLICKR_API_KEY = ""
    bluesky._SESSIONS.clear()
    yield
    bluesky._SESSIONS.clear()


@pytest.fixture
def server():
    fake = FakeServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def loopback(settings):
    """Allow fetching from the loopback image host; the default refuses it (see test_fetching)."""
    settings.ALLOW_LOOPBACK_FETCH = True


@pytest.fixture
def crisis(db):
    """An active crisis with keywords, hashtags and an affected area."""
    created = make_crisis(
        keywords={"pt": ["enchente"], "en": ["flood"]},
        hashtags=["RSFloods", "#EnchenteRS"],
    )
    return crisis_services.crisis_transition(crisis=created, action="launch", user=None)
