"""Precision and recall of the relevance filter's drop decision on a labelled image folder.

    python manage.py eval_relevance ../shared/data/images/disaster_social [--ocr]

The folder holds ``labels.csv`` (columns ``file`` and ``disaster_types``); an image should be dropped when its
label is ``not_disaster``.
"""

import csv
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from classification.relevance import rules
from classification.relevance.ocr import ocr_engine, read_text
from classification.services import relevance_thresholds


class Command(BaseCommand):
    help = "Evaluate the relevance rules on a labelled folder: precision/recall of dropping, images per second."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--ocr", action="store_true", help="Also run OCR (mostly-text rule)")
        parser.add_argument("--label-column", default="disaster_types")
        parser.add_argument("--drop-value", default="not_disaster")

    def handle(self, *args, folder, ocr, label_column, drop_value, **options):
        root = Path(folder)
        labels = root / "labels.csv"
        if not labels.exists():
            raise CommandError(f"{labels} not found (the shared data is not in a fresh clone)")
        with labels.open(encoding="utf-8") as source:
            rows = [row for row in csv.DictReader(source) if row.get(label_column)]
        engine = ocr_engine() if ocr else None
        if ocr and engine is None:
            raise CommandError("--ocr needs rapidocr-onnxruntime")
        ocr_call = (lambda image: read_text(image, engine=engine)) if engine else None
        counts, rules_fired = Counter(), Counter()
        started = time.perf_counter()
        for row in rows:
            with Image.open(root / row["file"]) as image:
                image.load()
                verdict = rules.judge(image, thresholds=relevance_thresholds(), ocr=ocr_call)
            should_drop = row[label_column] == drop_value
            counts[(verdict.drop, should_drop)] += 1
            if verdict.drop:
                rules_fired[(verdict.rule, should_drop)] += 1
        seconds = time.perf_counter() - started
        tp, fp = counts[(True, True)], counts[(True, False)]
        fn, tn = counts[(False, True)], counts[(False, False)]
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        self.stdout.write(f"images {len(rows)}  to drop {tp + fn}  to keep {fp + tn}  (OCR {'on' if ocr else 'off'})")
        self.stdout.write(f"dropped correctly {tp}  wrongly {fp}  missed {fn}  kept correctly {tn}")
        self.stdout.write(
            f"drop precision {precision:.3f}  recall {recall:.3f}  relevant images lost {fp / ((fp + tn) or 1):.3f}"
        )
        for (rule, right), n in sorted(rules_fired.items()):
            self.stdout.write(f"  rule {rule:12} {'right' if right else 'WRONG'} {n}")
        self.stdout.write(f"speed {len(rows) / seconds:.1f} images/s")
