"""The pipeline's stage moves, nudges and sweeper (foundation; the crawlers have their own tests)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crawling import pipeline, services
from crawling.models import Media, Post
from tests.conftest import jpeg_bytes, make_crisis

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def media(tmp_path):
    crisis = make_crisis()
    post = Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id="1", text="Flood in Canoas")
    image_file = tmp_path / "flood.jpg"
    image_file.write_bytes(jpeg_bytes())
    return Media.objects.create(crisis=crisis, post=post, source_path=str(image_file))


@pytest.fixture
def recorded_steps(monkeypatch):
    """Replace sending a step with a record of it, to see what the pipeline would run next."""
    sent = []
    monkeypatch.setattr(pipeline, "send_step", lambda *, stage, media_id: sent.append((stage, media_id)) or True)
    monkeypatch.setitem(pipeline._STEP_TASKS, Media.Stage.NEW, "crawling.tasks.media_fetch")
    return sent


class TestMediaAdvance:
    def test_moves_from_the_stored_stage_and_sends_the_next_step(self, media, recorded_steps):
        assert services.media_advance(media_id=media.pk, from_stage=Media.Stage.NEW, to_stage=Media.Stage.FETCHED)
        media.refresh_from_db()
        assert media.stage == Media.Stage.FETCHED
        assert recorded_steps == [(Media.Stage.FETCHED, media.pk)]

    def test_second_delivery_changes_nothing(self, media, recorded_steps):
        services.media_advance(media_id=media.pk, from_stage=Media.Stage.NEW, to_stage=Media.Stage.FETCHED)
        changed_at = Media.objects.get(pk=media.pk).stage_changed_at
        assert not services.media_advance(media_id=media.pk, from_stage=Media.Stage.NEW, to_stage=Media.Stage.REJECTED)
        media.refresh_from_db()
        assert (media.stage, media.stage_changed_at) == (Media.Stage.FETCHED, changed_at)
        assert len(recorded_steps) == 1


class TestMediaFetch:
    def test_imported_file_is_stored_without_exif_and_fetched(self, media, recorded_steps):
        assert services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.FETCHED
        assert recorded_steps == [(Media.Stage.FETCHED, media.pk)]  # the duplicate check comes next
        assert (media.width, media.height, media.content_type) == (64, 48, "image/jpeg")
        assert len(media.sha256) == 64
        assert media.image.name.startswith("media/") and media.original.name.startswith("originals/")

    def test_running_twice_stores_once(self, media):
        services.media_fetch(media_id=media.pk)
        first = Media.objects.get(pk=media.pk).image.name
        assert not services.media_fetch(media_id=media.pk)
        assert Media.objects.get(pk=media.pk).image.name == first

    @pytest.mark.parametrize(
        ("content", "reason"),
        [(b"<html><body>not an image</body></html>", "not_an_image"), (jpeg_bytes()[:200], "undecodable")],
    )
    def test_bad_files_are_rejected_with_a_reason(self, media, content, reason):
        with open(media.source_path, "wb") as handle:
            handle.write(content)
        services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert media.stage == Media.Stage.REJECTED
        assert media.reject_reason.startswith(reason)

    def test_missing_file_is_rejected_with_a_reason(self, media):
        Media.objects.filter(pk=media.pk).update(source_path="/nonexistent/flood.jpg")
        services.media_fetch(media_id=media.pk)
        media.refresh_from_db()
        assert (media.stage, media.reject_reason) == (Media.Stage.REJECTED, "unreadable: No such file or directory")


class TestPipelineSweep:
    def _age(self, media, minutes):
        Media.objects.filter(pk=media.pk).update(stage_changed_at=timezone.now() - timedelta(minutes=minutes))

    def test_stuck_image_is_sent_again(self, media, recorded_steps):
        self._age(media, 30)
        assert services.pipeline_sweep(stuck_after=timedelta(minutes=10)) == {"renudged": 1, "gave_up": 0}
        assert recorded_steps == [(Media.Stage.NEW, media.pk)]
        media.refresh_from_db()
        assert media.stage_attempts == 1

    def test_recent_images_and_stages_without_a_step_are_left_alone(self, media, recorded_steps):
        self._age(media, 1)
        other = Media.objects.create(crisis=media.crisis, post=media.post, position=1, stage=Media.Stage.PUBLISHED)
        self._age(other, 60)
        assert services.pipeline_sweep(stuck_after=timedelta(minutes=10)) == {"renudged": 0, "gave_up": 0}
        assert recorded_steps == []

    def test_gives_up_after_max_attempts_with_an_explained_rejection(self, media, recorded_steps):
        Media.objects.filter(pk=media.pk).update(stage_attempts=3)
        self._age(media, 30)
        assert services.pipeline_sweep(stuck_after=timedelta(minutes=10), max_attempts=3)["gave_up"] == 1
        media.refresh_from_db()
        assert media.stage == Media.Stage.REJECTED
        assert "no progress from stage 'new'" in media.reject_reason

    def test_sweep_runs_the_real_step_end_to_end(self, media):
        self._age(media, 30)
        services.pipeline_sweep(stuck_after=timedelta(minutes=10))
        media.refresh_from_db()
        assert media.stage != Media.Stage.NEW
