"""Train the difficulty classifier on the crowd's consensus ratings and record a ModelVersion."""

from classification import services
from classification.management.training_command import BaseTrainCommand
from classification.models import ModelVersion


class Command(BaseTrainCommand):
    help = "Train a difficulty classifier from consensus ratings (one crisis, or all) and record a model version."
    purpose = ModelVersion.Purpose.DIFFICULTY
    setting_prefix = "DIFFICULTY"
    train = staticmethod(services.difficulty_train)
