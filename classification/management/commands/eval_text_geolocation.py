"""Post-level accuracy of text geolocation on IDRISI-D style JSONL files (tweets with gold location mentions).

    python manage.py eval_text_geolocation ../shared/data/geo/idrisi/LMD/data/EN \
        --countries-for hurricane_harvey_2017=US --countries-for kerala_floods_2018=IN ...

A directory stands for every ``*/train.jsonl`` below it. Each file is one crisis: its name is the folder name
("hurricane_harvey_2017" -> stop words "hurricane", "harvey"), its countries come from --countries-for or
--countries, as a coordinator would set them on the crisis.
"""

import multiprocessing
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.geolocation.evaluation import evaluate, max_rss_mb, read_idrisi, summarise
from classification.geolocation.loader import geolocator

_LOCATOR = None  # set in the parent before forking: workers share the loaded gazetteer copy-on-write


def _run(job):
    context, posts = job
    cpu = time.process_time()
    outcomes = evaluate(_LOCATOR, posts, context)
    return outcomes, time.process_time() - cpu


class Command(BaseCommand):
    help = "Evaluate text geolocation on IDRISI-format JSONL: accuracy@161 km and @25 km, median error, speed."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="JSONL files, or folders searched for */train.jsonl")
        parser.add_argument("--countries", default="", help="Crisis countries for every file, e.g. US,MX")
        parser.add_argument("--countries-for", action="append", default=[], metavar="EVENT=CC[,CC]")
        parser.add_argument("--workers", type=int, default=1, help="Processes (forked after the gazetteer loads)")
        parser.add_argument("--show-errors", type=int, default=0, help="Print this many wrong posts")

    def handle(self, *args, paths, countries, countries_for, workers, show_errors, **options):
        files = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files += sorted(path.glob("*/train.jsonl")) or sorted(path.glob("*.jsonl"))
            elif path.exists():
                files.append(path)
            else:
                raise CommandError(f"{path} does not exist (the shared data is not in a fresh clone)")
        per_event = dict(item.split("=", 1) for item in countries_for)
        started = time.perf_counter()
        locator = geolocator()
        if not len(locator.index):
            raise CommandError("The gazetteer is empty: run manage.py build_gazetteer first.")
        load_s = time.perf_counter() - started
        self.stdout.write(
            f"gazetteer: {len(locator.index)} places, {len(locator.index.names)} names, "
            f"loaded in {load_s:.1f} s, RSS {max_rss_mb():.0f} MB"
        )

        jobs, names = [], []
        for file in files:
            event = file.parent.name if file.name == "train.jsonl" else file.stem
            codes = [c for c in per_event.get(event, countries).split(",") if c]
            words = " ".join(part for part in event.split("_") if not part.isdigit())
            jobs.append((locator.context(name=words, countries=codes), read_idrisi(file)))
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
                f"median {s['median_km']:8.1f} km  coverage {s['coverage']:.3f}"
            )
        s = summarise(everything, seconds)
        self.stdout.write(
            f"ALL posts {s['posts']}  acc@161 {s['acc_161']:.3f}  acc@25 {s['acc_25']:.3f}  "
            f"median {s['median_km']:.1f} km  coverage {s['coverage']:.3f}  "
            f"(acc@161 on covered posts {s['acc_161_covered']:.3f}; vs nearest gold mention {s['acc_161_any']:.3f})"
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
