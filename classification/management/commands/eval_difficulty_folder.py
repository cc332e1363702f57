"""Train and evaluate the difficulty classifier on a labelled image folder; print test metrics with 95% CIs."""

from pathlib import Path

import torch
from django.core.management.base import BaseCommand, CommandError

from classification.difficulty.backbones import DEFAULT_BACKBONE, WeightsUnavailableError
from classification.difficulty.data import labelled_folder_read
from classification.difficulty.experiment import experiment_run, experiment_save
from classification.difficulty.training import TrainConfig
from classification.management.training_command import backbone_choice_from_options, evaluation_out_dir


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
        backbone = backbone_choice_from_options(options)
        try:
            experiment = experiment_run(
                labelled,
                backbone=backbone,
                config=config,
                rotation_degrees=options["rotation"],
                bootstrap_samples=options["bootstrap"],
                log=self.stdout.write,
            )
        except (WeightsUnavailableError, ValueError) as error:
            raise CommandError(str(error)) from error
        out = evaluation_out_dir(options, kind="difficulty_eval")
        experiment_save(
            experiment, out, title=f"{experiment.info.name} on {folder.name}", extra={"folder": str(folder)}
        )
        self.stdout.write(self.style.SUCCESS(f"wrote {out}/model.pt, curves.png, report.json"))
