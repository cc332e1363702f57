"""Each source adapter: its pages from a fake API server on loopback, and how it normalises raw items."""

from datetime import UTC, datetime

import pytest

from crawling.sources import enabled_sources
from crawling.sources.base import RateLimited, SourceError, html_to_text
from crawling.sources.bluesky import BlueskyCrawler
from crawling.sources.flickr import FlickrCrawler
from crawling.sources.mastodon import MastodonCrawler
from crawling.sources.x import XCrawler
from tests.crawling.fakes import Reply
from tests.crawling.payloads import (
    bluesky_post,
    bsky_gallery_view,
    bsky_images_view,
    bsky_record_with_media_view,
    flickr_page,
    flickr_photo,
    mastodon_status,
    x_page,
    x_photo,
    x_tweet,
)

pytestmark = pytest.mark.django_db


class TestEnabledSources:
    def test_only_sources_with_credentials_are_enabled(self, settings):
        assert enabled_sources() == []
        settings.MASTODON_INSTANCES = ["https://social.example"]
        settings.FLICKR_API_KEY = "key"
        assert enabled_sources() == ["mastodon", "flickr"]

    def test_x_needs_both_a_token_and_a_read_budget(self, settings):
        settings.X_BEARER_TOKEN = "token"
        assert "x" not in enabled_sources()
        settings.X_READ_BUDGET = 100
        assert "x" in enabled_sources()

    def test_bluesky_needs_an_app_password(self, settings):
        settings.BLUESKY_IDENTIFIER = "ana.bsky.social"
        assert "bluesky" not in enabled_sources()
        settings.BLUESKY_APP_PASSWORD = "abcd-efgh-ijkl-mnop"
        assert "bluesky" in enabled_sources()


class TestMastodon:
    def test_the_query_uses_every_hashtag_of_the_crisis_and_only_media(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        server.route("/api/v1/timelines/tag/RSFloods", Reply.json([]))
        crawler = MastodonCrawler()
        (stream,) = crawler.streams(crisis)
        crawler.page_fetch(stream=stream, cursor=None, since="100", crisis=crisis)
        (request,) = server.requests
        assert request.query["any[]"] == ["EnchenteRS"]
        assert (request.arg("only_media"), request.arg("since_id"), request.arg("limit")) == ("true", "100", "40")

    def test_paging_follows_the_max_id_of_the_link_header(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        link = f'<{server.url("/api/v1/timelines/tag/RSFloods")}?max_id=299>; rel="next", <x?min_id=300>; rel="prev"'
        server.route("/api/v1/timelines/tag/RSFloods", Reply.json([mastodon_status(300)], headers={"Link": link}))
        crawler = MastodonCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert (page.next_cursor, page.newest_mark) == ("299", "300")

    def test_a_status_is_normalised_with_its_html_stripped(self):
        post = MastodonCrawler().normalise(mastodon_status(7, images=2))
        assert post.text == "Rua alagada & #RSFloods\npost 7"
        assert post.source_id == "https://social.example/users/ana/statuses/7"
        assert (post.author_handle, post.language, post.hashtags) == ("ana@social.example", "pt", ["rsfloods"])
        assert post.posted_at == datetime(2024, 5, 6, 12, tzinfo=UTC)
        assert [(m.remote_url, m.alt_text, m.declared_width) for m in post.media] == [
            ("https://files.example/7_0.jpg", "alt 7 0", 800),
            ("https://files.example/7_1.jpg", "alt 7 1", 800),
        ]

    def test_media_with_a_null_url_uses_its_remote_url(self):
        post = MastodonCrawler().normalise(mastodon_status(8, url_null=True))
        assert post.media[0].remote_url == "https://remote.example/8_0.jpg"

    def test_a_boost_is_collected_as_the_boosted_status(self):
        boost = mastodon_status(9, images=0, reblog=mastodon_status(5))
        post = MastodonCrawler().normalise(boost)
        assert post.source_id.endswith("/statuses/5")
        assert post.raw["id"] == "9"  # the boost itself is kept for re-parsing

    def test_videos_and_statuses_without_images_give_nothing(self):
        assert MastodonCrawler().normalise(mastodon_status(10, media_type="gifv")) is None
        assert MastodonCrawler().normalise(mastodon_status(11, images=0)) is None

    def test_a_429_raises_rate_limited_with_the_reset_time(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        server.route(
            "/api/v1/timelines/tag/RSFloods",
            Reply.json({"error": "Too many requests"}, 429, {"X-RateLimit-Reset": "2030-01-01T00:00:00.000Z"}),
        )
        crawler = MastodonCrawler()
        with pytest.raises(RateLimited) as limited:
            crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert limited.value.reset_at == datetime(2030, 1, 1, tzinfo=UTC)

    def test_an_exhausted_rate_header_ends_the_crawl_after_the_page(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2030-01-01T00:00:00Z"}
        server.route("/api/v1/timelines/tag/RSFloods", Reply.json([mastodon_status(1)], headers=headers))
        crawler = MastodonCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert page.rate_reset_at == datetime(2030, 1, 1, tzinfo=UTC)

    def test_malformed_json_raises_a_source_error(self, server, settings, crisis):
        settings.MASTODON_INSTANCES = [server.url("")]
        server.route("/api/v1/timelines/tag/RSFloods", Reply(200, b"[{not json", {"Content-Type": "application/json"}))
        crawler = MastodonCrawler()
        with pytest.raises(SourceError, match="malformed JSON"):
            crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)


@pytest.fixture
def bluesky_on(server, settings):
    settings.BLUESKY_SERVICE_URL = server.url("")
    settings.BLUESKY_IDENTIFIER = "crawler.bsky.social"
    settings.BLUESKY_APP_PASSWORD = "abcd-efgh-ijkl-mnop"
    tokens = iter(range(1, 100))

    def create_session(request):
        n = next(tokens)
        return Reply.json(
            {
                "did": "did:plc:me",
                "handle": "crawler.bsky.social",
                "accessJwt": f"access-{n}",
                "refreshJwt": f"refresh-{n}",
            }
        )

    server.route("/xrpc/com.atproto.server.createSession", create_session)
    server.route("/xrpc/com.atproto.server.refreshSession", create_session)
    return server


class TestBluesky:
    def test_one_session_serves_every_page(self, bluesky_on, crisis):
        server = bluesky_on
        server.route("/xrpc/app.bsky.feed.searchPosts", Reply.json({"posts": [], "cursor": None}))
        crawler = BlueskyCrawler()
        for stream in crawler.streams(crisis):
            BlueskyCrawler().page_fetch(stream=stream, cursor=None, since=None, crisis=crisis)
        assert len(server.hits("/xrpc/com.atproto.server.createSession")) == 1
        searches = server.hits("/xrpc/app.bsky.feed.searchPosts")
        assert len(searches) == len(crawler.streams(crisis)) == 4
        assert {r.headers["authorization"] for r in searches} == {"Bearer access-1"}
        assert {(r.arg("q"), r.arg("lang")) for r in searches} >= {("enchente", "pt"), ("#RSFloods", None)}

    def test_an_expired_token_is_refreshed_and_the_request_repeated(self, bluesky_on, crisis):
        server = bluesky_on

        def search(request):
            if request.headers["authorization"] == "Bearer access-1":
                return Reply.json({"error": "ExpiredToken", "message": "Token has expired"}, 400)
            return Reply.json({"posts": [bluesky_post("a1", embed=bsky_images_view("a"))], "cursor": "c2"})

        server.route("/xrpc/app.bsky.feed.searchPosts", search)
        crawler = BlueskyCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert page.next_cursor == "c2"
        refresh = server.hits("/xrpc/com.atproto.server.refreshSession")
        assert [r.headers["authorization"] for r in refresh] == ["Bearer refresh-1"]
        assert len(server.hits("/xrpc/com.atproto.server.createSession")) == 1

    def test_the_window_and_cursor_go_into_the_search(self, bluesky_on, crisis):
        crisis.collection_starts_at = datetime(2024, 5, 1, tzinfo=UTC)
        crisis.collection_ends_at = datetime(2024, 6, 1, tzinfo=UTC)
        bluesky_on.route("/xrpc/app.bsky.feed.searchPosts", Reply.json({"posts": []}))
        crawler = BlueskyCrawler()
        crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor="25", since="2024-05-03T00:00:00Z", crisis=crisis)
        (search,) = bluesky_on.hits("/xrpc/app.bsky.feed.searchPosts")
        assert (search.arg("since"), search.arg("until"), search.arg("cursor"), search.arg("sort")) == (
            "2024-05-03T00:00:00Z",
            "2024-06-01T00:00:00Z",
            "25",
            "latest",
        )

    @pytest.mark.parametrize(
        ("embed", "urls"),
        [
            (bsky_images_view("a", "b"), ["https://cdn.example/full/a@jpeg", "https://cdn.example/full/b@jpeg"]),
            (bsky_gallery_view("g"), ["https://cdn.example/full/g@jpeg"]),
            (bsky_record_with_media_view(bsky_images_view("r")), ["https://cdn.example/full/r@jpeg"]),
            (bsky_record_with_media_view(bsky_gallery_view("rg")), ["https://cdn.example/full/rg@jpeg"]),
        ],
        ids=["images", "gallery", "recordWithMedia-images", "recordWithMedia-gallery"],
    )
    def test_every_image_embed_shape_gives_its_images(self, embed, urls):
        post = BlueskyCrawler().normalise(bluesky_post("p1", embed=embed))
        assert [m.remote_url for m in post.media] == urls
        assert post.media[0].alt_text.startswith("alt ")

    def test_a_post_without_a_view_falls_back_to_its_record_blobs(self):
        record_embed = {
            "$type": "app.bsky.embed.images",
            "images": [
                {"alt": "rua", "image": {"$type": "blob", "ref": {"$link": "bafkblob"}, "mimeType": "image/jpeg"}}
            ],
        }
        post = BlueskyCrawler().normalise(bluesky_post("p2", embed=None, record_embed=record_embed))
        assert post.media[0].remote_url == "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:abc123/bafkblob@jpeg"

    def test_a_post_is_normalised(self):
        post = BlueskyCrawler().normalise(bluesky_post("3kx", embed=bsky_images_view("a")))
        assert post.source_id == "at://did:plc:abc123/app.bsky.feed.post/3kx"
        assert post.url == "https://bsky.app/profile/ana.bsky.social/post/3kx"
        assert (post.language, post.hashtags) == ("pt", ["EnchenteRS"])
        assert (post.media[0].declared_width, post.media[0].declared_height) == (4032, 3024)

    def test_a_video_post_gives_nothing(self):
        video = {"$type": "app.bsky.embed.video#view", "playlist": "https://video.example/x.m3u8"}
        assert BlueskyCrawler().normalise(bluesky_post("v", embed=video)) is None

    def test_refused_credentials_raise_a_source_error(self, server, settings, crisis):
        settings.BLUESKY_SERVICE_URL = server.url("")
        settings.BLUESKY_IDENTIFIER, settings.BLUESKY_APP_PASSWORD = "me", "wrong"
        server.route(
            "/xrpc/com.atproto.server.createSession",
            Reply.json({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}, 401),
        )
        crawler = BlueskyCrawler()
        with pytest.raises(SourceError, match="401"):
            crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)


class TestX:
    @pytest.fixture
    def x_on(self, server, settings):
        settings.X_API_URL = server.url("")
        settings.X_BEARER_TOKEN = "bearer"
        settings.X_READ_BUDGET = 1000
        return server

    def test_the_query_ors_the_crisis_terms_with_images_only_and_no_retweets(self, crisis):
        (stream,) = XCrawler().streams(crisis)
        assert stream.params["query"] == "(flood OR enchente OR #RSFloods OR #EnchenteRS) has:images -is:retweet"

    def test_long_term_lists_are_split_into_queries_of_at_most_512_characters(self, crisis):
        crisis.keywords = {"en": [f"keyword{i:03d}" for i in range(80)]}
        streams = XCrawler().streams(crisis)
        assert len(streams) > 1
        assert all(len(s.params["query"]) <= 512 for s in streams)

    def test_a_page_joins_media_users_and_places_from_the_expansions(self, x_on, crisis):
        place = {
            "id": "p1",
            "full_name": "Porto Alegre, Brasil",
            "geo": {"type": "Feature", "bbox": [-51.3, -30.3, -51.0, -29.9]},
        }
        body = x_page(
            [x_tweet("200", ["3_1"], geo={"place_id": "p1"})], [x_photo("3_1")], next_token="n2", places=[place]
        )
        x_on.route("/2/tweets/search/recent", Reply.json(body))
        crawler = XCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        (request,) = x_on.requests
        assert request.headers["authorization"] == "Bearer bearer"
        assert "attachments.media_keys" in request.arg("expansions") and "geo.place_id" in request.arg("expansions")
        assert (page.next_cursor, page.newest_mark, page.reads) == ("n2", "200", 1)
        post = crawler.normalise(page.items[0])
        assert (post.author_handle, post.geo_place) == ("ana_rs", "Porto Alegre, Brasil")
        assert post.geo_lat == pytest.approx(-30.1) and post.geo_lon == pytest.approx(-51.15)
        assert post.geo_accuracy_m > 10_000  # a city box, not a point
        assert post.media[0].remote_url == "https://pbs.example/3_1.jpg"

    def test_an_exact_point_is_read_as_lon_lat(self):
        raw = {
            "tweet": x_tweet("1", ["k"], geo={"coordinates": {"type": "Point", "coordinates": [-51.2, -30.0]}}),
            "media": [x_photo("k")],
        }
        post = XCrawler().normalise(raw)
        assert (post.geo_lat, post.geo_lon) == (-30.0, -51.2)

    def test_a_tweet_whose_media_key_is_missing_from_the_includes_gives_nothing(self, x_on, crisis):
        body = x_page([x_tweet("201", ["3_missing"]), x_tweet("202", ["3_2"])], [x_photo("3_2")])
        x_on.route("/2/tweets/search/recent", Reply.json(body))
        crawler = XCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert [crawler.normalise(item) and crawler.normalise(item).source_id for item in page.items] == [None, "202"]

    def test_an_empty_last_page_ends_the_pass(self, x_on, crisis):
        x_on.route("/2/tweets/search/recent", Reply.json({"meta": {"result_count": 0}}))
        crawler = XCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor="n2", since=None, crisis=crisis)
        assert (page.items, page.next_cursor) == ([], None)

    def test_a_429_gives_the_reset_from_the_rate_headers(self, x_on, crisis):
        x_on.route(
            "/2/tweets/search/recent",
            Reply.json({"title": "Too Many Requests"}, 429, {"x-rate-limit-reset": "1893456000"}),
        )
        crawler = XCrawler()
        with pytest.raises(RateLimited) as limited:
            crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert limited.value.reset_at == datetime(2030, 1, 1, tzinfo=UTC)


class TestFlickr:
    @pytest.fixture
    def flickr_on(self, server, settings):
        settings.FLICKR_API_URL = server.url("/services/rest/")
        settings.FLICKR_API_KEY = "key"
        return server

    def test_the_search_uses_the_area_the_window_and_the_tags(self, flickr_on, crisis):
        crisis.collection_starts_at = datetime(2024, 5, 1, tzinfo=UTC)
        flickr_on.route("/services/rest/", Reply.json(flickr_page([])))
        crawler = FlickrCrawler()
        crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since="1715000000", crisis=crisis)
        (request,) = flickr_on.requests
        assert request.arg("bbox") == "-51.300000,-30.200000,-51.000000,-29.900000"
        assert request.arg("min_taken_date") == "1714521600"
        assert request.arg("min_upload_date") == "1715000000"
        assert request.arg("tags") == "flood,enchente,rsfloods,enchenters"
        assert "geo" in request.arg("extras") and request.arg("api_key") == "key"

    def test_pages_are_numbered_until_the_last(self, flickr_on, crisis):
        flickr_on.route("/services/rest/", Reply.json(flickr_page([flickr_photo("1")], page=1, pages=2)))
        crawler = FlickrCrawler()
        page = crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)
        assert (page.next_cursor, page.newest_mark) == ("2", "1715000000")

    def test_an_api_error_raises_a_source_error(self, flickr_on, crisis):
        flickr_on.route("/services/rest/", Reply.json({"stat": "fail", "code": 100, "message": "Invalid API Key"}))
        crawler = FlickrCrawler()
        with pytest.raises(SourceError, match="Invalid API Key"):
            crawler.page_fetch(stream=crawler.streams(crisis)[0], cursor=None, since=None, crisis=crisis)

    def test_a_geotagged_photo_keeps_its_position_and_accuracy(self):
        post = FlickrCrawler().normalise(flickr_photo("5"))
        assert (post.geo_lat, post.geo_lon) == (-30.03, -51.22)
        assert post.geo_accuracy_m == pytest.approx(611.5, rel=0.01)
        assert post.text == "Cheia 5\nDepois de três dias de chuva"
        assert (post.media[0].declared_width, post.media[0].declared_height) == (1024, 683)

    def test_zero_coordinates_mean_not_geotagged_and_a_missing_size_builds_the_url(self):
        post = FlickrCrawler().normalise(flickr_photo("6", lat=0, lon=0, accuracy=0, url_l=False))
        assert post.geo_lat is None
        assert post.media[0].remote_url == "https://live.staticflickr.com/4265/6_abc_b.jpg"


def test_html_to_text_keeps_paragraphs_and_decodes_entities():
    assert html_to_text("<p>a &amp; b<br>c</p><p>d</p>") == "a & b\nc\nd"
