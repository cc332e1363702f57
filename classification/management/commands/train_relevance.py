"""Train the relevance classifier on people's relevance labels and record a ModelVersion of purpose "relevance"."""

from classification import services
from classification.management.training_command import BaseTrainCommand
from classification.models import ModelVersion


class Command(BaseTrainCommand):
    help = (
        "Train the relevance classifier from relevance labels (coordinators' restores and confirmations, the crowd's "
        "consensus) of one crisis or all, and record a model version. Refuses below RELEVANCE_MIN_LABELS labels."
    )
    purpose = ModelVersion.Purpose.RELEVANCE
    setting_prefix = "RELEVANCE"
    train = staticmethod(services.relevance_train)
