"""Redis restarted in the middle of a crawl (a worker and beat on a Redis of the test's own, without persistence).

The restart loses every queued and unacknowledged message: the crawl's own, and the fetch steps of the page that was
stored while Redis was down. Nothing else has to remember them: the database holds the crawl cursor and every
image's stage, so beat's next crawl resumes from the saved cursor and the sweeper re-sends the images' steps. Every
post is stored exactly once and every image fetched once.
"""

import time

import pytest

from crawling.models import CrawlState, Media, Post
from geoloc_platform.crises.services import crisis_transition
from tests.conftest import make_crisis
from tests.integration.conftest import celery_process, process_stop, production_stack_required, wait_for
from tests.integration.fault_servers import (
    FakeMastodon,
    RedisServer,
    crawler_env,
    mastodon_posts,
    stored_originals,
)

pytestmark = pytest.mark.worker


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mastodon():
    server = FakeMastodon(count=9, per_page=3).start()
    yield server
    server.stop()


def test_a_redis_restart_in_the_middle_of_a_crawl_loses_no_post_and_duplicates_none(
    transactional_db, settings, tmp_path, redis_server, mastodon
):
    production_stack_required(settings)
    crisis = crisis_transition(
        crisis=make_crisis(slug="redis-restart", hashtags=[FakeMastodon.TAG]), action="launch", user=None
    )
    mastodon.hold_page_after(7)  # page 2 (statuses 6, 5, 4) is in flight when Redis goes down
    env = {
        **crawler_env(mastodon),
        "CELERY_BROKER_URL": redis_server.url(0),
        "REDIS_URL": redis_server.url(1),
        "CRAWL_INTERVAL_SECONDS": "3",
        "PIPELINE_SWEEP_INTERVAL_SECONDS": "2",
        "PIPELINE_STUCK_AFTER_SECONDS": "3",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    processes = [
        celery_process(settings, logs["worker"], name="redis-restart", env=env),
        celery_process(settings, logs["beat"], beat=True, env=env),
    ]
    state_of = CrawlState.objects.filter(crisis=crisis, source=Post.Source.MASTODON)
    try:
        wait_for(mastodon.held.is_set, timeout=90)  # beat's crawl stored page 1 and asked for page 2
        redis_server.stop()
        mastodon.release()  # page 2 is stored while Redis is down: its images' fetch steps cannot be sent
        (stream,) = state_of.get().streams
        wait_for(lambda: state_of.get().streams[stream].get("cursor") == "4", timeout=30)
        time.sleep(3)  # the crawl's sends fail now, or wait for Redis; either way the database has the cursor
        saved = state_of.get().streams[stream]
        asked_before_restart = len(mastodon.timeline_requests())
        redis_server.start()  # the same port, empty

        def crawl_finished() -> bool:
            return state_of.get().streams[stream] == {"cursor": None, "newest": "9"}

        wait_for(crawl_finished, timeout=60)
        media = Media.objects.filter(crisis=crisis)
        wait_for(lambda: media.count() == 9 and not media.filter(stage=Media.Stage.NEW).exists(), timeout=60)
    finally:
        for process in processes:
            process_stop(process)
        for name, log in logs.items():
            print(f"--- {name}\n{log.read_text()[-2500:]}")

    resumed = mastodon.timeline_requests()[asked_before_restart:]
    print(f"cursor saved at the restart: {saved}; first request after it: max_id={resumed[0].arg('max_id')}")
    assert resumed[0].arg("max_id") == saved["cursor"], "the crawl must resume from the saved cursor"
    posts = mastodon_posts(crisis)
    assert sorted(posts) == sorted(FakeMastodon.source_id(status_id) for status_id in range(1, 10))
    assert all(len(stored_originals(settings, item)) == 1 for item in media), "an image was fetched twice, or never"
