"""Batched scoring of image files: per-image class probabilities, bf16 and channels_last on CUDA, and on a CPU the
mode cpu_inference chose (channels_last / bf16 where faster and within a tolerance of fp32)."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from classification.difficulty.backbones import BackboneInfo
from classification.difficulty.cpu_inference import FP32, CpuInference, cpu_inference_choose, probabilities_difference
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
    cpu_inference: CpuInference = FP32,
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
    cpu_mode = cpu_inference if target.type == "cpu" else FP32
    if target.type == "cuda":
        model.to(memory_format=torch.channels_last)
    else:
        cpu_mode.prepare_model(model)
    transform = transforms_build(image_size=info.image_size, mean=info.mean, std=info.std, augment=False)
    scores, batches = [], 0
    try:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            images = torch.stack([transform(_image_rgb(item)) for item in chunk]).to(target, non_blocking=True)
            if target.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            else:
                images = cpu_mode.prepare_input(images)
            with autocast_context(target), cpu_mode.autocast():
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

    def __init__(
        self, model: nn.Module, *, info: BackboneInfo, class_names: Sequence[str], cpu_inference: CpuInference = FP32
    ) -> None:
        self.model = model
        self.info = info
        self.class_names = list(class_names)
        self.cpu_inference = cpu_inference

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str = "auto",
        cpu_fast: bool = False,
        tolerance: float = 0.01,
        cache_path: Path | None = None,
    ) -> "DifficultyClassifier":
        """Load a checkpoint; on a CPU with ``cpu_fast``, run in the fastest mode whose class probabilities stay
        within ``tolerance`` of fp32's (measured once per checkpoint and CPU, cached in ``cache_path``)."""
        target = device_resolve(device)
        model, checkpoint = checkpoint_load(path, device=str(target))
        mode = FP32
        if cpu_fast and target.type == "cpu":
            mode = cpu_inference_choose(
                model,
                model_key=f"classifier:{checkpoint.info.name}:{Path(path).resolve()}",
                image_size=checkpoint.info.image_size,
                outputs=lambda m, batch: m(batch),
                difference=probabilities_difference,
                tolerance=tolerance,
                cache_path=cache_path,
                probe_count=1,  # B6 at 528 px takes seconds a pass on a CPU: one image and one timed pass suffice
                repeats=1,
            )
        return cls(model, info=checkpoint.info, class_names=checkpoint.class_names, cpu_inference=mode)

    def score(
        self, paths: Sequence[str | Path | Image.Image], *, batch_size: int = 32, device: str = "auto"
    ) -> ScoringResult:
        return images_score(
            self.model,
            paths,
            info=self.info,
            class_names=self.class_names,
            batch_size=batch_size,
            device=device,
            cpu_inference=self.cpu_inference,
        )
