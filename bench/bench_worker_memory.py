"""Memory of a Celery ``cpu`` worker's children with and without loading the gazetteer before forking.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://127.0.0.1:6379/4 python bench/bench_worker_memory.py

The database must hold the offline gazetteer (``manage.py build_gazetteer``, once). For each mode the script
starts ``celery worker -Q cpu -c 2`` (prefork), geolocates ``--posts`` generated posts through it so that both
children have used the gazetteer, then reads RSS and PSS of the parent and of each child from
``/proc/<pid>/smaps_rollup`` (PSS shares each page among the processes that map it: their sum is what the worker
really costs). Printed: per-process figures and the children's total PSS beside the baseline (no preload).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")

import django  # noqa: E402

django.setup()

from classification.models import Place, PostGeolocation  # noqa: E402
from classification.tasks import post_geolocate_text  # noqa: E402
from crawling.models import Post  # noqa: E402
from geoloc_platform.celery import app  # noqa: E402
from geoloc_platform.crises.models import Crisis  # noqa: E402
from tests.integration.conftest import process_stop  # noqa: E402

SLUG = "bench-worker-memory"
FIELDS = ("Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty")


def memory_mb(pid: int) -> dict[str, float]:
    """Fields of /proc/<pid>/smaps_rollup in MiB."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        if name in FIELDS:
            figures[name] = int(value.split()[0]) / 1024
    return figures


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def run_mode(*, preload: bool, posts: int, concurrency: int, log_dir: Path) -> dict:
    app.control.purge()
    crisis, _ = Crisis.objects.get_or_create(slug=SLUG, defaults={"name": "Bench worker memory"})
    Post.objects.filter(crisis=crisis).delete()
    places = list(Place.objects.filter(kind="city").order_by("-population").values_list("name", flat=True)[:posts])
    rows = [
        Post(crisis=crisis, source=Post.Source.CSV, source_id=f"mem-{preload}-{n}", text=f"Flooding in {name} now")
        for n, name in enumerate(places)
    ]
    Post.objects.bulk_create(rows)
    log = log_dir / f"worker-preload-{preload}.log"
    env = {**os.environ, "GEOLOC_GAZETTEER_PRELOAD": "true" if preload else "false", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "celery", "-A", "geoloc_platform", "worker", "-Q", "cpu", "-c", str(concurrency)]
    command += ["-P", "prefork", "-l", "info", "-n", f"bench-memory-{os.getpid()}@%h", "--without-heartbeat"]
    command += ["--without-gossip", "--without-mingle"]
    worker = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        started = time.monotonic()
        wait_until(lambda: "ready." in log.read_text(), timeout=600, what="the worker")
        ready_s = time.monotonic() - started
        ids = list(Post.objects.filter(crisis=crisis).values_list("pk", flat=True))
        for post_id in ids:
            post_geolocate_text.delay(post_id)
        wait_until(
            lambda: PostGeolocation.objects.filter(post_id__in=ids).count() == len(ids),
            timeout=1800,
            what="the geolocations",
        )
        done_s = time.monotonic() - started
        time.sleep(2)  # let the children settle after their last task
        parent = memory_mb(worker.pid)
        kids = {pid: memory_mb(pid) for pid in children(worker.pid)}
    finally:
        process_stop(worker)
        Post.objects.filter(crisis=crisis).delete()
    return {"preload": preload, "ready_s": ready_s, "done_s": done_s, "parent": parent, "children": kids}


def report(result: dict) -> None:
    label = "preloaded before fork" if result["preload"] else "loaded in each child (baseline)"
    print(f"\n{label}: worker ready in {result['ready_s']:.1f} s, all posts geolocated after {result['done_s']:.1f} s")
    print(f"  {'process':<10} {'RSS MiB':>9} {'PSS MiB':>9} {'shared clean':>13} {'private dirty':>14}")
    rows = [
        ("parent", result["parent"]),
        *((f"child {n + 1}", kid) for n, kid in enumerate(result["children"].values())),
    ]
    for name, figures in rows:
        print(
            f"  {name:<10} {figures['Rss']:9.0f} {figures['Pss']:9.0f} {figures['Shared_Clean']:13.0f} "
            f"{figures['Private_Dirty']:14.0f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--log-dir", type=Path, default=ROOT / "var" / "bench_worker_memory")
    options = parser.parse_args()
    if not app.conf.broker_url or not Place.objects.exists():
        # `make bench` runs every script: without a broker or a gazetteer there is nothing to measure here.
        print("skipped: needs CELERY_BROKER_URL and a database with the gazetteer (manage.py build_gazetteer)")
        return 0
    options.log_dir.mkdir(parents=True, exist_ok=True)
    results = [
        run_mode(preload=preload, posts=options.posts, concurrency=options.concurrency, log_dir=options.log_dir)
        for preload in (False, True)
    ]
    for result in results:
        report(result)
    baseline, ours = (sum(kid["Pss"] for kid in r["children"].values()) for r in results)
    whole = [r["parent"]["Pss"] + sum(kid["Pss"] for kid in r["children"].values()) for r in results]
    print(f"\nchildren's PSS: baseline {baseline:.0f} MiB, preloaded {ours:.0f} MiB ({baseline / ours:.2f}x less)")
    print(f"worker total PSS (parent + children): baseline {whole[0]:.0f} MiB, preloaded {whole[1]:.0f} MiB")
    Crisis.objects.filter(slug=SLUG).delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
