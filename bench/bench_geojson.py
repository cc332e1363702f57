"""The map's GeoJSON endpoint beside a plain DRF ModelSerializer: python bench/bench_geojson.py [--quick | --full].

Fills a crisis with N geolocated images (default 50,000; --quick 5,000) spread over a 100 km square, then times,
in this process through Django's test client (URL routing, permissions, query, serialisation, no network):

- ours: ``GET /api/map/features/?crisis=...&limit=N`` (one ``values_list`` query, f-string GeoJSON), the whole
  crisis and a city-sized bounding box (10 km square);
- baseline: the same rows (same filters, ``select_related``) through a DRF ``ModelSerializer`` rendered by DRF's
  ``JSONRenderer`` as a FeatureCollection.

Database: ``BENCH_DATABASE_URL`` (default: SQLite file ``var/bench_geojson.sqlite3``, created and kept for reruns).
Prints median of R runs; compare the ratio, not the bare numbers (2 shared cores here).
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

SLUG = "bench-geojson"
CENTRE = (-30.03, -51.22)  # Porto Alegre
HALF_SIDE_DEG = 0.45  # about 100 km square
CITY_BBOX = (-51.27, -30.08, -51.17, -29.98)  # about 10 km square
TARGETS_MS = {"whole crisis": 1000.0, "city bbox": 100.0}


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["ALLOWED_HOSTS"] = "testserver"  # Django's test client
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # throttling counts in the cache


def fill(n: int):
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from consensus.models import LocationConsensus
    from crawling.models import Media, Post
    from geoloc_platform.crises.models import Crisis

    crisis, _ = Crisis.objects.get_or_create(
        slug=SLUG, defaults={"name": "Bench GeoJSON", "hazard": Crisis.Hazard.FLOOD, "status": Crisis.Status.ACTIVE}
    )
    if LocationConsensus.objects.filter(crisis=crisis).count() != n:
        print(f"filling {n} geolocated images...", flush=True)
        Post.objects.filter(crisis=crisis).delete()
        rng = random.Random(42)
        now = timezone.now()
        with transaction.atomic():
            posts = Post.objects.bulk_create(
                [
                    Post(
                        crisis=crisis,
                        source=Post.Source.MASTODON,
                        source_id=str(i),
                        url=f"https://mastodon.example/@user{i % 997}/{i}",
                        author_handle=f"@user{i % 997}",
                        text=f'Flooded street near the market, water up to the knees. #{i} "quoted" <b>',
                        posted_at=now,
                        hashtags=["RSFloods"],
                    )
                    for i in range(n)
                ],
                batch_size=5000,
            )
            media = Media.objects.bulk_create(
                [Media(crisis=crisis, post=post, stage=Media.Stage.PUBLISHED, image=f"media/x/{post.source_id}.jpg")
                 for post in posts],
                batch_size=5000,
            )  # fmt: skip
            LocationConsensus.objects.bulk_create(
                [
                    LocationConsensus(
                        media=m,
                        crisis=crisis,
                        status=LocationConsensus.Status.DONE,
                        reason="bench",
                        lat=CENTRE[0] + rng.uniform(-HALF_SIDE_DEG, HALF_SIDE_DEG),
                        lon=CENTRE[1] + rng.uniform(-HALF_SIDE_DEG, HALF_SIDE_DEG),
                        radius_68_m=rng.uniform(20, 2000),
                        radius_95_m=rng.uniform(2000, 5000),
                        precision=rng.choice(["high", "medium", "low"]),
                        n_answers=3,
                    )
                    for m in media
                ],
                batch_size=5000,
            )
    user, created = User.objects.get_or_create(username="bench-geojson-root", defaults={"is_superuser": True})
    if created:
        user.is_staff = True
        user.save()
    return crisis, user


def baseline_view():
    """A plain DRF ModelSerializer over the same rows, wrapped as a FeatureCollection."""
    from rest_framework import serializers
    from rest_framework.renderers import JSONRenderer

    from consensus.models import LocationConsensus

    class PointSerializer(serializers.ModelSerializer):
        id = serializers.IntegerField(source="media_id")
        crisis = serializers.CharField(source="crisis.slug")
        text = serializers.CharField(source="media.post.text")
        url = serializers.CharField(source="media.post.url")
        source = serializers.CharField(source="media.post.source")
        posted_at = serializers.DateTimeField(source="media.post.posted_at")
        author = serializers.CharField(source="media.post.author_handle")

        class Meta:
            model = LocationConsensus
            fields = ["id", "crisis", "lat", "lon", "radius_68_m", "radius_95_m", "precision", "ambiguous",
                      "n_answers", "review", "updated_at", "text", "url", "source", "posted_at", "author"]  # fmt: skip

    def render(crisis, bbox=None) -> bytes:
        rows = LocationConsensus.objects.filter(crisis=crisis, status="done", lat__isnull=False).select_related(
            "crisis", "media__post"
        )
        if bbox:
            rows = rows.filter(lat__gte=bbox[1], lat__lte=bbox[3], lon__gte=bbox[0], lon__lte=bbox[2])
        data = PointSerializer(rows.order_by("updated_at", "media_id"), many=True).data
        features = [
            {"type": "Feature", "id": d["id"], "geometry": {"type": "Point", "coordinates": [d["lon"], d["lat"]]},
             "properties": d}
            for d in data
        ]  # fmt: skip
        return JSONRenderer().render({"type": "FeatureCollection", "features": features})

    return render


def timed(fn, runs: int) -> tuple[float, int]:
    sizes, times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        size = fn()
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(size)
    return statistics.median(times), sizes[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5,000 images, 3 runs")
    parser.add_argument("--full", action="store_true", help="the defaults (50,000 images)")
    args = parser.parse_args()
    if args.quick:
        args.images, args.runs = 5_000, 3
    database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench_geojson.sqlite3'}")
    setup_django(database_url)

    from django.test import Client

    crisis, user = fill(args.images)
    client = Client()
    client.force_login(user)
    baseline = baseline_view()
    bbox = ",".join(str(v) for v in CITY_BBOX)

    def ours(params):
        def call():
            response = client.get("/api/map/features/", params)
            assert response.status_code == 200, response.content[:200]
            return response.content.count(b'"Feature"')  # parsing 25 MB here would time the client, not us

        return call

    def base(with_bbox):
        def call():
            return baseline(crisis, CITY_BBOX if with_bbox else None).count(b'"Feature"')

        return call

    print(f"{'case':14} {'features':>8} {'ours ms':>9} {'DRF ms':>9} {'DRF/ours':>9} {'target':>8}")
    failed = False
    for case, params, with_bbox in (
        ("whole crisis", {"crisis": SLUG, "limit": 50_000}, False),
        ("city bbox", {"crisis": SLUG, "limit": 50_000, "bbox": bbox}, True),
    ):
        ours_ms, count = timed(ours(params), args.runs)
        drf_ms, drf_count = timed(base(with_bbox), args.runs)
        assert count == drf_count, (count, drf_count)
        target = TARGETS_MS[case]
        ok = ours_ms < target
        failed |= not ok and args.images >= 50_000
        print(
            f"{case:14} {count:8d} {ours_ms:9.1f} {drf_ms:9.1f} {drf_ms / ours_ms:8.2f}x "
            f"{'<' if ok else '>='}{target:5.0f} ms"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
