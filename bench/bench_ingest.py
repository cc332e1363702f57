"""Ingest throughput: posts normalised per second, a crawl page of 40 posts stored, images hashed per second.

    python bench/bench_ingest.py                      # generated posts and images
    python bench/bench_ingest.py --images ../shared/data/crawl/images --workers 2

Each figure is printed beside its floor (Pillow alone opening and decoding the same files), as a ratio: a
ratio holds on a noisy machine, a bare time does not. Runs against a throw-away SQLite database.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}


def setup_django(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoloc_platform.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generated_images(folder: Path, count: int) -> list[Path]:
    """Photo-like JPEGs of 1024x768 (a gradient, shapes and grain), the size social platforms serve."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    paths = []
    for i in range(count):
        y, x = np.mgrid[0:768, 0:1024]
        base = np.stack([(x * 255 // 1024), (y * 255 // 768), ((x + y + i * 40) % 256)], axis=-1)
        grain = rng.integers(-12, 12, (768, 1024, 3))
        image = Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for j in range(8):
            x, y = int(rng.integers(0, 900)), int(rng.integers(0, 650))
            draw.rectangle([x, y, x + 200, y + 120], fill=(i * 13 % 255, j * 30, 200))
        path = folder / f"generated-{i:04d}.jpg"
        image.save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def timed(function, items) -> float:
    start = time.perf_counter()
    for item in items:
        function(item)
    return time.perf_counter() - start


def pillow_decode(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.load()


def phash(path: Path) -> str:
    from crawling.dedup import phash_file

    return phash_file(path)


def fetch_step(path: Path) -> None:
    from crawling.imaging import decode_image

    decode_image(path.read_bytes())


def _warm() -> None:
    from PIL import Image

    from crawling.dedup import phash_grey

    phash_grey(Image.new("L", (64, 64)))  # scipy's DCT loaded before the clock starts


def parallel_rate(function, paths: list[Path], workers: int) -> float:
    with ProcessPoolExecutor(max_workers=workers, initializer=_warm) as pool:
        list(pool.map(_hold, range(workers)))  # every worker started and warm before the clock starts
        start = time.perf_counter()
        list(pool.map(function, paths, chunksize=max(1, len(paths) // (workers * 4))))
        return len(paths) / (time.perf_counter() - start)


def _hold(_n: int) -> None:
    time.sleep(0.5)  # long enough that each worker takes one


def bench_posts(repeat: int) -> None:
    from crawling import pipeline, services
    from crawling.sources.bluesky import BlueskyCrawler
    from crawling.sources.mastodon import MastodonCrawler
    from crawling.sources.x import XCrawler
    from geoloc_platform.crises.models import Crisis
    from tests.crawling.payloads import bluesky_post, bsky_images_view, mastodon_status, x_photo, x_tweet

    samples = {
        "mastodon": (MastodonCrawler(), [mastodon_status(i, images=2) for i in range(1000)]),
        "bluesky": (BlueskyCrawler(), [bluesky_post(f"k{i}", embed=bsky_images_view("a", "b")) for i in range(1000)]),
        "x": (XCrawler(), [{"tweet": x_tweet(str(i), ["k"]), "media": [x_photo("k")]} for i in range(1000)]),
    }
    print("posts normalised per second (pure Python, one core)")
    for name, (crawler, raws) in samples.items():
        seconds = min(timed(crawler.normalise, raws) for _ in range(repeat))
        print(f"  {name:9} {len(raws) / seconds:10.0f} posts/s")

    # The images' fetch step is not part of a page's cost: with no broker it would run in this process.
    pipeline.send_step = lambda *, stage, media_id: False
    crisis = Crisis.objects.create(name="Bench", slug=f"bench-{time.time_ns()}", hazard="flood", status="active")
    crawler, raws = samples["mastodon"]
    pages = [raws[i : i + 40] for i in range(0, 400, 40)]
    times = []
    for page in pages:  # a page as the crawl handles it: normalise, then store posts and images in one transaction
        start = time.perf_counter()
        posts = [crawler.normalise(raw) for raw in page]
        services.posts_store(crisis=crisis, source="mastodon", posts=posts)
        times.append(time.perf_counter() - start)
    print(
        f"crawl page of 40 posts (80 images) normalised and stored: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms  (target: well under 1000 ms)"
    )


def bench_images(paths: list[Path], workers: int, repeat: int) -> None:
    _warm()  # imports once per process; not part of the per-image cost
    floor = min(timed(pillow_decode, paths) for _ in range(repeat))
    ours = min(timed(phash, paths) for _ in range(repeat))
    fetch = min(timed(fetch_step, paths) for _ in range(repeat))
    n = len(paths)
    print(f"images: {n} files, {sum(p.stat().st_size for p in paths) / n / 1024:.0f} KiB on average")
    print(f"  {'metric':28} {'images/s':>9} {'floor/ours':>11}")
    print(f"  {'floor: Pillow open+decode':28} {n / floor:9.1f} {1.0:10.2f}x")
    print(f"  {'PHash (dedup step), 1 core':28} {n / ours:9.1f} {floor / ours:10.2f}x")
    print(f"  {'fetch step (decode+clean)':28} {n / fetch:9.1f} {floor / fetch:10.2f}x")
    if workers > 1:
        rate = parallel_rate(phash, paths, workers)
        floor_rate = parallel_rate(pillow_decode, paths, workers)
        print(f"  {f'PHash, {workers} processes':28} {rate:9.1f} {rate / floor_rate:10.2f}x  (target >= 100/s)")
        print(f"  {f'floor, {workers} processes':28} {floor_rate:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, help="a folder of real images (searched recursively)")
    parser.add_argument("--count", type=int, default=120, help="generated images when --images is not given")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel hashing figure")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        setup_django(tmp)
        bench_posts(args.repeat)
        if args.images:
            if not args.images.is_dir():
                print(f"no folder at {args.images}: skipping the real images")
                return
            paths = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths = generated_images(tmp, args.count)
        bench_images(paths, args.workers, args.repeat)


if __name__ == "__main__":
    main()
