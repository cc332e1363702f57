"""Train the difficulty classifier on the crowd's consensus ratings and record a ModelVersion."""

from django.core.management.base import BaseCommand, CommandError

from classification import services
from classification.difficulty.backbones import WeightsUnavailableError
from geoloc_platform.crises.models import Crisis


class Command(BaseCommand):
    help = "Train a difficulty classifier from consensus ratings (one crisis, or all) and record a model version."

    def add_arguments(self, parser):
        parser.add_argument("--crisis", help="slug of the crisis whose labels to use (default: every crisis)")
        parser.add_argument("--backbone", help="timm model name (default: DIFFICULTY_BACKBONE)")
        parser.add_argument("--weights", help="local weights file (default: DIFFICULTY_WEIGHTS_PATH)")
        parser.add_argument("--lite0-package", action="store_true", help="tf_efficientnet_lite0, packaged weights")
        parser.add_argument("--no-hub", action="store_true", help="never try the model hub")
        parser.add_argument("--random-init", action="store_true", help="allow random weights (marked as such)")
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--epochs", type=int, default=25, help="epochs of each of the two stages")
        parser.add_argument("--unfreeze-layers", type=int)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--activate", action="store_true", help="make the new version the active one")

    def handle(self, *args, **options):
        crisis_id = None
        if options["crisis"]:
            crisis = Crisis.objects.filter(slug=options["crisis"]).first()
            if crisis is None:
                raise CommandError(f"No crisis with slug {options['crisis']!r}.")
            crisis_id = crisis.pk
        try:
            version = services.difficulty_train(
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
        except (WeightsUnavailableError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"model version {version.pk}: {version.name} ({version.weights_origin})"))
        if options["activate"]:
            rescored = services.model_version_activate(version=version)
            self.stdout.write(f"activated; re-scoring {rescored} queued images")
