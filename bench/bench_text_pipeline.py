"""Text geolocation of a post in the pipeline: CPU per post with the crisis context reused or rebuilt per post.

    VAR_DIR=... python bench/bench_text_pipeline.py [--located 2000] [--posts 200] [--rounds 3]

The database (DATABASE_URL, else the embedded default under VAR_DIR) must hold the offline gazetteer
(``manage.py build_gazetteer``; ``make run`` builds it). A throwaway crisis gets ``--located`` posts already located
at a town (its crisis-level prior, as a crisis some hours in has) and ``--posts`` posts to locate; each round times
``post_locate`` on every post (CPU seconds of this process) with the context reused (``GEOLOC_CRISIS_CONTEXT_SECONDS``
as configured) and with it rebuilt for every post (0 s: the code before the cache), alternating. The crisis is
deleted afterwards. Printed: posts per CPU-second per mode and round, the medians, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from classification import services  # noqa: E402
from classification.geolocation.loader import geolocator_preload  # noqa: E402
from classification.models import Place, PostGeolocation  # noqa: E402
from crawling.models import Post  # noqa: E402
from geoloc_platform.crises.models import Crisis  # noqa: E402

SLUG = "bench-text-pipeline"
TEXTS = (
    "Flooding in {town} this morning, streets under water",
    "Rescue boats on the main road of {town} #flood",
    "Water still rising near {town}, families on the roofs",
)


def make_crisis(*, located: int, posts: int, seed: int) -> tuple[Crisis, list[Post]]:
    Crisis.objects.filter(slug=SLUG).delete()
    crisis = Crisis.objects.create(
        slug=SLUG, name="Bench text pipeline floods", hazard=Crisis.Hazard.FLOOD, country_codes=["BR"], languages=["pt"]
    )
    towns = list(
        Place.objects.filter(kind="city", country_code="BR")
        .order_by("-population")
        .values_list("name", "lat", "lon")[:300]
    )
    rng = random.Random(seed)
    prior = Post.objects.bulk_create(
        Post(crisis=crisis, source=Post.Source.CSV, source_id=f"located-{n}", text="x") for n in range(located)
    )
    PostGeolocation.objects.bulk_create(
        PostGeolocation(post=post, lat=lat, lon=lon, radius_km=10.0, method="gazetteer")
        for post, (_, lat, lon) in ((post, rng.choice(towns[:20])) for post in prior)
    )
    to_locate = Post.objects.bulk_create(
        Post(crisis=crisis, source=Post.Source.CSV, source_id=f"new-{n}", text=rng.choice(TEXTS).format(town=town))
        for n, (town, _, _) in enumerate(rng.choice(towns) for _ in range(posts))
    )
    return crisis, list(Post.objects.filter(pk__in=[p.pk for p in to_locate]).select_related("crisis"))


def posts_per_cpu_second(posts: list[Post], *, context_seconds: float) -> float:
    settings.GEOLOC_CRISIS_CONTEXT_SECONDS = context_seconds
    services.crisis_context_forget()
    start = time.process_time()
    for post in posts:
        services.post_locate(post=post)
    return len(posts) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--located", type=int, default=2000, help="posts of the crisis already located")
    parser.add_argument("--posts", type=int, default=200, help="posts located per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not Place.objects.filter(kind="city", country_code="BR").exists():
        raise SystemExit("no gazetteer in this database: run manage.py build_gazetteer first")
    geolocator_preload()
    configured = settings.GEOLOC_CRISIS_CONTEXT_SECONDS
    crisis, posts = make_crisis(located=args.located, posts=args.posts, seed=args.seed)
    try:
        posts_per_cpu_second(posts[:20], context_seconds=configured)  # warm the index's pages
        reused, rebuilt = [], []
        for round_ in range(args.rounds):
            reused.append(posts_per_cpu_second(posts, context_seconds=configured))
            rebuilt.append(posts_per_cpu_second(posts, context_seconds=0))
            print(f"round {round_ + 1}: reused {reused[-1]:.0f} posts/CPU-s, rebuilt per post {rebuilt[-1]:.0f}")
    finally:
        crisis.delete()
        settings.GEOLOC_CRISIS_CONTEXT_SECONDS = configured
    a, b = statistics.median(reused), statistics.median(rebuilt)
    print(
        f"{args.located} located posts, {args.posts} posts per round: context reused (every {configured:g} s) "
        f"{a:.0f} posts per CPU-second vs rebuilt per post (baseline) {b:.0f}: {a / b:.2f}x"
    )


if __name__ == "__main__":
    main()
