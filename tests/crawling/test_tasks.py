"""The Celery tasks are thin: they take ids, call one service, and are safe to run twice."""

import pytest

from crawling import pipeline, tasks
from crawling.models import Media, Post
from tests.crawling.fakes import Reply, encode, picture

pytestmark = pytest.mark.django_db


def test_the_fetched_stage_is_followed_by_the_duplicate_check():
    assert pipeline.step_task_name(Media.Stage.NEW) == "crawling.tasks.media_fetch"
    assert pipeline.step_task_name(Media.Stage.FETCHED) == "crawling.tasks.media_dedup"


def test_the_beat_schedule_crawls_active_crises(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["crawl-active-crises"]
    assert entry["task"] == "crawling.tasks.crawl_active_crises"
    assert entry["schedule"] == settings.CRAWL_INTERVAL


def test_media_fetch_runs_the_service_once(server, loopback, crisis):
    server.route("/a.png", Reply.image(encode(picture(), "PNG"), "image/png"))
    post = Post.objects.create(crisis=crisis, source=Post.Source.MASTODON, source_id="1")
    media = Media.objects.create(crisis=crisis, post=post, remote_url=server.url("/a.png"))
    assert tasks.media_fetch.delay(media.pk).get() is True
    assert tasks.media_fetch.delay(media.pk).get() is False
    assert Media.objects.get(pk=media.pk).stage == Media.Stage.FETCHED


def test_crawl_source_returns_the_report(server, settings, crisis):
    settings.MASTODON_INSTANCES = [server.url("")]
    server.route("/api/v1/timelines/tag/RSFloods", Reply.json([]))
    report = tasks.crawl_source.delay(crisis.pk, "mastodon").get()
    assert (report["source"], report["pages"], report["stopped"]) == ("mastodon", 1, "")


def test_a_source_that_is_not_crawled_is_ignored(crisis):
    assert tasks.crawl_source.delay(crisis.pk, "csv").get()["stopped"] == "not_a_crawled_source"


def test_crawl_crisis_sends_nothing_for_a_draft_crisis(settings, people):
    settings.MASTODON_INSTANCES = ["https://social.example"]
    assert tasks.crawl_crisis.delay(people["crisis"].pk).get() == []
