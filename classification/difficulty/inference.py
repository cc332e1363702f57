"""Batched scoring of image files: per-image class probabilities, bf16 and channels_last on CUDA."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from classification.difficulty.backbones import BackboneInfo
from classification.difficulty.data import image_open, transforms_build
from classification.difficulty.training import autocast_context, checkpoint_load, device_resolve


@dataclass(frozen=True)
class ImageScore:
    path: str
    probabilities: list[float]  # in class_names order
    label: str  # the most probable class

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScoringResult:
    class_names: list[str]
    scores: list[ImageScore]
    batch_size: int
    batches: int

    def probabilities(self) -> np.ndarray:
        return np.array([score.probabilities for score in self.scores], dtype=np.float64)

    def to_dict(self) -> dict:
        return {
            "class_names": self.class_names,
            "scores": [score.to_dict() for score in self.scores],
            "batch_size": self.batch_size,
            "batches": self.batches,
        }


def _image_rgb(item: str | Path | Image.Image) -> Image.Image:
    return item.convert("RGB") if isinstance(item, Image.Image) else image_open(item)


def _image_name(item: str | Path | Image.Image) -> str:
    return getattr(item, "filename", "") if isinstance(item, Image.Image) else str(item)


@torch.inference_mode()
def images_score(
    model: nn.Module,
    paths: Sequence[str | Path | Image.Image],
    *,
    info: BackboneInfo,
    class_names: Sequence[str],
    batch_size: int = 32,
    device: str = "auto",
) -> ScoringResult:
    """Class probabilities for each image, ``batch_size`` images per forward pass, in the order of ``paths``.

    ``paths`` may also hold decoded PIL images, so a caller that has already opened an image (the relevance
    step) does not decode it twice.

    Idempotent: the model runs in eval mode under inference mode (no dropout, no batch-norm updates) and its
    previous train/eval mode is restored, so the same paths always give the same probabilities. The model is moved
    to the device (and to channels_last on CUDA) once; later calls find it there.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    target = device_resolve(device)
    was_training = model.training
    model.eval()
    model.to(target)
    if target.type == "cuda":
        model.to(memory_format=torch.channels_last)
    transform = transforms_build(image_size=info.image_size, mean=info.mean, std=info.std, augment=False)
    scores, batches = [], 0
    try:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            images = torch.stack([transform(_image_rgb(item)) for item in chunk]).to(target, non_blocking=True)
            if target.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast_context(target):
                logits = model(images)
            probabilities = torch.softmax(logits.float(), dim=1).cpu().tolist()
            batches += 1
            for item, row in zip(chunk, probabilities, strict=True):
                scores.append(ImageScore(_image_name(item), row, class_names[int(np.argmax(row))]))
    finally:
        model.train(was_training)
    return ScoringResult(list(class_names), scores, batch_size, batches)


class DifficultyClassifier:
    """A trained checkpoint ready to score images; load once per worker process and reuse."""

    def __init__(self, model: nn.Module, *, info: BackboneInfo, class_names: Sequence[str]) -> None:
        self.model = model
        self.info = info
        self.class_names = list(class_names)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "auto") -> "DifficultyClassifier":
        model, checkpoint = checkpoint_load(path, device=str(device_resolve(device)))
        return cls(model, info=checkpoint.info, class_names=checkpoint.class_names)

    def score(
        self, paths: Sequence[str | Path | Image.Image], *, batch_size: int = 32, device: str = "auto"
    ) -> ScoringResult:
        return images_score(
            self.model, paths, info=self.info, class_names=self.class_names, batch_size=batch_size, device=device
        )
