"""Train the cold-start geolocatability head on a labelled folder and record how (data, split, seed, metrics)."""

import shlex
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand
from django.utils import timezone

from classification.difficulty.folder_eval import grouped_split
from classification.difficulty.geolocatability import (
    COLD_START_EVIDENCE_WEIGHTS,
    HeadKind,
    cross_validated_ease,
    ease_metrics,
    head_fit,
)
from classification.difficulty.metrics import MetricWithInterval
from classification.management.geolocatability_command import (
    folder_arguments,
    folder_embeddings,
    folder_from_options,
    package_versions,
)

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "difficulty" / "coldstart" / "lite0_head.json"


class Command(BaseCommand):
    help = (
        "Train the cold-start geolocatability head (a linear head on frozen Lite0 embeddings) on a labelled folder: "
        "fit on the training part of a grouped split, measure on the validation part, and write the weights with "
        "their record (data, split, seed, metrics)."
    )

    def add_arguments(self, parser):
        folder_arguments(parser)
        parser.add_argument("--validation-share", type=float, default=0.25)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--folds", type=int, default=5, help="Grouped cross-validation of the same recipe.")
        parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"Head file (default {DEFAULT_OUT}).")

    def handle(self, *args, **options):
        folder = folder_from_options(options)
        self.stdout.write(
            f"{len(folder)} images, {int(folder.labels.sum())} {options['positive_label']}, "
            f"{len(set(folder.groups))} groups"
        )
        embedder, vectors = folder_embeddings(folder, options, self.stdout)
        seed = options["seed"]
        train, validation = grouped_split(folder, validation_share=options["validation_share"], seed=seed)
        head = head_fit(
            vectors[train],
            folder.labels[train],
            groups=[folder.groups[i] for i in train],
            kind=HeadKind.COLD_START,
            backbone=embedder.backbone,
            views=embedder.views,
            evidence_weights=COLD_START_EVIDENCE_WEIGHTS,
            seed=seed,
        )
        ease = np.array([e.ease for e in head.estimate(vectors[validation])])
        validation_metrics = ease_metrics(folder.labels[validation], ease, seed=seed)
        cross_ease = cross_validated_ease(vectors, folder.labels, folder.groups, folds=options["folds"], seed=seed)
        cross_metrics = ease_metrics(folder.labels, cross_ease, seed=seed)
        head.record.update(
            {
                "trained_by": _command_line(options),
                "created_at": timezone.now().isoformat(timespec="seconds"),
                "data": {
                    "folder": folder.root.name,
                    "labels_sha256": folder.labels_sha256,
                    "images": len(folder),
                    "positive_label": folder.positive_label,
                    "positives": int(folder.labels.sum()),
                    "groups": len(set(folder.groups)),
                    "group_by": options["group_column"] or options["group_pattern"] or "file",
                    "group_column": options["group_column"] or "",
                    "group_pattern": options["group_pattern"] or "",
                },
                "split": {
                    "validation_share": options["validation_share"],
                    "seed": seed,
                    "train_images": len(train),
                    "validation_images": len(validation),
                    "train_groups": len({folder.groups[i] for i in train}),
                    "validation_groups": len({folder.groups[i] for i in validation}),
                    "validation_files_sha256": folder.files_sha256(validation),
                },
                "embedding": {
                    "backbone": embedder.backbone,
                    "weights": embedder.info.weights,
                    "views": embedder.views,
                    "image_size": embedder.info.image_size,
                },
                "validation_metrics": validation_metrics,
                "cross_validation": {"folds": options["folds"], "seed": seed, "metrics": cross_metrics},
                "evidence_weights": "stated priors (classification/difficulty/geolocatability.py), not fitted",
                "versions": package_versions(),
            }
        )
        path = head.save(options["out"])
        self.stdout.write(
            f"validation part ({len(validation)} images, groups never trained on): accuracy "
            f"{_interval(validation_metrics['accuracy'])}, ROC AUC {_interval(validation_metrics['roc_auc'])}, "
            f"precision of easy in the top 20% {validation_metrics['precision_easy_top_20']:.3f}\n"
            f"grouped {options['folds']}-fold cross-validation of the recipe: accuracy "
            f"{cross_metrics['accuracy']['value']:.3f}\nC = {head.regularisation_c}"
        )
        self.stdout.write(self.style.SUCCESS(f"Head written to {path}"))


REPRODUCING_OPTIONS = (
    "csv", "image_folder", "path_column", "label_column", "positive_label", "group_column", "group_pattern",
    "backbone", "validation_share", "seed", "folds",
)  # fmt: skip


def _command_line(options: dict) -> str:
    """The command that makes this head again (the folder as given, every option that changes the result)."""
    parts = ["python", "manage.py", "train_cold_start_difficulty", str(options["folder"])]
    for name in REPRODUCING_OPTIONS:
        if options.get(name) not in (None, ""):
            parts += [f"--{name.replace('_', '-')}", str(options[name])]
    return shlex.join(parts)


def _interval(metric: dict) -> str:
    return str(MetricWithInterval(metric.get("value"), metric.get("low"), metric.get("high")))
