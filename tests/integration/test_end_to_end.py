"""End to end: a coordinator launches a crisis; posts from a fake Mastodon and a fake Bluesky flow through fetch,
dedup, relevance, text geolocation, difficulty scoring and scheduling; scripted volunteers rate and pin through the
API; consensus forms; the points reach the map and every export, and every image ends in an explained final state.

The scenario (tests/integration/e2e_scenario.py) runs twice: on the production stack (PostgreSQL, Redis, a worker
for each queue and beat, which must start the crawl by itself) and on the embedded default (tasks in-process; the
periodic entry point of ``make run``, ``run_periodic``, stands in for beat).
"""

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from classification import services as classification_services
from classification.geolocation.loader import geolocator_reset
from crawling.sources import bluesky as bluesky_source
from tests.integration import e2e_scenario as scenario
from tests.integration.conftest import celery_process, process_stop, production_stack_required, worker_ready


@pytest.fixture
def sources():
    mastodon, bluesky = scenario.FakeMastodon().start(), scenario.FakeBluesky().start()
    bluesky_source._SESSIONS.clear()
    yield mastodon, bluesky
    bluesky_source._SESSIONS.clear()
    mastodon.stop()
    bluesky.stop()


@pytest.fixture
def platform_settings(settings, tmp_path) -> dict:
    """Settings of this run, for the test process and (as environment variables) for the worker processes."""
    values = {
        "GEOLOC_GAZETTEER_CACHE_DIR": tmp_path / "gazetteer",
        "DIFFICULTY_MODEL_DIR": tmp_path / "models",
        "DIFFICULTY_DEVICE": "cpu",
        "CROWD_GOLD_RATE": 0,  # no practice images: every answer goes to the crisis's own images
    }
    for name, value in values.items():
        setattr(settings, name, value)
    return values


@pytest.fixture
def world(transactional_db, platform_settings, tmp_path):
    """The gazetteer, the people, an active difficulty model and a draft crisis."""
    scenario.gazetteer_store()
    geolocator_reset()
    classification_services._classifiers.clear()
    people = scenario.people_create()
    version = scenario.difficulty_model_register(Path(platform_settings["DIFFICULTY_MODEL_DIR"]))
    crisis = scenario.crisis_draft(people.coordinator)
    cache.clear()  # rate-limit counters of an earlier run (exports are limited per hour)
    yield {"people": people, "version": version, "crisis": crisis}
    geolocator_reset()
    classification_services._classifiers.clear()


def crowd_to_map(world, sources, tmp_path, *, timeout: float) -> None:
    """From a triaged queue: the crowd's work, then every assertion on the outcome."""
    crisis, people = world["crisis"], world["people"]
    volunteers = [scenario.ScriptedVolunteer(user, i, crisis) for i, user in enumerate(people.volunteers)]
    scenario.crowd_work(crisis, volunteers, timeout=timeout)
    scenario.assert_sources_were_paged(*sources)
    scenario.assert_no_duplicate_posts(crisis)
    scenario.assert_text_geolocation(crisis)
    media_by_key = scenario.assert_final_states(crisis, world["version"])
    scenario.assert_leases_showed_the_text_guess(volunteers, media_by_key)
    scenario.assert_map_and_exports(crisis, people.coordinator, tmp_path)


@pytest.fixture
def production_stack(settings):
    production_stack_required(settings)


@pytest.mark.worker
def test_a_launched_crisis_reaches_the_map_on_the_production_stack(
    production_stack, world, sources, platform_settings, settings, tmp_path
):
    from geoloc_platform.celery import app

    app.control.purge()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("gpu")  # purge() knows only the default queue
    environment = scenario.as_environment(
        {
            **platform_settings,
            **scenario.source_settings(*sources),
            "CRAWL_INTERVAL_SECONDS": 2,
            "DIFFICULTY_BATCH_MAX_WAIT_SECONDS": 1,
        }
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("cpu", "gpu", "beat")}
    processes = [
        celery_process(settings, logs["cpu"], queues="cpu", name="e2e-cpu", concurrency=2, env=environment),
        celery_process(settings, logs["gpu"], queues="gpu", name="e2e-gpu", env=environment),
        celery_process(settings, logs["beat"], beat=True, env=environment),
    ]
    try:
        with scenario.timed("workers ready"):
            scenario.poll(lambda: worker_ready(logs["cpu"]) and worker_ready(logs["gpu"]), timeout=120, what="workers")
        with scenario.timed("launch to queue (beat, crawl, fetch, dedup, relevance, text, difficulty)"):
            scenario.admin_launch(world["people"].coordinator, world["crisis"])
            scenario.poll(lambda: scenario.triage_done(world["crisis"]), timeout=300, what="crawl and triage")
        with scenario.timed("crowd to map"):
            crowd_to_map(world, sources, tmp_path, timeout=300)
    finally:
        for process in reversed(processes):
            process_stop(process)
        for name, path in logs.items():
            print(f"--- {name} log (tail) ---\n{path.read_text()[-3000:]}")
    assert "Sending due task crawl-active-crises" in logs["beat"].read_text()  # beat started the crawl
    scored = "classification.tasks.media_score_difficulty_gpu["  # a task line, not the start-up banner's list
    assert scored in logs["gpu"].read_text()  # inference ran on the gpu worker ...
    assert scored not in logs["cpu"].read_text()  # ... and only there


@pytest.mark.django_db(transaction=True)  # answers reach consensus on commit
def test_the_same_run_works_on_the_embedded_default(world, sources, settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # no broker: every task runs in this process, as under `make run`
    for name, value in scenario.source_settings(*sources).items():
        setattr(settings, name, value)
    with scenario.timed("launch to queue"):
        scenario.admin_launch(world["people"].coordinator, world["crisis"])
        for _tick in range(2):  # `make run` keeps run_periodic going instead of beat: a second crawl finds nothing new
            call_command("run_periodic", "--once")
        scenario.poll(lambda: scenario.triage_done(world["crisis"]), timeout=5, what="crawl and triage")
    with scenario.timed("crowd to map"):
        crowd_to_map(world, sources, tmp_path, timeout=120)
