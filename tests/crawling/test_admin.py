"""Coordinators see, per crisis and source, posts, images fetched, rejections by reason and duplicates."""

import pytest
from django.urls import reverse

from crawling import selectors
from crawling.models import CrawlState, Media, Post

pytestmark = pytest.mark.django_db


@pytest.fixture
def crawled(people):
    crisis = people["crisis"]
    post = Post.objects.create(crisis=crisis, source=Post.Source.MASTODON, source_id="1")
    stages = [
        (Media.Stage.UNIQUE, ""),
        (Media.Stage.DUPLICATE, ""),
        (Media.Stage.REJECTED, "too_large: over 20 bytes"),
        (Media.Stage.REJECTED, "too_large: declares 99 bytes"),
        (Media.Stage.REJECTED, "blocked_address: x resolves to 10.0.0.1"),
        (Media.Stage.NEW, ""),
    ]
    for position, (stage, reason) in enumerate(stages):
        Media.objects.create(crisis=crisis, post=post, position=position, stage=stage, reject_reason=reason)
    return CrawlState.objects.create(crisis=crisis, source="mastodon", last_error="mastodon: HTTP 503")


def test_crawl_stats_count_by_fate_and_reason(crawled):
    stats = selectors.crawl_stats(crisis_id=crawled.crisis_id, source="mastodon")
    assert stats == {
        "posts": 1,
        "images": 6,
        "fetched": 2,
        "rejected": 3,
        "duplicates": 1,
        "waiting": 1,
        "rejected_by_reason": {"too_large": 2, "blocked_address": 1},
    }


def test_the_coordinator_sees_the_crawl_of_their_crisis(client, people, crawled):
    client.force_login(people["coordinator"])
    page = client.get(reverse("admin:crawling_crawlstate_changelist")).content.decode()
    assert "too_large: 2, blocked_address: 1" in page
    assert "mastodon: HTTP 503" in page


def test_another_coordinator_does_not_see_it(client, people, crawled):
    client.force_login(people["other_coordinator"])
    page = client.get(reverse("admin:crawling_crawlstate_changelist")).content.decode()
    assert "mastodon: HTTP 503" not in page


def test_the_crawl_state_page_opens(client, people, crawled):
    client.force_login(people["superuser"])
    response = client.get(reverse("admin:crawling_crawlstate_change", args=[crawled.pk]))
    assert response.status_code == 200
