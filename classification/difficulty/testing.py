"""Generated labelled images and a tiny random-init backbone, for tests and smoke runs (no data, no downloads)."""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn

from classification.difficulty.backbones import BackboneInfo, backbone_build
from classification.difficulty.data import LabelledImage

TINY_BACKBONE = "test_efficientnet"  # timm's ~100k-parameter EfficientNet made for unit tests
TINY_IMAGE_SIZE = 32


def images_generate(
    folder: Path,
    *,
    count: int,
    size: int = 40,
    seed: int = 0,
    learnable: bool = True,
    groups: int | None = None,
) -> list[LabelledImage]:
    """``count`` noise PNGs labelled 0/1. ``learnable``: class 1 has a darkened left half (else labels are random,
    for memorisation). ``groups`` assigns images round-robin to that many duplicate groups (default: one each)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        label = index % 2 if learnable else int(rng.integers(0, 2))
        if learnable and label:
            pixels[:, : size // 2] //= 4
        path = folder / f"image_{index:04d}.png"
        Image.fromarray(pixels).save(path)
        group = f"group_{index % groups}" if groups else f"group_{index}"
        rows.append(LabelledImage(str(path), label, group))
    return rows


def tiny_backbone(*, num_classes: int = 2, image_size: int = TINY_IMAGE_SIZE) -> tuple[nn.Module, BackboneInfo]:
    """timm's ``test_efficientnet`` with random weights, its random-init warning silenced (tests expect it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return backbone_build(
            name=TINY_BACKBONE, num_classes=num_classes, hub=False, random_init=True, image_size=image_size
        )
