"""The crisis replay (tasks_app/replay.py): deterministic, fair to the policies, within redundancy, and clean.

Transactional: every simulated answer reaches consensus through the on-commit signal, as in production.
"""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count
from django.forms.models import model_to_dict

from crawling.models import Media
from geoloc_platform.crises.models import Crisis
from geoloc_platform.crises.services import crisis_transition
from tasks_app import replay, services
from tasks_app.models import Assignment, CrowdTask
from tests.conftest import make_crisis, make_user
from tests.tasks_app.conftest import queue

pytestmark = pytest.mark.django_db(transaction=True)

# Skill routing sends volunteers whose skill reached CROWD_EXPERT_SKILL to difficult images first. The policy
# comparisons below isolate the scheduling order itself, so they turn that routing off.
NO_EXPERT_ROUTING = {"CROWD_EXPERT_SKILL": 1.01}
PERFECT = {c: [1.0 if c == p else 0.0 for p in replay.CLASSES] for c in replay.CLASSES}
# Always wrong, and never "impossible" (which would withhold the image under every policy alike): the easy and
# medium images look difficult, the difficult and impossible ones look easy.
ALWAYS_WRONG = {
    "easy": [0, 0, 1, 0],
    "medium": [0, 0, 1, 0],
    "difficult": [1, 0, 0, 0],
    "impossible": [1, 0, 0, 0],
}


def small_config(**overrides) -> dict:
    return replay.config_load(**{"images": 60, "volunteers": 4, "duration_hours": 1.0, **overrides})


def compare(confusion: dict) -> dict[str, replay.RunResult]:
    config = small_config(
        images=150,
        volunteers=8,
        classifier={"confusion": confusion},
        platform_settings=NO_EXPERT_ROUTING,
        crowd={"rating_share": 0.0, "abandon_rate": 0.0},
    )
    results = replay.replay_run(config=config, seed=3, policies=("difficulty_priority", "random"))
    return {r.policy: r for r in results}


def test_a_seeded_replay_gives_the_same_figures_twice():
    config = small_config()
    first = replay.replay_run(config=config, seed=7, policies=("difficulty_priority",))
    second = replay.replay_run(config=config, seed=7, policies=("difficulty_priority",))
    assert first[0].geolocation_answers > 20  # it did work
    assert first[0].figures() == second[0].figures()
    assert first[0].timeline == second[0].timeline
    assert first[0].breakdown == second[0].breakdown


def test_with_a_perfect_classifier_difficulty_priority_publishes_at_least_as_many_high_points_as_random():
    results = compare(PERFECT)
    priority, random_order = results["difficulty_priority"], results["random"]
    assert priority.high_in_first_hour >= random_order.high_in_first_hour
    assert priority.high_in_first_hour > 0
    for result in results.values():
        assert result.max_answers_over_redundancy <= 0


def test_with_an_always_wrong_classifier_the_advantage_disappears():
    results = compare(ALWAYS_WRONG)
    priority, random_order = results["difficulty_priority"], results["random"]
    assert priority.high_in_first_hour <= random_order.high_in_first_hour + 2
    for result in results.values():
        assert result.max_answers_over_redundancy <= 0


def test_the_replay_never_exceeds_redundancy_and_leaves_real_crises_untouched(tmp_path):
    coordinator = make_user("coord")
    real = crisis_transition(
        crisis=make_crisis(slug="real-floods", coordinator=coordinator), action="launch", user=None
    )
    queue(real, eases=(0.9, 0.2))
    volunteer = make_user("real-volunteer")
    lease = services.lease_grant(crisis=real, volunteer=volunteer, kind=CrowdTask.Kind.GEOLOCATION)

    def snapshot() -> dict:
        return {
            "crisis": model_to_dict(Crisis.objects.get(pk=real.pk)),
            "tasks": [model_to_dict(t) for t in CrowdTask.objects.filter(crisis=real).order_by("pk")],
            "media": [model_to_dict(m, exclude=["image", "original"]) for m in Media.objects.filter(crisis=real)],
            "assignments": [model_to_dict(a) for a in Assignment.objects.filter(task__crisis=real)],
            "users": sorted(User.objects.values_list("pk", "username")),
        }

    before = snapshot()
    call_command(
        "simulate_crisis",
        "--seed=2",
        "--images=40",
        "--volunteers=3",
        "--hours=0.75",
        "--policies=difficulty_priority,depth_first",
        "--consensus=today,adaptive",
        "--scenarios=honest",
        f"--out={tmp_path}",
        "--no-progress",
    )
    assert snapshot() == before
    assert Assignment.objects.get(pk=lease.pk).state == Assignment.State.LEASED
    assert not Crisis.objects.filter(slug__startswith=replay.SLUG_PREFIX).exists()
    assert not User.objects.filter(username__startswith=replay.USER_PREFIX).exists()
    assert Crisis.objects.count() == 1
    assert (tmp_path / "published.png").stat().st_size > 0
    assert (tmp_path / "precision_by_difficulty.png").stat().st_size > 0
    text = (tmp_path / "replay.md").read_text()
    assert "difficulty_priority, today" in text and "depth_first, adaptive" in text


def test_answers_stay_within_each_tasks_redundancy_during_a_run(monkeypatch):
    """Checked inside the run, before the throwaway crisis is deleted: counted answers per task vs redundancy."""
    seen = []
    measure = replay.Replay.measure

    def measure_and_check(self):
        rows = CrowdTask.objects.filter(crisis_id=self.crisis.pk).annotate(n=Count("answers"))
        seen.extend((task.n, task.redundancy, task.answers_count) for task in rows)
        return measure(self)

    monkeypatch.setattr(replay.Replay, "measure", measure_and_check)
    replay.replay_run(
        config=small_config(redundancy={"geolocation": 2, "rating": 3}), seed=5, policies=("depth_first",)
    )
    assert seen and sum(n for n, _, _ in seen) > 20
    assert all(n <= redundancy and n == counted for n, redundancy, counted in seen)


def test_a_real_crisis_is_replayed_from_its_predictions_and_crowd_results_and_left_untouched():
    from classification.models import DifficultyPrediction
    from consensus.models import LocationConsensus, RatingConsensus

    source = make_crisis(slug="real-crisis")
    images = queue(source, eases=(0.9, 0.2, 0.5))
    DifficultyPrediction.objects.create(media=images[0], predicted_label="easy", ease=0.9)
    DifficultyPrediction.objects.create(media=images[1], predicted_label="difficult", ease=0.2)
    RatingConsensus.objects.create(
        media=images[1], crisis=source, label="impossible", posterior=0.8, probabilities={}, n_ratings=5
    )
    LocationConsensus.objects.create(
        media=images[0], crisis=source, status="done", reason="", lat=-29.95, lon=-51.1, n_answers=3
    )
    before = {m.pk: model_to_dict(m) for m in Media.objects.filter(crisis=source)}
    tasks_before = CrowdTask.objects.filter(crisis=source).count()

    config = small_config(volunteers=2)
    config["area"] = replay.area_of(source)
    simulated = replay.images_from_crisis(crisis=source, config=config, seed=1)
    assert [(i.predicted_class, round(i.predicted_ease, 1)) for i in simulated] == [
        (0, 0.9),
        (2, 0.2),
        (1, 0.7),
    ]  # unpredicted: medium
    assert (simulated[0].lat, simulated[0].lon) == (-29.95, -51.1)  # the crowd's location is the truth
    assert replay.CLASSES[simulated[1].true_class] == "impossible"  # and so is the crowd's rating
    assert config["area"]["south"] <= simulated[2].lat <= config["area"]["north"]

    replay.replay_run(config=config, seed=1, policies=("difficulty_priority",), images=simulated)
    assert {m.pk: model_to_dict(m) for m in Media.objects.filter(crisis=source)} == before
    assert CrowdTask.objects.filter(crisis=source).count() == tasks_before
    assert not Crisis.objects.filter(slug__startswith=replay.SLUG_PREFIX).exists()


def test_images_held_back_by_the_relevance_filter_are_not_replayed():
    source = make_crisis(slug="real-crisis")
    images = queue(source, eases=(0.9, 0.2, 0.5))
    Media.objects.filter(pk=images[1].pk).update(stage=Media.Stage.PROBABLY_IRRELEVANT)
    Media.objects.filter(pk=images[2].pk).update(stage=Media.Stage.IRRELEVANT)
    config = small_config(volunteers=2)
    config["area"] = replay.area_of(source)
    assert len(replay.images_from_crisis(crisis=source, config=config, seed=1)) == 1


def test_adaptive_verification_publishes_with_fewer_answers_and_checks_by_volunteers_with_a_record():
    config = small_config(images=120, volunteers=6, duration_hours=1.5)
    today, adaptive = replay.replay_run(
        config=config, seed=4, policies=("difficulty_priority",), consensus=("today", "adaptive")
    )
    assert adaptive.verification_answers > 0 and today.verification_answers == 0
    assert adaptive.published > 0
    assert adaptive.work_per_published < today.work_per_published


@pytest.mark.parametrize("scenario", ["coordinated", "prior_clickers"])
def test_hostile_volunteers_publish_nothing_far_off_under_the_record_rule(scenario):
    config = small_config(images=80, volunteers=5, duration_hours=1.0)
    (result,) = replay.replay_run(
        config=config, seed=2, policies=("difficulty_priority",), consensus=("adaptive",), scenarios=(scenario,)
    )
    assert result.scenario == scenario and result.geolocation_answers > 10
    assert result.false_far == 0


def test_a_slow_volunteers_open_page_keeps_the_lease_alive_and_the_answer_counts():
    """The page's heartbeat extends a lease while the volunteer works; only a closed page lets it expire."""
    config = small_config(
        images=40,
        volunteers=3,
        duration_hours=2.5,
        crowd={"abandon_rate": 0.0, "rating_share": 0.0},
        time_on_task={"easy": {"median": 800}},
    )
    (result,) = replay.replay_run(config=config, seed=6, policies=("difficulty_priority",), consensus=("adaptive",))
    assert result.geolocation_answers >= 5  # most of them longer than a lease (600 s)
    assert (result.refused_answers, result.late_answers, result.leases_expired) == (0, 0, 0)


def test_the_time_budget_accounts_for_every_volunteer_hour():
    config = small_config(images=80, volunteers=4)
    (result,) = replay.replay_run(config=config, seed=8, policies=("difficulty_priority",), consensus=("adaptive",))
    assert set(result.budget) == set(replay.BUDGET_ROWS)
    assert sum(result.budget.values()) == pytest.approx(result.volunteer_hours, abs=0.01)
    assert result.budget["check: yes, point published"] > 0
    images, geolocations, _, _ = (sum(column) for column in zip(*result.first_pins.values(), strict=True))
    assert 0 < images <= geolocations <= result.geolocation_answers


@pytest.mark.django_db
def test_on_a_database_without_tables_the_command_says_to_migrate(monkeypatch):
    from django.core.management.base import CommandError
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda *args, **kwargs: [])
    with pytest.raises(CommandError, match="migrate"):
        call_command("simulate_crisis", "--seed", "1")
