"""manage.py crawl <crisis> --once: one crawl of each enabled source, with a progress bar."""

import pytest
from django.core.management import CommandError, call_command

from crawling.models import Post
from tests.crawling.fakes import Reply
from tests.crawling.payloads import mastodon_status

pytestmark = pytest.mark.django_db


def test_crawl_once_shows_progress_and_a_summary(server, settings, crisis, capsys):
    settings.MASTODON_INSTANCES = [server.url("")]
    server.route(
        "/api/v1/timelines/tag/RSFloods", [Reply.json([mastodon_status(2), mastodon_status(1)]), Reply.json([])]
    )
    call_command("crawl", crisis.slug, "--once")
    out = capsys.readouterr().out
    assert "mastodon" in out and "page" in out  # the tqdm bar
    assert "mastodon: pages 1, posts read 2, new posts 2, new images 2" in out
    assert Post.objects.count() == 2


def test_a_crisis_that_is_not_active_is_not_crawled(people, settings):
    settings.MASTODON_INSTANCES = ["https://social.example"]
    with pytest.raises(CommandError, match="only active crises"):
        call_command("crawl", people["crisis"].slug, "--once")


def test_without_an_enabled_source_the_command_says_so(crisis):
    with pytest.raises(CommandError, match="No source is enabled"):
        call_command("crawl", crisis.slug, "--once")
