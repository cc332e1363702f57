"""The soak bench's own parts that can be wrong quietly: the fake timeline's paging and the error count."""

from bench.bench_soak import FakeTimeline, errors_of, percentiles


def timeline(backlog: int = 95) -> FakeTimeline:
    return FakeTimeline(backlog=backlog, posts_per_s=0.0, base_url="http://127.0.0.1:9")


def test_a_pass_pages_from_the_newest_post_down_to_the_previous_pass_mark():
    pages, max_id = [], None
    while True:
        statuses, max_id = timeline().page(limit=40, max_id=max_id, since_id="10")
        pages.append([int(status["id"]) for status in statuses])
        if max_id is None:
            break
    assert [len(page) for page in pages] == [40, 40, 5]
    assert [status_id for page in pages for status_id in page] == list(range(95, 10, -1))


def test_statuses_carry_images_on_the_fake_server_and_the_crisis_hashtag():
    status = timeline().status(20)
    assert len(status["media_attachments"]) == 2  # every tenth post has two images
    assert status["media_attachments"][0]["url"] == "http://127.0.0.1:9/media?id=20&n=0"
    assert "#SoakFloods" in status["content"]


def test_unexpected_statuses_and_connection_errors_count_as_errors_and_a_204_does_not():
    rows = [(0.0, "next", 5.0, "204"), (0.0, "answer", 5.0, "201"), (0.0, "answer", 5.0, "409")]
    rows += [(0.0, "heartbeat", 5.0, "error:TimeoutError")]
    assert errors_of(rows) == {"answer 409": 1, "heartbeat error:TimeoutError": 1}


def test_percentiles_of_nothing_say_so():
    assert percentiles([]) == {"n": 0}
    assert percentiles([float(v) for v in range(1, 101)])["p95_ms"] == 96.0
