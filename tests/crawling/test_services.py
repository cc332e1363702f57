"""Crawls against fake API servers on loopback: paging, resuming, rate limits, pausing, broken responses."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from crawling import services
from crawling.models import CrawlState, Media, Post
from crawling.sources.base import NormalisedMedia, NormalisedPost
from geoloc_platform.crises import services as crisis_services
from geoloc_platform.crises.models import Crisis
from tests.crawling.fakes import Reply
from tests.crawling.payloads import bluesky_post, bsky_images_view, mastodon_status, x_page, x_photo, x_tweet

pytestmark = pytest.mark.django_db

TAG_PATH = "/api/v1/timelines/tag/RSFloods"


def in_an_hour() -> datetime:
    return timezone.now().replace(microsecond=0) + timedelta(hours=1)


def mastodon_timeline(server, pages: dict[str | None, list[dict]]):
    """Serve ``pages`` keyed by the max_id asked for (None: the first page); each links to the next."""

    def timeline(request):
        statuses = pages.get(request.arg("max_id"), [])
        since = request.arg("since_id")
        if since:
            statuses = [s for s in statuses if int(s["id"]) > int(since)]
        headers = {}
        if statuses:
            headers["Link"] = f'<{server.url(TAG_PATH)}?max_id={statuses[-1]["id"]}>; rel="next"'
        return Reply.json(statuses, headers=headers)

    server.route(TAG_PATH, timeline)


@pytest.fixture
def mastodon(server, settings):
    settings.MASTODON_INSTANCES = [server.url("")]
    # Three pages, newest first, then an empty last page.
    mastodon_timeline(
        server,
        {
            None: [mastodon_status(30), mastodon_status(29)],
            "29": [mastodon_status(28), mastodon_status(27, images=2)],
            "27": [mastodon_status(26)],
        },
    )
    return server


def crawl(crisis, source="mastodon", **options):
    return services.crawl_source(crisis_id=crisis.pk, source=source, **options)


class TestCrawlSource:
    def test_a_crawl_reads_every_page_until_the_empty_last_one(self, mastodon, crisis):
        report = crawl(crisis)
        assert (report.pages, report.posts_created, report.media_created) == (4, 5, 6)
        assert Post.objects.filter(crisis=crisis, source="mastodon").count() == 5
        assert set(Media.objects.filter(crisis=crisis).values_list("stage", flat=True)) == {Media.Stage.NEW}
        state = CrawlState.objects.get(crisis=crisis, source="mastodon")
        stream = state.streams[f"127.0.0.1:{mastodon.port}"]
        assert stream == {"cursor": None, "newest": "30"}
        assert (state.pages_fetched, state.posts_created, state.media_created) == (4, 5, 6)
        assert state.last_success_at is not None and state.last_error == ""

    def test_an_interrupted_crawl_resumes_from_its_saved_cursor(self, mastodon, crisis):
        assert crawl(crisis, max_pages=1).posts_created == 2
        state = CrawlState.objects.get(crisis=crisis, source="mastodon")
        assert state.streams[f"127.0.0.1:{mastodon.port}"]["cursor"] == "29"
        report = crawl(crisis)
        assert report.posts_created == 3
        assert mastodon.requests[1].arg("max_id") == "29"
        assert Post.objects.filter(crisis=crisis).count() == 5

    def test_the_next_pass_asks_only_for_posts_newer_than_the_last_one(self, mastodon, crisis):
        crawl(crisis)
        mastodon.requests.clear()
        mastodon_timeline(mastodon, {None: [mastodon_status(31), mastodon_status(30)]})
        report = crawl(crisis)
        assert mastodon.requests[0].arg("since_id") == "30"
        assert report.posts_created == 1
        assert Post.objects.filter(crisis=crisis).count() == 6

    def test_a_page_seen_twice_creates_nothing_new(self, mastodon, crisis):
        crawl(crisis)
        CrawlState.objects.filter(crisis=crisis).update(streams={})  # forget where we were
        report = crawl(crisis)
        assert (report.posts_seen, report.posts_created) == (5, 0)
        assert Post.objects.count() == 5

    def test_a_429_saves_the_reset_and_the_crawl_resumes_after_it(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        reset_at = in_an_hour()
        reset = reset_at.isoformat()
        first = Reply.json([mastodon_status(30)], headers={"Link": f'<{server.url(TAG_PATH)}?max_id=30>; rel="next"'})
        limited = Reply.json({"error": "Too many requests"}, 429, {"X-RateLimit-Reset": reset})
        server.route(TAG_PATH, [first, limited])
        report = crawl(crisis)
        assert report.stopped == "rate_limited"
        state = CrawlState.objects.get(crisis=crisis)
        assert state.not_before == reset_at
        assert "rate limited" in state.last_error
        assert state.streams[f"127.0.0.1:{server.port}"]["cursor"] == "30"
        assert Post.objects.count() == 1

        assert crawl(crisis).stopped == "busy_or_waiting"  # before the reset: no request at all
        assert len(server.requests) == 2

        CrawlState.objects.filter(pk=state.pk).update(not_before=timezone.now() - timedelta(seconds=1))
        server.route(TAG_PATH, Reply.json([]))
        assert crawl(crisis).stopped == ""
        assert server.requests[-1].arg("max_id") == "30"

    def test_exhausted_rate_headers_stop_after_the_page_and_wait_for_the_reset(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        reset_at = in_an_hour()
        headers = {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset_at.isoformat(),
            "Link": f'<{server.url(TAG_PATH)}?max_id=30>; rel="next"',
        }
        server.route(TAG_PATH, Reply.json([mastodon_status(30)], headers=headers))
        report = crawl(crisis)
        assert (report.stopped, report.posts_created, len(server.requests)) == ("rate_limited", 1, 1)
        assert CrawlState.objects.get(crisis=crisis).not_before == reset_at

    def test_a_paused_crisis_is_not_crawled(self, mastodon, crisis):
        crisis_services.crisis_transition(crisis=crisis, action="pause", user=None)
        assert crawl(crisis).stopped == "crisis_not_active"
        assert mastodon.requests == []

    def test_pausing_a_crisis_stops_its_crawl_after_the_current_page(self, mastodon, crisis):
        def pause(stream_key, report):
            crisis_services.crisis_transition(crisis=crisis, action="pause", user=None)

        report = crawl(crisis, on_page=pause)
        assert (report.stopped, report.pages, len(mastodon.requests)) == ("crisis_not_active", 1, 1)

    def test_malformed_json_is_recorded_and_nothing_crashes(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        server.route(TAG_PATH, Reply(200, b'[{"id": "1",', {"Content-Type": "application/json"}))
        report = crawl(crisis)
        assert "malformed JSON" in report.errors[0]
        state = CrawlState.objects.get(crisis=crisis)
        assert "malformed JSON" in state.last_error and state.last_error_at is not None
        assert state.last_success_at is None and state.lease_until is None

    def test_an_unreachable_source_is_recorded(self, settings, crisis):
        settings.MASTODON_INSTANCES = ["http://127.0.0.1:9"]
        report = crawl(crisis)
        assert "ConnectionError" in report.errors[0]

    def test_a_malformed_item_is_skipped_and_counted(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        broken = mastodon_status(2)
        del broken["id"], broken["uri"]
        server.route(TAG_PATH, [Reply.json([mastodon_status(3), broken]), Reply.json([])])
        report = crawl(crisis)
        assert (report.posts_created, report.items_skipped) == (1, 1)
        assert CrawlState.objects.get(crisis=crisis).items_skipped == 1

    def test_a_crawl_already_running_is_not_started_twice(self, mastodon, crisis):
        services.crawl_state_claim(crisis=crisis, source="mastodon")
        assert crawl(crisis).stopped == "busy_or_waiting"
        assert mastodon.requests == []

    def test_posts_outside_the_collection_window_are_left_out_and_older_pages_end_the_pass(
        self, server, settings, crisis
    ):
        settings.MASTODON_INSTANCES = [server.url("")]
        crisis.collection_starts_at = datetime(2024, 5, 1, tzinfo=UTC)
        crisis.save()
        new = mastodon_status(3, created_at="2024-05-02T00:00:00Z")
        old = mastodon_status(2, created_at="2024-04-01T00:00:00Z")
        link = {"Link": f'<{server.url(TAG_PATH)}?max_id=2>; rel="next"'}
        server.route(TAG_PATH, [Reply.json([new, old], headers=link), Reply.json([old], headers=link)])
        report = crawl(crisis)
        assert (report.posts_created, report.pages) == (1, 2)

    def test_images_of_new_posts_are_sent_to_be_fetched_on_commit(
        self, mastodon, crisis, monkeypatch, django_capture_on_commit_callbacks
    ):
        sent = []
        monkeypatch.setattr(services.pipeline, "send_step", lambda *, stage, media_id: sent.append((stage, media_id)))
        with django_capture_on_commit_callbacks(execute=True):
            crawl(crisis)
        assert sorted(media_id for _stage, media_id in sent) == sorted(Media.objects.values_list("pk", flat=True))
        assert {stage for stage, _id in sent} == {Media.Stage.NEW}


class TestBlueskyCrawl:
    def test_cursor_pages_with_an_expired_token_in_the_middle(self, server, settings, crisis):
        settings.BLUESKY_SERVICE_URL = server.url("")
        settings.BLUESKY_IDENTIFIER, settings.BLUESKY_APP_PASSWORD = "me", "app-pass"
        crisis.keywords, crisis.hashtags = {"pt": ["enchente"]}, []
        crisis.save()
        sessions = iter(range(1, 10))
        server.route(
            "/xrpc/com.atproto.server.createSession",
            lambda r: Reply.json({"accessJwt": f"a{next(sessions)}", "refreshJwt": "r1"}),
        )
        server.route(
            "/xrpc/com.atproto.server.refreshSession", Reply.json({"accessJwt": "a-fresh", "refreshJwt": "r2"})
        )
        pages = {
            None: (
                {
                    "posts": [
                        bluesky_post("p3", embed=bsky_images_view("3"), indexed_at="2024-05-06T12:03:00Z"),
                        bluesky_post("p2", embed=bsky_images_view("2"), indexed_at="2024-05-06T12:02:00Z"),
                    ],
                    "cursor": "c1",
                }
            ),
            "c1": {
                "posts": [bluesky_post("p1", embed=bsky_images_view("1"), indexed_at="2024-05-06T12:01:00Z")],
                "cursor": "c2",
            },
            "c2": {"posts": []},
        }

        def search(request):
            if request.arg("cursor") == "c1" and request.headers["authorization"] == "Bearer a1":
                return Reply.json({"error": "ExpiredToken", "message": "Token has expired"}, 400)
            return Reply.json(pages[request.arg("cursor")])

        server.route("/xrpc/app.bsky.feed.searchPosts", search)
        report = crawl(crisis, source="bluesky")
        assert (report.posts_created, report.errors) == (3, [])
        assert len(server.hits("/xrpc/com.atproto.server.createSession")) == 1
        assert len(server.hits("/xrpc/com.atproto.server.refreshSession")) == 1
        state = CrawlState.objects.get(crisis=crisis, source="bluesky")
        assert state.streams["pt:enchente"] == {"cursor": None, "newest": "2024-05-06T12:03:00Z"}


class TestXCrawl:
    def test_reads_are_counted_and_the_crawl_stops_when_the_budget_is_spent(self, server, settings, crisis):
        settings.X_API_URL = server.url("")
        settings.X_BEARER_TOKEN, settings.X_READ_BUDGET = "bearer", 3
        tweets = [x_tweet(str(100 - i), [f"3_{i}"]) for i in range(4)]
        media = [x_photo(f"3_{i}") for i in range(4)]
        server.route(
            "/2/tweets/search/recent",
            [
                Reply.json(x_page(tweets[:2], media, next_token="n1")),
                Reply.json(x_page(tweets[2:3], media, next_token="n2")),
                Reply.json(x_page(tweets[3:], media)),
            ],
        )
        report = crawl(crisis, source="x")
        assert (report.posts_created, report.stopped) == (3, "read_budget_spent")
        assert len(server.requests) == 2
        state = CrawlState.objects.get(crisis=crisis, source="x")
        assert state.reads_used == 3 and "budget" in state.last_error
        assert crawl(crisis, source="x").stopped == "read_budget_spent"
        assert len(server.requests) == 2


class TestPostsStore:
    def post(self, source_id: str, **fields) -> NormalisedPost:
        return NormalisedPost(
            source_id=source_id,
            text="rua alagada",
            media=[NormalisedMedia(remote_url="https://i.example/a.jpg")],
            **fields,
        )

    def test_storing_the_same_posts_twice_creates_nothing_new(self, crisis):
        assert services.posts_store(crisis=crisis, source="csv", posts=[self.post("a"), self.post("b")])[0] == 2
        created, media_ids = services.posts_store(crisis=crisis, source="csv", posts=[self.post("a"), self.post("c")])
        assert (created, len(media_ids)) == (1, 1)
        assert Post.objects.count() == 3

    def test_a_post_repeated_within_one_batch_is_stored_once(self, crisis):
        created, _ids = services.posts_store(crisis=crisis, source="csv", posts=[self.post("a"), self.post("a")])
        assert created == 1

    def test_the_same_post_may_belong_to_two_crises(self, people):
        services.posts_store(crisis=people["crisis"], source="csv", posts=[self.post("a")])
        services.posts_store(crisis=people["other_crisis"], source="csv", posts=[self.post("a")])
        assert Post.objects.filter(source_id="a").count() == 2

    def test_nul_characters_and_oversized_urls_do_not_break_the_database(self, crisis):
        post = self.post("a", url="https://x.example/" + "a" * 2000)
        post.text = "agua\x00subindo"
        post.media.append(NormalisedMedia(remote_url="https://i.example/" + "b" * 3000))
        services.posts_store(crisis=crisis, source="csv", posts=[post])
        stored = Post.objects.get()
        assert (stored.text, stored.url) == ("aguasubindo", "")
        assert [m.remote_url for m in stored.media.order_by("position")] == ["https://i.example/a.jpg", ""]


@pytest.fixture
def crawls_sent(settings, monkeypatch) -> list[tuple[int, str]]:
    """Mastodon and Flickr configured; the crawls beat would send, recorded instead of run."""
    settings.MASTODON_INSTANCES = ["https://social.example"]
    settings.FLICKR_API_KEY = "key"
    from crawling import tasks

    sent = []
    monkeypatch.setattr(tasks.crawl_source, "delay", lambda crisis_id, source: sent.append((crisis_id, source)))
    return sent


class TestBeat:
    def test_every_active_crisis_is_crawled_and_paused_ones_are_not(
        self, people, crawls_sent, django_capture_on_commit_callbacks
    ):
        crisis = crisis_services.crisis_transition(crisis=people["crisis"], action="launch", user=None)
        paused = crisis_services.crisis_transition(crisis=people["other_crisis"], action="launch", user=None)
        crisis_services.crisis_transition(crisis=paused, action="pause", user=None)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.crawl_active_crises() == 1
        assert sorted(crawls_sent) == [(crisis.pk, "flickr"), (crisis.pk, "mastodon")]


class TestCrawlSourcesChosenPerCrisis:
    def test_beat_crawls_only_the_sources_the_crisis_chose(
        self, people, crawls_sent, django_capture_on_commit_callbacks
    ):
        crisis = people["crisis"]
        Crisis.objects.filter(pk=crisis.pk).update(crawl_sources=["flickr", "bluesky"])
        crisis_services.crisis_transition(crisis=crisis, action="launch", user=None)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.crawl_crisis(crisis_id=crisis.pk) == ["flickr"]  # bluesky has no credentials
        assert crawls_sent == [(crisis.pk, "flickr")]

    def test_a_source_taken_off_the_crisis_is_not_crawled_even_when_asked(self, mastodon, crisis):
        Crisis.objects.filter(pk=crisis.pk).update(crawl_sources=["bluesky"])
        report = crawl(crisis)
        assert report.stopped == "source_not_chosen"
        assert not Post.objects.filter(crisis=crisis).exists()
        assert mastodon.requests == []
