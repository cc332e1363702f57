"""The pipeline through a real Celery worker process, on PostgreSQL + Redis."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crawling.models import Media, Post
from crawling.tasks import media_fetch, pipeline_sweep
from tests.conftest import jpeg_bytes, make_crisis
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.worker


def _new_media(tmp_path, source_id: str) -> Media:
    crisis = make_crisis(slug=f"crisis-{source_id}")
    post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id=source_id, text="Flood in Canoas")
    image_file = tmp_path / f"{source_id}.jpg"
    image_file.write_bytes(jpeg_bytes())
    return Media.objects.create(crisis=crisis, post=post, source_path=str(image_file))


def _stage(media_id: int) -> str:
    return Media.objects.get(pk=media_id).stage


def test_worker_fetches_an_image_sent_through_the_broker(celery_worker_process, tmp_path):
    media = _new_media(tmp_path, "1")
    media_fetch.delay(media.pk)
    wait_for(lambda: _stage(media.pk) != Media.Stage.NEW)
    media.refresh_from_db()
    assert media.width == 64 and media.content_type == "image/jpeg"


def test_sweeper_on_the_worker_redoes_work_whose_message_was_lost(celery_worker_process, tmp_path):
    media = _new_media(tmp_path, "2")  # created, but its fetch message never sent: a lost nudge
    Media.objects.filter(pk=media.pk).update(stage_changed_at=timezone.now() - timedelta(hours=1))
    pipeline_sweep.delay()
    wait_for(lambda: _stage(media.pk) != Media.Stage.NEW)
    assert Media.objects.get(pk=media.pk).stage_attempts == 0  # the move out of NEW resets the attempts
