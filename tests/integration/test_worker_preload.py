"""A ``cpu`` worker loads the gazetteer once, in its parent, before forking; its children geolocate with it."""

import pytest

from classification.models import Place, PostGeolocation
from classification.tasks import post_geolocate_text
from crawling.models import Post
from tests.conftest import make_crisis
from tests.integration.conftest import celery_process, process_stop, production_stack_required, wait_for, worker_ready

pytestmark = pytest.mark.worker

PRELOADED = "gazetteer loaded before forking"


def test_a_cpu_worker_loads_the_gazetteer_before_forking_and_its_children_use_it(transactional_db, settings, tmp_path):
    production_stack_required(settings)
    from geoloc_platform.celery import app

    app.control.purge()
    Place.objects.create(
        kind="city", name="Porto Alegre", country_code="BR", lat=-30.0331, lon=-51.23, population=1_400_000,
        radius_km=27.5,
    )  # fmt: skip
    crisis = make_crisis(slug="preload-floods")
    posts = [
        Post.objects.create(crisis=crisis, source=Post.Source.CSV, source_id=f"p{n}", text="Flooding in Porto Alegre")
        for n in range(4)
    ]
    log_path = tmp_path / "worker.log"
    env = {"GEOLOC_GAZETTEER_CACHE_DIR": str(tmp_path / "gazetteer")}
    worker = celery_process(settings, log_path, queues="cpu", concurrency=2, env=env)
    try:
        wait_for(lambda: worker_ready(log_path), timeout=120)
        log = log_path.read_text()
        assert log.count(PRELOADED) == 1, log[-3000:]
        assert log.index(PRELOADED) < log.index("ready."), "loaded after the pool had forked"
        for post in posts:
            post_geolocate_text.delay(post.pk)
        wait_for(lambda: PostGeolocation.objects.filter(post__in=posts).count() == len(posts), timeout=120)
    finally:
        process_stop(worker)
    for location in PostGeolocation.objects.filter(post__in=posts):
        assert (round(location.lat, 2), round(location.lon, 2)) == (-30.03, -51.23)


def test_a_worker_on_the_gpu_queue_alone_does_not_load_the_gazetteer(transactional_db, settings, tmp_path):
    production_stack_required(settings)
    log_path = tmp_path / "worker.log"
    worker = celery_process(settings, log_path, queues="gpu", concurrency=1)
    try:
        wait_for(lambda: worker_ready(log_path), timeout=120)
    finally:
        process_stop(worker)
    assert PRELOADED not in log_path.read_text()
