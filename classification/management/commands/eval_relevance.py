"""Precision and recall of the relevance filter's drop decision on a labelled image folder, rules alone and rules
followed by the image classifier, side by side.

    python manage.py eval_relevance ../shared/data/images/disaster_social [--ocr]
    python manage.py eval_relevance ../shared/data/images/disaster_social --train --lite0-package --epochs 5
    python manage.py eval_relevance FOLDER --checkpoint var/relevance_eval/<time>/model.pt   (or --active-model)

The folder holds ``labels.csv`` (columns ``file`` and ``disaster_types``); an image should be dropped when its
label is ``not_disaster``. ``--train`` trains a classifier on part of the folder (split by duplicate group) and
evaluates both layers on the held-out rest; ``--checkpoint``, ``--model-version`` and ``--active-model`` evaluate an
existing classifier on the whole folder.
"""

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from classification.management.training_command import backbone_choice_from_options, evaluation_out_dir
from classification.relevance import rules
from classification.relevance.evaluation import DropCounts
from classification.relevance.ocr import ocr_engine, read_text
from classification.services import relevance_thresholds

SWEEP_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass
class Judged:
    path: Path
    should_drop: bool
    rule: str  # the rule that dropped it, or ""
    not_relevant_probability: float | None  # the classifier's, every view agreeing, for images the rules kept
    whole_probability: float | None = None  # the whole image's alone (no second look)


class Command(BaseCommand):
    help = (
        "Evaluate the relevance filter on a labelled folder: precision/recall of dropping and images per second, "
        "for the rules alone and (with --train, --checkpoint, --model-version or --active-model) rules + classifier."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--ocr", action="store_true", help="Also run OCR (mostly-text rule)")
        parser.add_argument("--label-column", default="disaster_types")
        parser.add_argument("--drop-value", default="not_disaster")
        classifier = parser.add_argument_group("classifier (one of)")
        classifier.add_argument("--checkpoint", type=Path, help="a relevance model.pt")
        classifier.add_argument("--model-version", type=int, help="a relevance ModelVersion id")
        classifier.add_argument("--active-model", action="store_true", help="the active global relevance version")
        classifier.add_argument("--train", action="store_true", help="train on part of the folder, test on the rest")
        classifier.add_argument(
            "--leave-one-event-out",
            action="store_true",
            help="for each event: train on the other events, test on it (per-crisis thresholds cross-fitted)",
        )
        classifier.add_argument("--event-column", default="event_or_folder", help="the event of each image")
        classifier.add_argument(
            "--target-held-back", type=float, help="share of relevant images a crisis threshold may hold back"
        )
        classifier.add_argument(
            "--scores-out", type=Path, help="--leave-one-event-out: write every image's rule and score (CSV)"
        )
        classifier.add_argument(
            "--scores-in",
            type=Path,
            help="--leave-one-event-out: judge the scores a --scores-out run wrote instead of training again",
        )
        classifier.add_argument(
            "--threshold", type=float, help="p(not relevant) at which the classifier drops (RELEVANCE_DROP_THRESHOLD)"
        )
        classifier.add_argument(
            "--show-errors", action="store_true", help="list the relevant images the classifier drops, with p"
        )
        classifier.add_argument("--device", default="cpu")
        classifier.add_argument("--threads", type=int, help="torch CPU threads (1 wins on a busy box)")
        training = parser.add_argument_group("training (--train)")
        training.add_argument("--holdout", type=float, default=0.3, help="share of the folder held out for the test")
        training.add_argument("--backbone", default="tf_efficientnet_lite0", help="timm model name")
        training.add_argument("--lite0-package", action="store_true", help="Lite0 with the packaged ImageNet weights")
        training.add_argument("--weights", type=Path, help="local timm state dict for the backbone")
        training.add_argument("--no-hub", action="store_true", help="never try the model hub")
        training.add_argument("--random-init", action="store_true", help="allow random weights when none are found")
        training.add_argument("--image-size", type=int)
        training.add_argument("--epochs", type=int, default=5, help="epochs of each of the two stages")
        training.add_argument("--batch-size", type=int, default=16)
        training.add_argument("--seed", type=int, default=13, help="split and training seed")
        training.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
        training.add_argument("--out", type=Path, help="where to write model.pt, curves.png, report.json")
        training.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        root = Path(options["folder"])
        labels = root / "labels.csv"
        if not labels.exists():
            raise CommandError(f"{labels} not found (the shared data is not in a fresh clone)")
        label_column, drop_value = options["label_column"], options["drop_value"]
        with labels.open(encoding="utf-8") as source:
            table = [row for row in csv.DictReader(source) if row.get(label_column)]
        rows = [(root / row["file"], row[label_column] == drop_value) for row in table]
        if options["leave_one_event_out"]:
            events = [row.get(options["event_column"]) or "" for row in table]
            if len(set(events)) < 2:
                raise CommandError(
                    f"--leave-one-event-out needs two events or more in column {options['event_column']}"
                )
            if options["threads"]:
                import torch

                torch.set_num_threads(options["threads"])
            self.leave_one_event_out(list(zip(rows, events, strict=True)), options)
            return
        sources = [options["checkpoint"], options["model_version"], options["active_model"], options["train"]]
        if sum(bool(source) for source in sources) > 1:
            raise CommandError("Give at most one of --checkpoint, --model-version, --active-model, --train.")
        if options["threads"]:
            import torch

            torch.set_num_threads(options["threads"])
        classifier, scope = None, "the whole folder"
        if options["train"]:
            classifier, rows = self.train_on_part(rows, options)
            scope = f"the held-out {options['holdout']:.0%} of the folder (split by duplicate group)"
        elif any(sources):
            classifier = self.classifier_load(options)
            scope += "; optimistic if the classifier was trained on it"
        threshold = options["threshold"] if options["threshold"] is not None else settings.RELEVANCE_DROP_THRESHOLD
        engine = ocr_engine() if options["ocr"] else None
        if options["ocr"] and engine is None:
            raise CommandError("--ocr needs rapidocr-onnxruntime")
        ocr_call = (lambda image: read_text(image, engine=engine)) if engine else None

        judged, rules_seconds, classifier_seconds = [], 0.0, 0.0
        for path, should_drop in rows:
            started = time.perf_counter()
            with Image.open(path) as image:
                image.load()
                verdict = rules.judge(image, thresholds=relevance_thresholds(), ocr=ocr_call)
                rules_seconds += time.perf_counter() - started
                probability = None
                whole = None
                if classifier is not None and not verdict.drop:
                    started = time.perf_counter()
                    # One image at a time on the decoded image, as the pipeline's relevance step scores it.
                    probability, whole = agreed_score(classifier, image, options)
                    classifier_seconds += time.perf_counter() - started
            judged.append(Judged(path, should_drop, verdict.rule, probability, whole))

        rules_only = drop_counts(judged, threshold=None)
        self.stdout.write(
            f"images {len(judged)}  to drop {rules_only.dropped_right + rules_only.missed}  "
            f"to keep {rules_only.dropped_wrongly + rules_only.kept_right}  (OCR {'on' if engine else 'off'}; "
            f"evaluated on {scope})"
        )
        if classifier is None:
            self.rules_only_report(rules_only, judged, images_per_second=len(judged) / rules_seconds)
            return
        self.side_by_side_report(
            rules_only,
            drop_counts(judged, threshold=threshold),
            threshold=threshold,
            speeds=(len(judged) / rules_seconds, len(judged) / (rules_seconds + classifier_seconds)),
        )
        self.stdout.write("classifier threshold sweep (rules + classifier):")
        for sweep_threshold in SWEEP_THRESHOLDS:
            counts = drop_counts(judged, threshold=sweep_threshold)
            self.stdout.write(
                f"  p >= {sweep_threshold:.2f}  drop precision {counts.precision:.3f}  recall {counts.recall:.3f}  "
                f"relevant images lost {counts.relevant_lost:.3f}  (dropped right {counts.dropped_right}, "
                f"wrongly {counts.dropped_wrongly})"
            )
        for rule, right, count in rules_fired(judged, threshold=threshold):
            self.stdout.write(f"  rule {rule:12} {'right' if right else 'WRONG'} {count}")
        if options["show_errors"]:
            wrongly = [item for item in judged if not item.should_drop and (item.not_relevant_probability or 0) >= 0.5]
            for item in sorted(wrongly, key=lambda item: -item.not_relevant_probability):
                self.stdout.write(f"  relevant, p(not relevant) {item.not_relevant_probability:.3f}: {item.path}")

    def judge_all(self, rows: list[tuple[Path, bool]], classifier, options) -> list[Judged]:
        judged = []
        for path, should_drop in rows:
            with Image.open(path) as image:
                image.load()
                verdict = rules.judge(image, thresholds=relevance_thresholds())
                probability = whole = None
                if classifier is not None and not verdict.drop:
                    probability, whole = agreed_score(classifier, image, options)
            judged.append(Judged(path, should_drop, verdict.rule, probability, whole))
        return judged

    def leave_one_event_out(self, rows: list[tuple[tuple[Path, bool], str]], options) -> None:
        """Each event in turn is the new crisis: the classifier is trained on the other events only. Its threshold
        is chosen from its own labels as the platform does (``hold_back_threshold``), cross-fitted: the event's
        images are halved by duplicate group, each half's threshold is chosen on the other half's labels, and
        every image is judged once with a threshold its own label did not set."""
        from classification.relevance.threshold import hold_back_threshold

        target = (
            options["target_held_back"]
            if options["target_held_back"] is not None
            else settings.RELEVANCE_HELD_BACK_TARGET
        )
        default = options["threshold"] if options["threshold"] is not None else settings.RELEVANCE_DROP_THRESHOLD
        totals = {"crisis": DropCounts(), "default": DropCounts(), "whole": DropCounts(), "rules": DropCounts()}
        saved = scores_read(options["scores_in"]) if options["scores_in"] else None
        written = []
        for event in sorted({event for _, event in rows}):
            tested = [row for row, e in rows if e == event]
            trained = [row for row, e in rows if e != event]
            if saved is not None:
                judged = [saved_judged(saved, path, should_drop) for path, should_drop in tested]
            else:
                classifier = self.train_on_rows(trained, tested, options)
                judged = self.judge_all(tested, classifier, options)
            written += [(event, item) for item in judged]
            halves = (judged[0::2], judged[1::2])
            crisis = DropCounts()
            for n, half in enumerate(halves):
                other = halves[1 - n]
                choice = hold_back_threshold(
                    [j.not_relevant_probability for j in other if not j.should_drop and j.not_relevant_probability],
                    [j.not_relevant_probability for j in other if j.should_drop and j.not_relevant_probability],
                    target=target,
                    default=default,
                )
                for item in half:
                    crisis.add(dropped=held_back(item, choice.threshold), should_drop=item.should_drop)
            at_default = drop_counts(judged, threshold=default)
            whole_only = drop_counts(judged, threshold=default, whole_image=True)
            rules_only = drop_counts(judged, threshold=None)
            for name, counts in (
                ("crisis", crisis),
                ("default", at_default),
                ("whole", whole_only),
                ("rules", rules_only),
            ):
                for field in ("dropped_right", "dropped_wrongly", "missed", "kept_right"):
                    setattr(totals[name], field, getattr(totals[name], field) + getattr(counts, field))
            self.stdout.write(
                f"{event:24} images {len(judged):4}  {loeo_line('crisis threshold', crisis)}  |  "
                f"{loeo_line(f'p >= {default:.2f}', at_default)}  |  "
                f"{loeo_line('whole image only', whole_only)}  |  {loeo_line('rules only', rules_only)}"
            )
        self.stdout.write(
            f"{'ALL':24} images {totals['crisis'].images:4}  {loeo_line('crisis threshold', totals['crisis'])}  |  "
            f"{loeo_line(f'p >= {default:.2f}', totals['default'])}  |  "
            f"{loeo_line('whole image only', totals['whole'])}  |  {loeo_line('rules only', totals['rules'])}"
        )
        self.stdout.write(
            f"(held back: dropped by a rule or held back by the classifier, every view of the image agreeing; "
            f"'whole image only': without that second look; target {target:.0%} of the relevant images held back, "
            f"at least 60% of the irrelevant caught)"
        )
        if options["scores_out"]:
            scores_write(options["scores_out"], written)
            self.stdout.write(f"wrote {options['scores_out']}")

    def train_on_rows(self, trained: list[tuple[Path, bool]], tested: list[tuple[Path, bool]], options):
        from classification.difficulty.backbones import WeightsUnavailableError
        from classification.difficulty.data import Split, SplitFractions, file_sha256, split_by_group
        from classification.difficulty.experiment import experiment_run
        from classification.difficulty.inference import DifficultyClassifier
        from classification.difficulty.training import TrainConfig
        from classification.relevance.classifier import RelevanceClassifier, RelevanceExample, relevance_set

        def labelled(rows):
            return relevance_set(
                RelevanceExample(str(path), not should_drop, file_sha256(path)) for path, should_drop in rows
            )

        training = labelled(trained)
        fit = split_by_group(training.rows, fractions=SplitFractions(0.75, 0.25, 0.0), seed=options["seed"])
        split = Split(fit.train, fit.val, labelled(tested).rows, fit.seed)
        config = TrainConfig(
            head_epochs=options["epochs"],
            finetune_epochs=options["epochs"],
            batch_size=options["batch_size"],
            device=options["device"],
            seed=options["seed"],
            progress=not options["no_progress"],
        )
        try:
            experiment = experiment_run(
                training,
                backbone=backbone_choice_from_options(options),
                config=config,
                split=split,
                bootstrap_samples=options["bootstrap"],
                log=lambda line: None,
            )
        except (WeightsUnavailableError, ValueError) as error:
            raise CommandError(str(error)) from error
        return RelevanceClassifier(
            DifficultyClassifier(experiment.model, info=experiment.info, class_names=experiment.labelled.class_names)
        )

    def rules_only_report(self, counts: DropCounts, judged: list[Judged], *, images_per_second: float) -> None:
        self.stdout.write(
            f"dropped correctly {counts.dropped_right}  wrongly {counts.dropped_wrongly}  missed {counts.missed}  "
            f"kept correctly {counts.kept_right}"
        )
        self.stdout.write(
            f"drop precision {counts.precision:.3f}  recall {counts.recall:.3f}  "
            f"relevant images lost {lost_or_zero(counts):.3f}"
        )
        for rule, right, count in rules_fired(judged, threshold=None):
            self.stdout.write(f"  rule {rule:12} {'right' if right else 'WRONG'} {count}")
        self.stdout.write(f"speed {images_per_second:.1f} images/s")

    def side_by_side_report(
        self, rules_only: DropCounts, layered: DropCounts, *, threshold: float, speeds: tuple[float, float]
    ) -> None:
        self.stdout.write(f"{'':22}{'rules only':>12}  rules + classifier (p >= {threshold:.2f})")
        lines = [
            ("dropped correctly", rules_only.dropped_right, layered.dropped_right, "d"),
            ("dropped wrongly", rules_only.dropped_wrongly, layered.dropped_wrongly, "d"),
            ("missed", rules_only.missed, layered.missed, "d"),
            ("kept correctly", rules_only.kept_right, layered.kept_right, "d"),
            ("drop precision", rules_only.precision, layered.precision, ".3f"),
            ("drop recall", rules_only.recall, layered.recall, ".3f"),
            ("relevant images lost", lost_or_zero(rules_only), lost_or_zero(layered), ".3f"),
            ("images/s", speeds[0], speeds[1], ".1f"),
        ]
        for name, rules_value, layered_value, spec in lines:
            self.stdout.write(f"{name:22}{rules_value:>12{spec}}  {layered_value:>12{spec}}")

    def classifier_load(self, options):
        from classification.models import ModelVersion
        from classification.relevance.classifier import RelevanceClassifier
        from classification.selectors import model_version_active

        path = options["checkpoint"]
        if options["model_version"] is not None or options["active_model"]:
            relevance = ModelVersion.objects.filter(purpose=ModelVersion.Purpose.RELEVANCE)
            version = (
                relevance.filter(pk=options["model_version"]).first()
                if options["model_version"] is not None
                else model_version_active(crisis_id=None, purpose=ModelVersion.Purpose.RELEVANCE)
            )
            if version is None:
                raise CommandError("No such relevance model version (train one with manage.py train_relevance).")
            self.stdout.write(f"classifier: model version {version.pk} ({version.name}, {version.weights_origin})")
            path = Path(version.checkpoint)
        try:
            return RelevanceClassifier.from_checkpoint(path, device=options["device"])
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot load the classifier from {path}: {error}") from error

    def train_on_part(self, rows: list[tuple[Path, bool]], options) -> tuple[object, list[tuple[Path, bool]]]:
        """Train on the folder less a held-out share (whole duplicate groups); returns the classifier and the
        held-out rows, which are also the training run's test split (its metrics are the classifier's alone)."""
        from classification.difficulty.backbones import WeightsUnavailableError
        from classification.difficulty.data import SplitFractions, file_sha256, split_by_group
        from classification.difficulty.experiment import experiment_run, experiment_save
        from classification.difficulty.inference import DifficultyClassifier
        from classification.difficulty.training import TrainConfig
        from classification.relevance.classifier import RelevanceClassifier, RelevanceExample, relevance_set

        holdout = options["holdout"]
        if not 0 < holdout < 1:
            raise CommandError("--holdout is a share of the folder, between 0 and 1")
        labelled = relevance_set(
            RelevanceExample(str(path), not should_drop, file_sha256(path)) for path, should_drop in rows
        )
        # The rest of the folder is split 3:1 into training and validation (early stopping, best epoch).
        fractions = SplitFractions(train=(1 - holdout) * 0.75, val=(1 - holdout) * 0.25, test=holdout)
        split = split_by_group(labelled.rows, fractions=fractions, seed=options["seed"])
        config = TrainConfig(
            head_epochs=options["epochs"],
            finetune_epochs=options["epochs"],
            batch_size=options["batch_size"],
            device=options["device"],
            seed=options["seed"],
            progress=not options["no_progress"],
        )
        try:
            experiment = experiment_run(
                labelled,
                backbone=backbone_choice_from_options(options),
                config=config,
                split=split,
                bootstrap_samples=options["bootstrap"],
                log=self.stdout.write,
            )
        except (WeightsUnavailableError, ValueError) as error:
            raise CommandError(str(error)) from error
        out = evaluation_out_dir(options, kind="relevance_eval")
        experiment_save(experiment, out, title=f"relevance {experiment.info.name}", extra={"holdout": holdout})
        self.stdout.write(f"wrote {out}/model.pt, curves.png, report.json")
        classifier = RelevanceClassifier(
            DifficultyClassifier(experiment.model, info=experiment.info, class_names=experiment.labelled.class_names)
        )
        held_out = [(Path(row.path), row.label == 1) for row in split.test]
        return classifier, held_out


SCORE_COLUMNS = ("file", "event", "should_drop", "rule", "not_relevant_probability", "whole_probability")


def scores_write(path: Path, judged: list[tuple[str, Judged]]) -> None:
    """Every image's event, label, rule and classifier score: the leave-one-event-out run's scores, so that other
    thresholds can be judged on them without training again (``--scores-in``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(SCORE_COLUMNS)
        for event, item in judged:
            scores = [
                "" if value is None else f"{value:.6f}"
                for value in (item.not_relevant_probability, item.whole_probability)
            ]
            writer.writerow((str(item.path), event, int(item.should_drop), item.rule, *scores))


def scores_read(path: Path) -> dict[str, tuple[str, float | None, float | None]]:
    """file -> (rule, score, whole image's score) of a ``--scores-out`` CSV."""

    def number(text: str | None) -> float | None:
        return float(text) if text else None

    try:
        with path.open(encoding="utf-8") as source:
            return {
                row["file"]: (
                    row["rule"],
                    number(row["not_relevant_probability"]),
                    number(row.get("whole_probability")),
                )
                for row in csv.DictReader(source)
            }
    except (OSError, KeyError, ValueError) as error:
        raise CommandError(f"Cannot read the scores in {path}: {error}") from error


def saved_judged(saved: dict[str, tuple[str, float | None, float | None]], path: Path, should_drop: bool) -> Judged:
    if str(path) not in saved:
        raise CommandError(f"{path} has no score in the --scores-in file (written for another folder?)")
    return Judged(path, should_drop, *saved[str(path)])


def agreed_score(classifier, image: Image.Image, options) -> tuple[float, float]:
    """(the score every view agrees on, the whole image's), exact at every threshold the command judges (from the
    threshold floor up), as the pipeline's relevance step scores an image."""
    from classification.relevance.threshold import THRESHOLD_FLOOR

    probability, whole, _ = classifier.agreed_not_relevant_probability(
        image, threshold=min(THRESHOLD_FLOOR, *SWEEP_THRESHOLDS), device=options["device"]
    )
    return probability, whole


def drop_counts(judged: list[Judged], *, threshold: float | None, whole_image: bool = False) -> DropCounts:
    """The filter's decisions; ``threshold`` None: the rules alone; ``whole_image``: without the second look."""
    counts = DropCounts()
    for item in judged:
        score = item.whole_probability if whole_image else item.not_relevant_probability
        by_classifier = threshold is not None and score is not None and score >= threshold
        counts.add(dropped=bool(item.rule) or by_classifier, should_drop=item.should_drop)
    return counts


def rules_fired(judged: list[Judged], *, threshold: float | None) -> list[tuple[str, bool, int]]:
    """(rule, right, count) of every rule that dropped something, the classifier included when ``threshold``."""
    fired: dict[tuple[str, bool], int] = {}
    for item in judged:
        rule = item.rule
        if not rule and threshold is not None and (item.not_relevant_probability or 0.0) >= threshold:
            rule = rules.CLASSIFIER_RULE
        if rule:
            fired[(rule, item.should_drop)] = fired.get((rule, item.should_drop), 0) + 1
    return [(rule, right, count) for (rule, right), count in sorted(fired.items())]


def held_back(item: Judged, threshold: float) -> bool:
    return bool(item.rule) or (item.not_relevant_probability is not None and item.not_relevant_probability >= threshold)


def loeo_line(name: str, counts: DropCounts) -> str:
    relevant = counts.dropped_wrongly + counts.kept_right
    irrelevant = counts.dropped_right + counts.missed
    caught = f"{counts.recall:.3f} ({counts.dropped_right}/{irrelevant})" if irrelevant else "- (0/0)"
    held = f"{lost_or_zero(counts):.3f} ({counts.dropped_wrongly}/{relevant})"
    return f"{name}: relevant held back {held}, irrelevant caught {caught}"


def lost_or_zero(counts: DropCounts) -> float:
    lost = counts.relevant_lost
    return 0.0 if math.isnan(lost) else lost
