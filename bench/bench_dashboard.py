"""What a live coordinator dashboard and leaderboard cost: python bench/bench_dashboard.py [--images 50000] [--runs 5].

Fills a crisis with N images (default 50,000) in a realistic mix of pipeline stages, their crowd tasks, about 2
geolocation and 1.5 rating answers per image from 400 volunteers over the last 48 hours, and a consensus location
for 40% of them. Then times, median of R runs:

- the dashboard's statistics, computed afresh (``mapping.selectors.dashboard_statistics``): what one refresh of
  the live dashboard costs, against the snapshot read that serves every request in between;
- the leaderboard, computed afresh (``tasks_app.services.leaderboard_refresh``), against reading the stored one;
- from those, the share of one core a coordinator watching the dashboard costs at the refresh period
  (``MAP_DASHBOARD_MAX_AGE_SECONDS``), beside the 5-minute snapshot it replaces (the ratio of the two periods).

Database: ``BENCH_DATABASE_URL`` (default: SQLite file ``var/bench_dashboard.sqlite3``, kept for reruns).
Compare ratios, not bare times (2 shared cores here).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SLUG = "bench-dashboard"
VOLUNTEERS = 400
SNAPSHOT_PERIOD_S = 300  # the periodic snapshot this replaces
GEOLOCATION_ANSWER = {"lat": -30.0, "lon": -51.2, "precision": "high"}
RATING_ANSWER = {"difficulty": "easy"}


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def fill(n: int):
    """The crisis, filled once per size (kept for reruns)."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from consensus.models import LocationConsensus
    from crawling.models import Media, Post
    from geoloc_platform.crises.models import Crisis
    from tasks_app.models import Answer, Assignment, CrowdTask

    crisis, _ = Crisis.objects.get_or_create(
        slug=SLUG, defaults={"name": "Bench dashboard", "hazard": Crisis.Hazard.FLOOD, "status": Crisis.Status.ACTIVE}
    )
    if Media.objects.filter(crisis=crisis).count() == n:
        return crisis
    print(f"filling {n} images, their tasks and answers (once)...", flush=True)
    Post.objects.filter(crisis=crisis).delete()
    rng = random.Random(42)
    now = timezone.now()
    volunteers = [
        User.objects.get_or_create(username=f"bench-dash-{i}")[0] for i in range(VOLUNTEERS)
    ]  # fmt: skip
    stages = [Media.Stage.PUBLISHED] * 40 + [Media.Stage.IN_CROWD_WORK] * 25 + [Media.Stage.QUEUED] * 20 + [
        Media.Stage.DUPLICATE, Media.Stage.IRRELEVANT, Media.Stage.REJECTED, Media.Stage.NEW, Media.Stage.UNIQUE,
    ] * 3  # fmt: skip
    labels = ["easy", "medium", "difficult", ""]
    with transaction.atomic():
        posts = Post.objects.bulk_create(
            [Post(crisis=crisis, source="mastodon", source_id=str(i), text="Rua alagada", posted_at=now)
             for i in range(n)], batch_size=5000,
        )  # fmt: skip
        media = Media.objects.bulk_create(
            [Media(crisis=crisis, post=post, stage=rng.choice(stages)) for post in posts], batch_size=5000
        )
        crowd = [m for m in media if m.stage in (Media.Stage.PUBLISHED, Media.Stage.IN_CROWD_WORK, Media.Stage.QUEUED)]
        tasks, answers_wanted = [], []
        for m in crowd:
            done = m.stage == Media.Stage.PUBLISHED
            taken = 3 if done else (rng.randint(0, 2) if m.stage == Media.Stage.IN_CROWD_WORK else 0)
            label = rng.choice(labels)
            for kind, redundancy in (("geolocation", 3), ("rating", 5)):
                answered = taken if kind == "geolocation" else min(5, taken + rng.randint(0, 1))
                status = "done" if answered >= redundancy else "open"
                tasks.append(
                    CrowdTask(crisis=crisis, media=m, kind=kind, status=status, redundancy=redundancy,
                              slots_taken=answered, answers_count=answered, predicted_label=label,
                              priority=rng.random(), random_key=rng.random())
                )  # fmt: skip
                answers_wanted.append(answered)
        tasks = CrowdTask.objects.bulk_create(tasks, batch_size=5000)
        leases, answers = [], []
        for task, wanted in zip(tasks, answers_wanted, strict=True):
            for volunteer in rng.sample(volunteers, wanted):
                at = now - timedelta(seconds=rng.uniform(0, 48 * 3600))
                lease = Assignment(task=task, volunteer=volunteer, state="answered", leased_at=at, expires_at=at)
                leases.append(lease)
                answers.append((lease, task, volunteer, at))
        Assignment.objects.bulk_create(leases, batch_size=5000)
        Answer.objects.bulk_create(
            [
                Answer(assignment=lease, task=task, crisis=crisis, media_id=task.media_id, volunteer=volunteer,
                       kind=task.kind, submitted_at=at, time_on_task_s=rng.uniform(5, 300),
                       **(GEOLOCATION_ANSWER if task.kind == "geolocation" else RATING_ANSWER))
                for lease, task, volunteer, at in answers
            ],
            batch_size=5000,
        )  # fmt: skip
        LocationConsensus.objects.bulk_create(
            [LocationConsensus(media=m, crisis=crisis, status="done", reason="bench", lat=-30.0, lon=-51.2,
                               radius_68_m=rng.uniform(20, 2000), precision=rng.choice(["high", "medium", "low"]),
                               n_answers=3, computed_at=now - timedelta(seconds=rng.uniform(0, 48 * 3600)))
             for m in media if m.stage == Media.Stage.PUBLISHED],
            batch_size=5000,
        )  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as autovacuum (PostgreSQL) keeps them in a live database
    print(f"  {Answer.objects.filter(crisis=crisis).count()} answers", flush=True)
    return crisis


def median_ms(run, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench_dashboard.sqlite3'}")
    setup_django(database_url)
    from django.conf import settings
    from django.utils import timezone

    from mapping import selectors as map_selectors
    from mapping import services as map_services
    from tasks_app import selectors as task_selectors
    from tasks_app import services as task_services

    crisis = fill(options.images)
    map_services.dashboard_snapshot_refresh(crisis_id=crisis.pk)
    task_services.leaderboard_refresh(crisis_id=crisis.pk)
    fresh = median_ms(lambda: map_selectors.dashboard_statistics(crisis_id=crisis.pk, now=timezone.now()), options.runs)
    stored = median_ms(lambda: map_selectors.dashboard_snapshot(crisis=crisis).data, options.runs)
    board = median_ms(lambda: task_services.leaderboard_refresh(crisis_id=crisis.pk), options.runs)
    board_stored = median_ms(lambda: list(task_selectors.leaderboard_top(crisis=crisis, limit=10)), options.runs)
    period = settings.MAP_DASHBOARD_MAX_AGE_SECONDS
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"{options.images} images, {VOLUNTEERS} volunteers, {engine}, median of {options.runs}")
    for name, afresh, read in (("dashboard statistics", fresh, stored), ("leaderboard", board, board_stored)):
        print(f"{name:21} afresh {afresh:8.1f} ms   stored read {read:6.1f} ms   afresh/read {afresh / read:6.1f}x")
    share_live, share_snapshot = fresh / (period * 1000), fresh / (SNAPSHOT_PERIOD_S * 1000)
    print(
        f"a crisis whose dashboard is watched: {100 * share_live:5.2f}% of a core (recomputed every {period} s) vs "
        f"{100 * share_snapshot:5.3f}% for the 5-minute snapshot ({SNAPSHOT_PERIOD_S // period}x)"
    )


if __name__ == "__main__":
    main()
