"""The crowd scheduler under load, beside a naive one: python bench/bench_scheduler.py [--quick | --full].

Runs gunicorn on loopback against PostgreSQL, queues N images (one geolocation task each, redundancy 3) and lets
V volunteer threads ask for a task and answer it, R rounds each, all at once. Prints next-task and submit latency
(median, p95) and the overshoot (leases plus answers beyond the redundancy) for:

- ours: ``lease_grant``, one indexed query with SELECT ... FOR UPDATE SKIP LOCKED and a slot counter;
- naive: "order by priority, no locking": the first task whose leases plus answers are under the redundancy,
  counted by a subquery, then an insert (check-then-act with no lock).

Needs PostgreSQL (``BENCH_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/geoloc_bench``; the
database is created if missing and its crowd tables are emptied). Loopback only; every count is bounded.
Latency is measured by the client threads in this process, so it includes Python client overhead; compare the
ratio, not the bare numbers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/geoloc_bench"
SLUG = "bench-scheduler"
TARGET_P95_MS = 50.0


# --- The naive scheduler, swapped in inside the gunicorn workers when BENCH_SCHEDULER=naive -----------------------


def naive_lease_grant(*, crisis, volunteer, kind, now=None, rng=None):
    """Order by priority, no locking: read the first task with room, then insert a lease (a race window)."""
    from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from tasks_app import selectors
    from tasks_app.models import Assignment, CrowdTask

    now = now or timezone.now()
    running = selectors.lease_open_for(crisis=crisis, volunteer=volunteer, kind=kind, now=now)
    if running is not None:
        return running
    taken = (
        Assignment.objects.filter(task_id=OuterRef("pk"), state__in=["leased", "answered"])
        .values("task_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), volunteer_id=volunteer.pk)
    task = (
        CrowdTask.objects.filter(crisis_id=crisis.pk, kind=kind, status=CrowdTask.Status.OPEN)
        .filter(~Exists(seen))
        .annotate(taken=Coalesce(Subquery(taken, output_field=IntegerField()), 0))
        .filter(Q(taken__lt=F("redundancy")))
        .order_by("-priority", "id")
        .first()
    )
    if task is None:
        return None
    lease = Assignment.objects.create(task=task, volunteer=volunteer, leased_at=now, expires_at=now + _lease())
    lease.task = task
    return lease


def naive_answer_submit(
    *, volunteer, lease_id, kind, note="", time_on_task_s=None, report_reason="", report_note="", **fields
):
    """Record the answer with no lock and no slot counter (the naive scheduler keeps none)."""
    from django.utils import timezone

    from tasks_app.models import Answer, Assignment

    lease = Assignment.objects.select_related("task").get(pk=lease_id, volunteer=volunteer)
    answer = Answer.objects.create(
        assignment=lease,
        task=lease.task,
        crisis_id=lease.task.crisis_id,
        media_id=lease.task.media_id,
        volunteer=volunteer,
        kind=kind,
        note=note,
        time_on_task_s=time_on_task_s,
        **fields,
    )
    Assignment.objects.filter(pk=lease.pk).update(state="answered", closed_at=timezone.now())
    answer.gold_task = None
    return answer


def _lease():
    from datetime import timedelta

    from django.conf import settings

    return timedelta(seconds=settings.CROWD_LEASE_SECONDS)


def _load():
    """The platform's WSGI app, with the naive scheduler swapped in when asked, URLs and lazy imports warmed."""
    from django.urls import get_resolver

    from geoloc_platform.wsgi import application as platform
    from tasks_app import selectors, services

    # The scheduler is measured, not consensus: its answer hook would run inline (no broker here) for ours only.
    services.answer_submitted.disconnect(dispatch_uid="tasks_app.answer_to_consensus")
    if os.environ.get("BENCH_SCHEDULER") == "naive":
        services.lease_grant = naive_lease_grant
        services.answer_submit = naive_answer_submit
    get_resolver().url_patterns  # noqa: B018 (imports every view module now, not on the first request)
    selectors._text_location_provider()
    return platform


# gunicorn (--preload) imports this module with BENCH_SCHEDULER set: build the app before the workers fork.
application = _load() if os.environ.get("BENCH_SCHEDULER") else None


# --- Setting up the database --------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    import django

    django.setup()


def seed(*, images: int, volunteers: int, seed_value: int = 7) -> list[tuple[str, str]]:
    """Queue ``images`` images with predicted ease; make the volunteers; return their (sessionid, csrf) cookies."""

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.utils import timezone

    from crawling.models import Media, Post
    from geoloc_platform.crises.models import Crisis
    from tasks_app.models import Answer, Assignment, CrowdTask
    from tasks_app.services import task_priority

    rng = random.Random(seed_value)
    crisis = Crisis.objects.filter(slug=SLUG).first()
    if crisis is None or crisis.media.count() != images:
        if crisis is not None:
            with connection.cursor() as cursor:  # a cascade through 300k rows is slow in the ORM
                cursor.execute(
                    "TRUNCATE tasks_app_answer, tasks_app_assignment, tasks_app_crowdtask, "
                    "tasks_app_report, tasks_app_leaderboardentry CASCADE"
                )
            crisis.delete()
        crisis = Crisis.objects.create(
            name="Bench scheduler",
            slug=SLUG,
            hazard="flood",
            status=Crisis.Status.ACTIVE,
            geolocation_redundancy=3,
            affected_area=None,
        )
        now = timezone.now()
        batch = 5000
        for start in range(0, images, batch):
            count = min(batch, images - start)
            with transaction.atomic():
                posts = Post.objects.bulk_create(
                    Post(
                        crisis=crisis,
                        source="demo",
                        source_id=f"b{start + i}",
                        text=f"bench post {start + i}",
                        posted_at=now,
                    )
                    for i in range(count)
                )
                media = Media.objects.bulk_create(
                    Media(crisis=crisis, post=post, stage=Media.Stage.QUEUED) for post in posts
                )
                tasks = []
                for item in media:
                    ease = rng.random()
                    tasks.append(
                        CrowdTask(
                            crisis=crisis,
                            media=item,
                            kind="geolocation",
                            redundancy=3,
                            predicted_ease=ease,
                            priority=task_priority(ease=ease, relevance=0.5, recency=1.0, coverage=1.0),
                            expert_priority=task_priority(
                                ease=ease, relevance=0.5, recency=1.0, coverage=1.0, expert=True
                            ),
                            random_key=rng.random(),
                        )
                    )
                CrowdTask.objects.bulk_create(tasks)
            print(f"  seeded {start + count}/{images} images", end="\r", flush=True)
        print()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tasks_app_crowdtask; ANALYZE tasks_app_assignment")
    reset()
    assert Answer.objects.filter(crisis=crisis).count() == 0 and Assignment.objects.count() == 0
    cookies = []
    for index in range(volunteers):
        user, _ = User.objects.get_or_create(username=f"bench-volunteer-{index}")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append((session.session_key, secrets.token_hex(16)))  # a 32-character CSRF secret
    return cookies


def reset() -> None:
    """Empty the crowd tables and give every task its slots back, so both schedulers start from the same queue."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tasks_app_answer, tasks_app_assignment, tasks_app_report CASCADE")
        cursor.execute(
            "UPDATE tasks_app_crowdtask SET slots_taken = 0, answers_count = 0, status = 'open' "
            "WHERE slots_taken <> 0 OR answers_count <> 0 OR status <> 'open'"
        )
        cursor.execute("VACUUM ANALYZE tasks_app_crowdtask")  # autocommit: the bench runs outside transactions


def overshoot() -> tuple[int, int]:
    """(extra handouts beyond the redundancy, tasks overshot), counted from the leases and answers themselves."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(n - t.redundancy), 0), COUNT(*) FROM tasks_app_crowdtask t JOIN ("
            " SELECT task_id, COUNT(*) AS n FROM tasks_app_assignment WHERE state IN ('leased', 'answered')"
            " GROUP BY task_id) a ON a.task_id = t.id WHERE a.n > t.redundancy"
        )
        extra, tasks = cursor.fetchone()
    return int(extra), int(tasks)


def explain_next_task() -> str:
    """The plan of our next-task query for a fresh volunteer: one index scan, however large the queue."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from geoloc_platform.crises.models import Crisis
    from tasks_app.selectors import lease_candidates

    crisis = Crisis.objects.get(slug=SLUG)
    volunteer = User.objects.get(username="bench-volunteer-0")
    query = lease_candidates(crisis=crisis, volunteer=volunteer, kind="geolocation", skill=0.3)
    query = query.select_for_update(skip_locked=True, of=("self",))[:1]
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


# --- The load -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*, url: str, scheduler: str, workers: int, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": "",
        "REDIS_URL": redis_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "BENCH_SCHEDULER": scheduler,
        "CROWD_GOLD_RATE": "0",
        "CROWD_RATE_NEXT": "1000000/min",
        "CROWD_RATE_ANSWER": "1000000/min",
        "API_RATE_USER": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.bench_scheduler:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "--preload",
            "--keep-alive",
            "120",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not start")


def redis_url() -> str:
    """The throttles' cache: Redis on loopback when it answers (as in production), else the database cache."""
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return url
    except OSError:
        return ""


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _request(conn_box: list, port: int, path: str, body: dict, headers: dict) -> tuple[int, bytes]:
    """POST on the kept-alive connection; reconnect once if the server closed it while the volunteer thought."""
    for attempt in (1, 2):
        try:
            conn_box[0].request("POST", path, body=json.dumps(body), headers=headers)
            response = conn_box[0].getresponse()
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException):
            conn_box[0].close()
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def volunteer_loop(port, cookie, rounds, start, results, lock, think_s=0.0):
    sessionid, csrf = cookie
    headers = {
        "Cookie": f"sessionid={sessionid}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "Content-Type": "application/json",
    }
    conn_box = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)]
    next_ms, submit_ms, errors, handed = [], [], [], 0
    # With a think time, volunteers arrive spread over one think period and think for 0.5-1.5x of it: identical
    # pauses would keep all of them in lockstep, a burst of every volunteer at once each round.
    rng = random.Random(sessionid)
    start.wait()
    time.sleep(rng.uniform(0, think_s))
    for _ in range(rounds):
        began = time.perf_counter()
        status, body = _request(conn_box, port, f"/api/crises/{SLUG}/tasks/next/", {"kind": "geolocation"}, headers)
        next_ms.append((time.perf_counter() - began) * 1000)
        if status == 204:
            break
        if status != 200:
            errors.append(f"next {status} {body[:120]!r}")
            continue
        handed += 1
        lease = json.loads(body)
        time.sleep(think_s * rng.uniform(0.5, 1.5))  # looking at the image: real volunteers take minutes
        answer = {"lease_id": lease["lease_id"], "kind": "geolocation", "lat": -30.0, "lon": -51.2}
        answer["precision"] = "medium"
        began = time.perf_counter()
        status, body = _request(conn_box, port, "/api/answers/", answer, headers)
        submit_ms.append((time.perf_counter() - began) * 1000)
        if status != 201:
            errors.append(f"answer {status} {body[:120]!r}")
        time.sleep(think_s * rng.uniform(0.5, 1.5))
    conn_box[0].close()
    with lock:
        results["next"].extend(next_ms)
        results["submit"].extend(submit_ms)
        results["errors"].extend(errors)
        results["handed"] += handed


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def run_load(*, url: str, scheduler: str, cookies, rounds: int, workers: int, think_s: float = 0.0) -> dict:
    reset()
    port = free_port()
    server = start_server(url=url, scheduler=scheduler, workers=workers, port=port)
    try:
        # Warm every worker thread (database connections) before the measured burst: one connection each.
        for _ in range(workers * 4 * 2):
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            warm.request("GET", f"/crises/{SLUG}/work/")
            warm.getresponse().read()
            warm.close()
        results = {"next": [], "submit": [], "errors": [], "handed": 0}
        lock = threading.Lock()
        start = threading.Barrier(len(cookies))
        threads = [
            threading.Thread(target=volunteer_loop, args=(port, cookie, rounds, start, results, lock, think_s))
            for cookie in cookies
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        stop_server(server)
    extra, tasks_over = overshoot()
    return {
        "next_p50_ms": statistics.median(results["next"]),
        "next_p95_ms": p95(results["next"]),
        "submit_p50_ms": statistics.median(results["submit"]) if results["submit"] else float("nan"),
        "submit_p95_ms": p95(results["submit"]) if results["submit"] else float("nan"),
        "requests": len(results["next"]) + len(results["submit"]),
        "rps": (len(results["next"]) + len(results["submit"])) / elapsed,
        "handed": results["handed"],
        "overshoot": extra,
        "tasks_overshot": tasks_over,
        "errors": results["errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 images (the default).")
    parser.add_argument("--full", action="store_true", help="100,000 images, as in the issue.")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20, help="Next-task + answer pairs per volunteer.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (4 threads each).")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="Mean pause of each volunteer after each request, drawn from 0.5-1.5x of it, arrivals spread over one"
        " pause (0: a closed loop that saturates the server).",
    )
    args = parser.parse_args()
    images = args.images or (100_000 if args.full else 10_000)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    if not url.startswith("postgres"):
        print("bench_scheduler needs PostgreSQL (BENCH_DATABASE_URL)", file=sys.stderr)
        return 2
    ensure_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": ""},
    )
    subprocess.run(
        [sys.executable, "manage.py", "createcachetable"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": ""},
    )
    django_setup(url)
    print(
        f"scheduler load: {images:,} queued images, {args.volunteers} volunteers x {args.rounds} rounds, "
        f"gunicorn {args.workers} workers x 4 threads, think {args.think_ms:.0f} ms, PostgreSQL on loopback"
    )
    cookies = seed(images=images, volunteers=args.volunteers)
    think_s = args.think_ms / 1000
    ours = run_load(
        url=url,
        scheduler="difficulty_priority",
        cookies=cookies,
        rounds=args.rounds,
        workers=args.workers,
        think_s=think_s,
    )
    plan = explain_next_task()
    naive = run_load(
        url=url,
        scheduler="naive",
        cookies=cookies,
        rounds=args.rounds,
        workers=args.workers,
        think_s=think_s,
    )
    reset()
    print(f"{'':15}{'ours':>10}{'naive':>10}{'naive/ours':>12}")
    for metric in ("next_p50_ms", "next_p95_ms", "submit_p50_ms", "submit_p95_ms"):
        print(f"{metric:15}{ours[metric]:10.1f}{naive[metric]:10.1f}{naive[metric] / ours[metric]:11.2f}x")
    for metric in ("rps", "requests", "handed", "overshoot", "tasks_overshot"):
        print(f"{metric:15}{ours[metric]:10.0f}{naive[metric]:10.0f}")
    print(f"errors         ours {len(ours['errors'])}  naive {len(naive['errors'])}")
    for error in (ours["errors"] + naive["errors"])[:5]:
        print(f"  {error}")
    print("plan of our next-task query (fresh volunteer):")
    print("  " + plan.replace("\n", "\n  "))
    ok = ours["overshoot"] == 0 and not ours["errors"]
    verdict = (
        "meets" if ok and ours["next_p95_ms"] < TARGET_P95_MS and ours["submit_p95_ms"] < TARGET_P95_MS else ("MISSES")
    )
    print(f"targets (p95 < {TARGET_P95_MS:.0f} ms, zero overshoot): ours {verdict} them")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
