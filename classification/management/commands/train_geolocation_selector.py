"""Train the learned option selector of text geolocation on IDRISI-D style JSONL and write its weights.

    python manage.py train_geolocation_selector ../shared/data/geo/idrisi/LMD/data/EN \
        --crises classification/geolocation/eval_crises/idrisi_en.yaml

Reads the posts like ``eval_text_geolocation`` (every ``*.jsonl`` below a folder, one crisis per event folder, its
countries from ``--crises``), prepares each post's options with the current gazetteer and rules, fits a conditional
logit on every event and, one event at a time, on the others (leave-events-out). Writes the weights with the data
it saw, the seed, the regularisation and both figures to ``--out`` (default: the packaged selector_weights.json).
"""

import datetime
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.geolocation import selector_training
from classification.geolocation.crisis_places import CrisisPlaces
from classification.geolocation.evaluation import CrisisSpec, crisis_name_of, find_jsonl, read_idrisi
from classification.geolocation.loader import geolocator_preload
from classification.geolocation.selector import FEATURES, PACKAGED_WEIGHTS
from classification.management.commands.eval_text_geolocation import checked_inputs


class Command(BaseCommand):
    help = "Train the text-geolocation option selector (conditional logit) with leave-events-out figures."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="JSONL files, or folders searched for *.jsonl")
        parser.add_argument("--split", action="append", default=[], help="Only these splits (train, dev, test)")
        parser.add_argument("--crises", type=Path, help="YAML or CSV: per-crisis countries and optional bbox")
        parser.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the weights")
        parser.add_argument("--seed", type=int, default=13, help="Recorded; the fit itself is deterministic")
        parser.add_argument("--out", type=Path, default=PACKAGED_WEIGHTS, help="Where the weights JSON goes")
        parser.add_argument("--dry-run", action="store_true", help="Print the figures, write nothing")
        parser.add_argument(
            "--no-crisis-posts",
            action="store_true",
            help="Leave out the crisis-level prior (each post sees the answers of the crisis's earlier posts)",
        )

    def handle(self, *args, paths, split, crises, l2, seed, out, dry_run, **options):
        specs = checked_inputs(paths, crises)
        files = find_jsonl([Path(raw) for raw in paths], splits=frozenset(s.lower() for s in split))
        batches = [(crisis_name_of(f), read_idrisi(f)) for f in files]
        batches = [(event, posts) for event, posts in batches if posts]
        if len({event for event, _ in batches}) < 2:
            raise CommandError(
                f"Found {sum(len(p) for _, p in batches)} posts with a gold location in {len(files)} JSONL file(s): "
                "training and a leave-events-out figure need posts of at least two events."
            )
        locator = geolocator_preload()
        if not len(locator.index):
            raise CommandError("The gazetteer is empty: run manage.py build_gazetteer first.")

        started = time.perf_counter()
        data = selector_training.SelectorData()
        for event, posts in batches:
            spec = specs.get(event, CrisisSpec())
            words = " ".join(part for part in event.split("_") if not part.isdigit())
            located = None if options["no_crisis_posts"] else CrisisPlaces()
            context = locator.context(
                name=words, countries=spec.countries, area_geojson=spec.area_geojson(), located=located
            )
            data.add_event(locator, event, posts, context)
        self.stdout.write(f"{len(data)} posts of {len(set(data.events))} events prepared in "
                          f"{time.perf_counter() - started:.0f} s")  # fmt: skip

        everything = list(range(len(data)))
        weights = selector_training.fit(data, everything, l2=l2)
        held_out = selector_training.leave_events_out(data, l2=l2)
        figures = {
            "rules_all_events": selector_training.accuracy(data, everything, None),
            "selector_all_events_in_sample": selector_training.accuracy(data, everything, weights),
            "selector_leave_one_event_out": held_out["all"],
            "per_event_leave_one_event_out": held_out["per_event"],
        }
        for event, row in held_out["per_event"].items():
            self.stdout.write(
                f"{event:34} posts {row['rules']['posts']:5}  rules {row['rules']['acc_161']:.3f} / "
                f"{row['rules']['acc_25']:.3f}   held-out selector {row['selector']['acc_161']:.3f} / "
                f"{row['selector']['acc_25']:.3f}"
            )
        for name in ("rules_all_events", "selector_all_events_in_sample", "selector_leave_one_event_out"):
            row = figures[name]
            self.stdout.write(f"{name:34} acc@161 {row['acc_161']:.3f}  acc@25 {row['acc_25']:.3f}")
        if dry_run:
            return
        document = {
            "version": f"selector-{datetime.date.today().isoformat()}",
            "model": "conditional logit over a post's options (softmax of weights . features)",
            "trained_on": {
                "paths": [Path(raw).name for raw in paths],
                "splits": split or ["all found"],
                "events": sorted(set(data.events)),
                "posts": len(data),
                "crises_file": crises.name if crises else None,
                "gold": "the most specific gold mention of each post (highest OSM place_rank, first on ties)",
            },
            "seed": seed,
            "l2": l2,
            "metrics": figures,
            "weights": {name: round(float(value), 6) for name, value in zip(FEATURES, weights, strict=True)},
        }
        out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        self.stdout.write(f"weights written to {out}")
