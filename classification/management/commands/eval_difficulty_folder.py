"""Train and evaluate the difficulty classifier on a labelled image folder; print test metrics with 95% CIs."""

import json
from datetime import UTC, datetime
from pathlib import Path

import torch
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classification.difficulty.backbones import (
    DEFAULT_BACKBONE,
    WeightsUnavailableError,
    backbone_build,
    backbone_build_lite0_package,
)
from classification.difficulty.data import (
    SplitFractions,
    class_weights,
    datasets_build,
    labelled_folder_read,
    split_by_group,
)
from classification.difficulty.inference import images_score
from classification.difficulty.metrics import classification_metrics
from classification.difficulty.training import (
    TrainConfig,
    checkpoint_save,
    train_two_stage,
    training_curves_plot,
)


def label_map_parse(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, separator, target = pair.partition("=")
        if not separator or not source:
            raise CommandError(f"--map takes SOURCE=TARGET (empty TARGET drops the label), got {pair!r}")
        mapping[source] = target
    return mapping


class Command(BaseCommand):
    help = (
        "Train the difficulty classifier (two stages) on a labelled image folder and print test metrics. The folder "
        "holds a CSV of path,label[,group] or one subfolder per class. Example: eval_difficulty_folder "
        "../shared/data/images/disaster_social --path-column file --label-column disaster_types "
        "--map fire=disaster --map flood=disaster --positive-label disaster --lite0-package --epochs 5"
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        data = parser.add_argument_group("data")
        data.add_argument(
            "--csv", type=Path, help="labels CSV (default: FOLDER/labels.csv if present, else subfolders)"
        )
        data.add_argument("--path-column", default="path")
        data.add_argument("--label-column", default="label")
        data.add_argument("--group-column", default="group", help="duplicate group; absent: the file's SHA-256")
        data.add_argument("--map", action="append", default=[], metavar="SOURCE=TARGET", help="rename a label")
        data.add_argument("--positive-label", help="the class precision, recall and ROC AUC are about")
        data.add_argument("--seed", type=int, default=13, help="split and training seed")
        model = parser.add_argument_group("model")
        model.add_argument("--backbone", default=DEFAULT_BACKBONE, help="timm model name")
        model.add_argument("--weights", type=Path, help="local timm state dict for the backbone")
        model.add_argument(
            "--lite0-package", action="store_true", help="tf_efficientnet_lite0 with the efficientnet-lite0 package"
        )
        model.add_argument("--no-hub", action="store_true", help="never try the model hub")
        model.add_argument("--random-init", action="store_true", help="allow random weights when none are found")
        model.add_argument("--image-size", type=int, help="default: 528 for B6, 224 for Lite0/B0")
        training = parser.add_argument_group("training")
        training.add_argument("--epochs", type=int, help="epochs of each stage (default 25 + 25)")
        training.add_argument("--head-epochs", type=int)
        training.add_argument("--finetune-epochs", type=int)
        training.add_argument("--head-lr", type=float, default=TrainConfig.head_lr)
        training.add_argument("--finetune-lr", type=float, default=TrainConfig.finetune_lr)
        training.add_argument("--unfreeze-layers", type=int, help="default: 66 on B6, the same share elsewhere")
        training.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
        training.add_argument("--patience", type=int, default=TrainConfig.patience, help="0 disables early stopping")
        training.add_argument("--rotation", type=float, default=15.0, help="augmentation: max rotation in degrees")
        training.add_argument("--device", default="auto")
        training.add_argument("--num-workers", type=int, default=0)
        training.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 wins on a busy box)")
        training.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
        training.add_argument("--out", type=Path, help="where to write model.pt, curves.png, report.json")
        training.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        folder: Path = options["folder"]
        if options["threads"]:
            torch.set_num_threads(options["threads"])
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        csv_path = options["csv"] or (folder / "labels.csv" if (folder / "labels.csv").is_file() else None)
        try:
            labelled = labelled_folder_read(
                folder,
                csv_path=csv_path,
                path_column=options["path_column"],
                label_column=options["label_column"],
                group_column=options["group_column"],
                label_map=label_map_parse(options["map"]),
                positive_label=options["positive_label"],
            )
        except (KeyError, ValueError) as error:
            raise CommandError(f"Cannot read labels: {error}") from error
        if len(labelled.class_names) < 2:
            raise CommandError(f"Need at least two classes, found {list(labelled.class_names)}")
        self.stdout.write(f"labels: {labelled.label_counts()}  excluded: {labelled.excluded or 'none'}")

        split = split_by_group(labelled.rows, fractions=SplitFractions(), seed=options["seed"])
        self.stdout.write(f"split by duplicate group (seed {split.seed}): {split.to_dict()['sizes']}")

        num_classes = len(labelled.class_names)
        torch.manual_seed(options["seed"])  # the new head's initial weights: the same command, the same run
        try:
            if options["lite0_package"]:
                model, info = backbone_build_lite0_package(num_classes=num_classes, image_size=options["image_size"])
            else:
                model, info = backbone_build(
                    name=options["backbone"],
                    num_classes=num_classes,
                    weights_path=options["weights"],
                    hub=not options["no_hub"],
                    random_init=options["random_init"],
                    image_size=options["image_size"],
                )
        except WeightsUnavailableError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"backbone: {info.name} at {info.image_size}px, weights: {info.weights}")

        train, val, _ = datasets_build(
            split, image_size=info.image_size, mean=info.mean, std=info.std, rotation_degrees=options["rotation"]
        )
        weights = class_weights([row.label for row in split.train], num_classes=num_classes)
        epochs = options["epochs"]
        config = TrainConfig(
            head_epochs=options["head_epochs"] if options["head_epochs"] is not None else epochs or 25,
            finetune_epochs=options["finetune_epochs"] if options["finetune_epochs"] is not None else epochs or 25,
            head_lr=options["head_lr"],
            finetune_lr=options["finetune_lr"],
            unfreeze_layers=options["unfreeze_layers"],
            batch_size=options["batch_size"],
            patience=options["patience"],
            num_workers=options["num_workers"],
            device=options["device"],
            seed=options["seed"],
            progress=not options["no_progress"],
        )
        self.stdout.write(f"class weights: {weights.tolist() if weights is not None else 'none (balanced)'}")
        # Per-epoch lines come from the training logger (INFO), so workers and this command log the same way.
        result = train_two_stage(model, train, val, config=config, class_weights=weights)
        self.stdout.write(
            f"trained in {result.seconds:.0f}s on {result.device}; unfroze {len(result.unfrozen_layers)} modules "
            f"(last {result.unfreeze_layers} layers, batch norms kept frozen); best epoch {result.best_epoch}"
        )

        scored = images_score(
            model,
            [row.path for row in split.test],
            info=info,
            class_names=labelled.class_names,
            batch_size=config.batch_size,
            device=config.device,
        )
        metrics = classification_metrics(
            [row.label for row in split.test],
            scored.probabilities(),
            class_names=labelled.class_names,
            positive_index=num_classes - 1,
            bootstrap_samples=options["bootstrap"],
            seed=options["seed"],
        )
        self.stdout.write(metrics.summary())

        out = options["out"] or Path(settings.BASE_DIR) / "var" / "difficulty_eval" / datetime.now(UTC).strftime(
            "%Y%m%dT%H%M%SZ"
        )
        report = {
            "folder": str(folder),
            "data": labelled.to_dict(),
            "split": split.to_dict(),
            "backbone": info.to_dict(),
            "config": config.to_dict(),
            "training": result.to_dict(),
            "metrics": metrics.to_dict(),
        }
        checkpoint_save(
            out / "model.pt",
            model=model,
            info=info,
            class_names=labelled.class_names,
            config=config,
            result=result,
            extra={"data": report["data"], "metrics": report["metrics"]},
        )
        training_curves_plot(result, out / "curves.png", title=f"{info.name} on {folder.name}")
        (out / "report.json").write_text(json.dumps(report, indent=2))
        self.stdout.write(self.style.SUCCESS(f"wrote {out}/model.pt, curves.png, report.json"))
