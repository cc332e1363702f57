"""The relevance filter's second layer: an image classifier trained on people's relevance labels.

It reuses the difficulty classifier's torch code (backbones, grouped split, two-stage training, inference); only
the labels and the drop decision are its own. It runs after the rules, on images the rules kept, and holds one
back only when it is very sure, from every view of the image: a lost disaster photo costs more than a meme shown to
a volunteer.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from classification.difficulty.data import LabelledImage, LabelledSet
from classification.difficulty.embedding import square_crops
from classification.difficulty.inference import DifficultyClassifier
from classification.relevance.rules import CLASSIFIER_RULE, Verdict

RELEVANT, NOT_RELEVANT = "relevant", "not_relevant"
# Index 1 is the drop decision: the positive class of the metrics, so their precision and recall are the drop's.
RELEVANCE_CLASS_NAMES = (RELEVANT, NOT_RELEVANT)
RELEVANCE_CLASS_MAPPING = "relevant_vs_not_relevant"


@dataclass(frozen=True)
class RelevanceExample:
    """One person's (or the crowd's) verdict on one image file; the group keeps duplicates on one side of a split."""

    path: str
    relevant: bool
    group: str


def relevance_set(examples: Iterable[RelevanceExample]) -> LabelledSet:
    label_of = {True: RELEVANCE_CLASS_NAMES.index(RELEVANT), False: RELEVANCE_CLASS_NAMES.index(NOT_RELEVANT)}
    rows = tuple(LabelledImage(example.path, label_of[example.relevant], example.group) for example in examples)
    return LabelledSet(rows, RELEVANCE_CLASS_NAMES)


class RelevanceClassifier:
    """A trained relevance checkpoint; load once per worker process and reuse."""

    def __init__(self, classifier: DifficultyClassifier) -> None:
        if tuple(classifier.class_names) != RELEVANCE_CLASS_NAMES:
            raise ValueError(
                f"Not a relevance checkpoint: its classes are {classifier.class_names}, expected "
                f"{list(RELEVANCE_CLASS_NAMES)}"
            )
        self.classifier = classifier

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "cpu") -> "RelevanceClassifier":
        return cls(DifficultyClassifier.from_checkpoint(path, device=device))

    @property
    def image_size(self) -> int:
        return self.classifier.info.image_size

    def not_relevant_probabilities(
        self, images: Sequence[str | Path | Image.Image], *, batch_size: int = 16, device: str = "cpu"
    ) -> list[float]:
        """p(not relevant) per image (files or decoded images), in order."""
        result = self.classifier.score(images, batch_size=batch_size, device=device)
        index = result.class_names.index(NOT_RELEVANT)
        return [float(score.probabilities[index]) for score in result.scores]

    def agreed_not_relevant_probability(
        self, image: Image.Image, *, threshold: float, device: str = "cpu"
    ) -> tuple[float, float, list[float]]:
        """(p(not relevant) that every view of the image agrees on, the whole image's, the views').

        The whole image (squashed to a square) is scored first. Only where that reaches ``threshold`` is the image
        looked at again through its square crops (up to three that together cover it: left, centre and right of a
        landscape photo), and the lowest score of all stands: a relevant photo that one framing makes look like a
        screenshot or a meme (a flooded road in a video frame with a caption) is held back only if every framing
        does. Below ``threshold`` the decision needs no second look and the whole image's score is returned: the
        decision is exact at any threshold from ``threshold`` up, the score an upper bound below it."""
        (whole,) = self.not_relevant_probabilities([image], batch_size=1, device=device)
        if whole < threshold:
            return whole, whole, []
        rgb = image.convert("RGB")
        crops = [crop for crop in square_crops(rgb) if crop.size != rgb.size]  # a square image is its own crop
        views = self.not_relevant_probabilities(crops, batch_size=len(crops), device=device) if crops else []
        return min([whole, *views]), whole, views


def classifier_verdict(
    kept: Verdict, *, not_relevant_probability: float, threshold: float, views: Sequence[float] = ()
) -> Verdict:
    """The verdict on an image the rules kept, once the classifier scored it: dropped only at or above
    ``threshold``. The score becomes the decision's score either way; the rules' own score and the second look's
    view scores stay in the details."""
    drop = not_relevant_probability >= threshold
    details = {**kept.details, "rules_score": kept.score, "classifier_threshold": threshold}
    if views:
        details["view_scores"] = [round(view, 4) for view in views]
    return Verdict(drop, CLASSIFIER_RULE if drop else "", round(not_relevant_probability, 4), details, kept.ocr_text)
