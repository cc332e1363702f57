"""Measure the geolocatability estimators on a labelled folder: the shipped cold start, a rule with no training, the
in-crisis learner's grouped cross-validation and its learning curve, and baselines from the folder's columns."""

import json
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from classification.difficulty.folder_eval import grouped_split
from classification.difficulty.geolocatability import (
    GeolocatabilityHead,
    HeadKind,
    cross_validated_ease,
    ease_metrics,
    head_fit,
)
from classification.difficulty.metrics import MetricWithInterval
from classification.difficulty.scene import EASIER, SCENE_GROUPS, scene_shares
from classification.management.geolocatability_command import (
    folder_arguments,
    folder_embeddings,
    folder_from_options,
    package_versions,
)


def _line(name: str, metrics: dict) -> str:
    accuracy = metrics["accuracy"]
    interval = str(MetricWithInterval(accuracy["value"], accuracy.get("low"), accuracy.get("high")))
    auc = metrics["roc_auc"]["value"]
    top = metrics["precision_easy_top_20"]
    return (
        f"{name:58} accuracy {interval:24} ROC AUC {'-' if auc is None else f'{auc:.3f}':6} "
        f"easy in the first 20% {'-' if top is None else f'{top:.3f}'}  (n={metrics['count']})"
    )


class Command(BaseCommand):
    help = (
        "Measure the geolocatability estimators on a labelled folder (easy vs difficult): the cold-start head, a "
        "scene-cue rule with no training, baselines from CSV columns, and the in-crisis learner (grouped k-fold "
        "cross-validation and a learning curve). Precision of easy among the top 20% by ease is what volunteers "
        "meet first."
    )

    def add_arguments(self, parser):
        folder_arguments(parser)
        parser.add_argument(
            "--head", default=None, help="Cold-start head to measure (default DIFFICULTY_COLD_START_HEAD)."
        )
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--seeds", type=int, default=3, help="Repetitions of the cross-validation.")
        parser.add_argument(
            "--baseline",
            action="append",
            default=[],
            metavar="COLUMN=VALUE",
            help="A rule baseline: easy exactly when the CSV column has this value (repeatable).",
        )
        parser.add_argument(
            "--learning-curve",
            default="30,60,120,240",
            help="Training sizes for the learner, each trained on a draw from the head's training part and measured "
            "on its validation part (empty: skip).",
        )
        parser.add_argument("--out", default=None, help="Folder for report.json (default VAR_DIR/difficulty_eval).")

    def handle(self, *args, **options):
        folder = folder_from_options(options)
        head_path = Path(options["head"] or settings.DIFFICULTY_COLD_START_HEAD)
        try:
            head = GeolocatabilityHead.load(head_path)
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the head {head_path}: {error}") from error
        embedder, vectors = folder_embeddings(folder, options, self.stdout)
        labels, report = folder.labels, {"folder": str(folder.root), "images": len(folder), "results": {}}
        results = report["results"]
        write = self.stdout.write

        # 1. The shipped cold start. On its own training folder only the recorded validation part is clean.
        ease = np.array([e.ease for e in head.estimate(vectors)])
        split = head.record.get("split", {})
        train, validation = (None, None)
        if head.record.get("data", {}).get("labels_sha256") == folder.labels_sha256 and split:
            train, validation = grouped_split(folder, validation_share=split["validation_share"], seed=split["seed"])
            if folder.files_sha256(validation) != split.get("validation_files_sha256"):
                raise CommandError("This folder's split differs from the one the head recorded: not comparable.")
            results["cold_start_validation"] = ease_metrics(labels[validation], ease[validation])
            write(_line("cold start, validation part (groups never trained on)", results["cold_start_validation"]))
            write("  (the head was trained on the rest of this folder: figures on all of it would be optimistic)")
        else:
            results["cold_start"] = ease_metrics(labels, ease)
            write(_line("cold start (never trained on this folder)", results["cold_start"]))
        scope = validation if validation is not None else np.arange(len(folder))

        # 2. No training at all: the scene cues' easier share against their harder share.
        probabilities = embedder.imagenet_probabilities(vectors)
        shares = scene_shares(probabilities)
        easier = np.array([kind == EASIER for kind, _ in SCENE_GROUPS.values()])
        rule = 1 / (1 + np.exp(-8 * (shares[:, easier].sum(1) - shares[:, ~easier].sum(1))))
        results["scene_cue_rule"] = ease_metrics(labels[scope], rule[scope])
        write(_line("scene cues, no training (easier cues outweigh harder)", results["scene_cue_rule"]))

        # 3. Baselines from the folder's own columns.
        for spec in options["baseline"]:
            column, _, value = spec.partition("=")
            if column not in folder.columns:
                raise CommandError(f"--baseline {spec}: no column {column!r} in the CSV")
            guess = np.array([float(v == value) for v in folder.columns[column]])
            results[f"rule {spec}"] = ease_metrics(labels[scope], np.clip(guess[scope], 0.01, 0.99))
            write(_line(f"rule: easy when {column} = {value}", results[f"rule {spec}"]))

        # 4. The in-crisis learner: grouped k-fold cross-validation over the whole folder, repeated.
        accuracies, folds = [], []
        for seed in range(options["seeds"]):
            out_of_fold = cross_validated_ease(vectors, labels, folder.groups, folds=options["folds"], seed=seed)
            metrics = ease_metrics(labels, out_of_fold, seed=seed)
            accuracies.append(metrics["accuracy"]["value"])
            folds.append(metrics)
        results["learner_cross_validation"] = {
            "folds": options["folds"],
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_sd": float(np.std(accuracies)),
            "runs": folds,
        }
        write(_line(f"in-crisis learner, grouped {options['folds']}-fold CV (seed 0)", folds[0]))
        write(
            f"  over {options['seeds']} seeds: accuracy {np.mean(accuracies):.3f} ± {np.std(accuracies):.3f}; "
            f"easy in the first 20% {np.mean([m['precision_easy_top_20'] for m in folds]):.3f}"
        )

        # 5. Learning curve: how many of a crisis's ratings the learner needs to match the cold start.
        sizes = [int(n) for n in options["learning_curve"].split(",") if n.strip()]
        if sizes and train is not None:
            curve = {}
            rng = np.random.default_rng(0)
            for size in sizes:
                if size > len(train):
                    continue
                draws = []
                for _ in range(5):
                    chosen = rng.choice(train, size=size, replace=False)
                    if len(set(labels[chosen])) < 2:
                        continue
                    learned = head_fit(
                        vectors[chosen],
                        labels[chosen],
                        groups=[folder.groups[i] for i in chosen],
                        kind=HeadKind.CRISIS,
                        backbone=embedder.backbone,
                        views=embedder.views,
                    )
                    predicted = np.array([e.ease for e in learned.estimate(vectors[validation])])
                    draws.append(ease_metrics(labels[validation], predicted, bootstrap=0)["accuracy"]["value"])
                curve[size] = {"accuracy_mean": float(np.mean(draws)), "accuracy_sd": float(np.std(draws))}
                write(
                    f"  learner from {size:4} ratings, on the validation part: accuracy "
                    f"{np.mean(draws):.3f} ± {np.std(draws):.3f} (5 draws)"
                )
            results["learning_curve"] = curve

        report.update(
            {
                "head": str(head_path),
                "created_at": timezone.now().isoformat(timespec="seconds"),
                "versions": package_versions(),
            }
        )
        out = Path(options["out"]) if options["out"] else settings.VAR_DIR / "difficulty_eval"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"report-{folder.root.name}.json"
        path.write_text(json.dumps(report, indent=1, default=str))
        write(self.style.SUCCESS(f"Report: {path}"))
