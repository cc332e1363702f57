"""What the commands that train share: train_difficulty and train_relevance (options of one training run, the
version report), and the evaluation commands (backbone options, output folder)."""

from datetime import UTC, datetime
from pathlib import Path

import torch
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classification import services
from classification.difficulty.backbones import WeightsUnavailableError
from classification.difficulty.experiment import BackboneChoice
from classification.models import ModelVersion
from geoloc_platform.crises.models import Crisis
from geoloc_platform.exceptions import PlatformError


class BaseTrainCommand(BaseCommand):
    """Train a classifier of ``purpose`` with ``train`` (a service taking crisis_id, log and TrainingOptions)."""

    purpose: str
    setting_prefix: str  # DIFFICULTY or RELEVANCE: where the defaults come from

    @staticmethod
    def train(**kwargs) -> ModelVersion:
        raise NotImplementedError

    def add_arguments(self, parser):
        prefix = self.setting_prefix
        parser.add_argument("--crisis", help="slug of the crisis whose labels to use (default: every crisis)")
        parser.add_argument("--backbone", help=f"timm model name (default: {prefix}_BACKBONE)")
        parser.add_argument("--weights", help=f"local weights file (default: {prefix}_WEIGHTS_PATH)")
        parser.add_argument("--lite0-package", action="store_true", help="tf_efficientnet_lite0, packaged weights")
        parser.add_argument("--no-hub", action="store_true", help="never try the model hub")
        parser.add_argument("--random-init", action="store_true", help="allow random weights (marked as such)")
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--epochs", type=int, default=25, help="epochs of each of the two stages")
        parser.add_argument("--unfreeze-layers", type=int)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 wins on a busy box)")
        parser.add_argument("--activate", action="store_true", help="make the new version the active one")

    def handle(self, *args, **options):
        crisis_id = None
        if options["crisis"]:
            crisis = Crisis.objects.filter(slug=options["crisis"]).first()
            if crisis is None:
                raise CommandError(f"No crisis with slug {options['crisis']!r}.")
            crisis_id = crisis.pk
        if options["threads"]:
            torch.set_num_threads(options["threads"])
        try:
            version = self.train(
                crisis_id=crisis_id,
                backbone=options["backbone"],
                weights_path=options["weights"],
                lite0_package=options["lite0_package"],
                hub=not options["no_hub"],
                random_init=options["random_init"],
                image_size=options["image_size"],
                head_epochs=options["epochs"],
                finetune_epochs=options["epochs"],
                unfreeze_layers=options["unfreeze_layers"],
                batch_size=options["batch_size"],
                seed=options["seed"],
                log=self.stdout.write,
            )
        except (PlatformError, WeightsUnavailableError, ValueError) as error:
            raise CommandError(getattr(error, "message", str(error))) from error
        self.stdout.write(
            self.style.SUCCESS(f"{self.purpose} model version {version.pk}: {version.name} ({version.weights_origin})")
        )
        if version.is_random_init:
            self.stderr.write(
                self.style.WARNING("Trained from RANDOM weights (recorded in the version): not for a real crisis.")
            )
        if options["activate"]:
            rescored = services.model_version_activate(version=version)
            self.stdout.write(f"activated; re-scoring {rescored} queued images" if rescored else "activated")


def backbone_choice_from_options(options: dict) -> BackboneChoice:
    """The evaluation commands' --backbone, --weights, --no-hub, --random-init, --lite0-package, --image-size."""
    return BackboneChoice(
        name=options["backbone"],
        weights_path=options["weights"],
        hub=not options["no_hub"],
        random_init=options["random_init"],
        lite0_package=options["lite0_package"],
        image_size=options["image_size"],
    )


def evaluation_out_dir(options: dict, *, kind: str) -> Path:
    """--out, else var/<kind>/<UTC time>/."""
    return options["out"] or Path(settings.BASE_DIR) / "var" / kind / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
