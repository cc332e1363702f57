"""Accuracy of text geolocation on IDRISI-D style JSONL files (tweets with gold location mentions).

    python manage.py eval_text_geolocation ../shared/data/geo/idrisi/LMD/data/EN \
        --crises classification/geolocation/eval_crises/idrisi_en.yaml

Every ``*.jsonl`` below a folder is read (per-event folders of train/dev/test, or one file per event); ``--split``
keeps some splits. Each file is one crisis named after its folder ("hurricane_harvey_2017/train.jsonl" ->
"hurricane_harvey_2017": stop words "hurricane", "harvey"); its countries and optional bounding box come from
``--crises`` (YAML or CSV), ``--countries-for`` or ``--countries``, as a coordinator would set them on the crisis.
"""

import math
import multiprocessing
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.geolocation.crisis_places import CrisisPlaces
from classification.geolocation.evaluation import (
    CrisesFileError,
    CrisisSpec,
    crisis_name_of,
    evaluate,
    find_jsonl,
    max_rss_mb,
    read_crises,
    read_idrisi,
    summarise,
)
from classification.geolocation.loader import geolocator_preload

_LOCATOR = None  # set in the parent before forking: workers share the loaded gazetteer copy-on-write


def _run(job):
    context, posts = job
    cpu = time.process_time()
    outcomes = evaluate(_LOCATOR, posts, context)
    return outcomes, time.process_time() - cpu


def checked_inputs(paths: list[str], crises: Path | None) -> dict[str, CrisisSpec]:
    """The per-crisis specs of ``crises`` (empty without a file), after checking that every path exists."""
    missing = [raw for raw in paths if not Path(raw).exists()]
    if missing:
        raise CommandError(f"{', '.join(missing)} does not exist (the shared data is not in a fresh clone)")
    if crises is None:
        return {}
    try:
        return read_crises(crises)
    except (OSError, CrisesFileError) as error:
        raise CommandError(f"Cannot read the crises file: {error}") from error


def _figure(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Evaluate text geolocation on IDRISI-format JSONL: post accuracy@161 km and @25 km, median error, "
        "mention precision/recall/resolution, radius calibration, speed."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="JSONL files, or folders searched for *.jsonl")
        parser.add_argument("--split", action="append", default=[], help="Only these splits (train, dev, test)")
        parser.add_argument("--crises", type=Path, help="YAML or CSV: per-crisis countries and optional bbox")
        parser.add_argument("--countries", default="", help="Crisis countries for every other file, e.g. US,MX")
        parser.add_argument("--countries-for", action="append", default=[], metavar="EVENT=CC[,CC]")
        parser.add_argument("--events", default="", help="Only these crises (comma-separated)")
        parser.add_argument("--exclude-events", default="", help="Leave these crises out (comma-separated)")
        parser.add_argument("--workers", type=int, default=1, help="Processes (forked after the gazetteer loads)")
        parser.add_argument("--show-errors", type=int, default=0, help="Print this many wrong posts")
        parser.add_argument(
            "--no-crisis-posts",
            action="store_true",
            help="Leave out the crisis-level prior (each post sees the answers of the crisis's earlier posts)",
        )

    def handle(self, *args, paths, split, crises, countries, countries_for, events, exclude_events, **options):
        workers, show_errors = max(1, options["workers"]), options["show_errors"]
        specs = checked_inputs(paths, crises)
        for item in countries_for:
            event, _, codes = item.partition("=")
            specs[event] = CrisisSpec(tuple(c.strip().upper() for c in codes.split(",") if c.strip()))
        default = CrisisSpec(tuple(c.strip().upper() for c in countries.split(",") if c.strip()))
        only = {e for e in events.split(",") if e}
        excluded = {e for e in exclude_events.split(",") if e}

        files = find_jsonl([Path(raw) for raw in paths], splits=frozenset(s.lower() for s in split))
        batches = []
        for file in files:
            event = crisis_name_of(file)
            if (only and event not in only) or event in excluded:
                continue
            posts = read_idrisi(file)
            if posts:
                batches.append((event, specs.get(event, default), posts))
        if not batches:
            raise CommandError(
                f"No post with a gold location found in {len(files)} JSONL file(s) under {', '.join(paths)}"
                + (f" (splits {', '.join(split)})" if split else "")
                + ": nothing to evaluate. Expected IDRISI-D lines with text and location_mentions."
            )
        unset = sorted({event for event, spec, _ in batches if not spec.countries and spec.bbox is None})
        if unset:
            self.stderr.write(f"no countries set for: {', '.join(unset)} (evaluated without a crisis prior)")

        started = time.perf_counter()
        locator = geolocator_preload()
        if not len(locator.index):
            raise CommandError("The gazetteer is empty: run manage.py build_gazetteer first.")
        self.stdout.write(
            f"gazetteer: {len(locator.index)} places, {locator.index.name_count()} names, "
            f"loaded in {time.perf_counter() - started:.1f} s, RSS {max_rss_mb():.0f} MB"
        )
        jobs, names = [], []
        for event, spec, posts in batches:
            words = " ".join(part for part in event.split("_") if not part.isdigit())
            located = None if options["no_crisis_posts"] else CrisisPlaces()
            context = locator.context(
                name=words, countries=spec.countries, area_geojson=spec.area_geojson(), located=located
            )
            jobs.append((context, posts))
            names.append(event)

        global _LOCATOR
        _LOCATOR = locator
        chunks = [(context, posts[i::workers]) for context, posts in jobs for i in range(workers)]
        started = time.perf_counter()
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.map(_run, chunks)
        else:
            results = [_run(chunk) for chunk in chunks]
        seconds = time.perf_counter() - started
        cpu_seconds = sum(cpu for _, cpu in results)
        results = [outcomes for outcomes, _ in results]

        everything = []
        for n, name in enumerate(names):
            outcomes = [o for r in results[n * workers : (n + 1) * workers] for o in r]
            everything += outcomes
            s = summarise(outcomes, 0)
            self.stdout.write(
                f"{name:34} posts {s['posts']:5}  acc@161 {s['acc_161']:.3f}  acc@25 {s['acc_25']:.3f}  "
                f"median {s['median_km']:8.1f} km  coverage {s['coverage']:.3f}  in radius {s['inside_radius']:.3f}"
            )
        s = summarise(everything, seconds)
        self.stdout.write(
            f"ALL posts {s['posts']}  acc@161 {s['acc_161']:.3f}  acc@25 {s['acc_25']:.3f}  "
            f"median {s['median_km']:.1f} km  coverage {s['coverage']:.3f}  "
            f"(acc@161 on covered posts {s['acc_161_covered']:.3f}; vs nearest gold mention {s['acc_161_any']:.3f})"
        )
        self.stdout.write(
            f"mentions: precision {_figure(s['mention_precision'])}  recall {_figure(s['mention_recall'])}  "
            f"resolution acc@161 {_figure(s['mention_acc_161'])}  acc@25 {_figure(s['mention_acc_25'])} "
            f"(of the gold mentions found)"
        )
        self.stdout.write(
            f"radius calibration: {s['inside_radius']:.3f} of gold points inside the stated 68% circle "
            f"({s['inside_radius_covered']:.3f} of the located posts; target 0.68 +- 0.05)"
        )
        per_cpu_s = len(everything) / cpu_seconds if cpu_seconds else 0.0
        # CPU time is what a shared machine cannot steal: posts per CPU-second times two is what two idle
        # cores give; the wall-clock rate depends on whoever else is running.
        self.stdout.write(
            f"speed {s['posts_per_s']:.0f} posts/s wall clock with {workers} worker(s) on {os.cpu_count()} CPUs "
            f"(load average {os.getloadavg()[0]:.1f}); {per_cpu_s:.0f} posts per CPU-second "
            f"(two idle cores: ~{2 * per_cpu_s:.0f} posts/s); after the gazetteer loaded; "
            f"max RSS {max_rss_mb():.0f} MB per process"
        )
        for outcome in sorted(everything, key=lambda o: -o["error_km"])[:show_errors]:
            self.stdout.write(f"  {outcome['error_km']:8.0f} km  {outcome['spans']}  {outcome['text'][:100]!r}")
