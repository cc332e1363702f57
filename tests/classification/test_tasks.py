"""The registered pipeline steps run end to end in-process: UNIQUE -> RELEVANT -> TEXT_GEOLOCATED."""

import pytest

from classification.models import PostGeolocation
from crawling import pipeline
from crawling.models import Media, Post
from tests.classification.geo_fixtures import gazetteer  # noqa: F401
from tests.classification.test_services import make_media
from tests.conftest import make_crisis

pytestmark = pytest.mark.django_db(transaction=True)


def test_steps_are_registered():
    assert pipeline.step_task_name(Media.Stage.UNIQUE) == "classification.tasks.media_filter_relevance"
    assert pipeline.step_task_name(Media.Stage.RELEVANT) == "classification.tasks.media_geolocate_text"


@pytest.mark.usefixtures("gazetteer")
def test_unique_images_flow_to_text_geolocated_with_one_location_per_post(monkeypatch):
    # Stop at TEXT_GEOLOCATED: the difficulty step is another app's.
    monkeypatch.delitem(pipeline._STEP_TASKS, str(Media.Stage.TEXT_GEOLOCATED), raising=False)
    post = Post.objects.create(crisis=make_crisis(), source=Post.Source.CSV, source_id="1", text="Canoas alagada")
    images = [make_media(post, position=n) for n in range(2)]
    for media in images:
        pipeline.send_step(stage=Media.Stage.UNIQUE, media_id=media.pk)
    assert set(Media.objects.values_list("stage", flat=True)) == {Media.Stage.TEXT_GEOLOCATED}
    assert PostGeolocation.objects.get().candidates[0]["name"] == "Canoas"
