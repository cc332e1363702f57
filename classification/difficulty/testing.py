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


def tiny_cold_start_head(path: Path, *, images: Path, count: int = 24) -> Path:
    """A cold-start head over the tiny embedding, fitted on generated images (class 1, "easy", has a darkened left
    half), saved to ``path``: what tests install in place of the shipped Lite0 head."""
    from classification.difficulty.embedding import TINY_EMBEDDING_BACKBONE, embedder_build
    from classification.difficulty.geolocatability import COLD_START_EVIDENCE_WEIGHTS, HeadKind, head_fit

    rows = images_generate(images, count=count, size=48)
    embedder = embedder_build(TINY_EMBEDDING_BACKBONE, cpu_fast=False)
    vectors = embedder.embed([row.path for row in rows]).vectors
    head = head_fit(
        vectors,
        [row.label for row in rows],
        groups=[row.group for row in rows],
        kind=HeadKind.COLD_START,
        backbone=TINY_EMBEDDING_BACKBONE,
        views=embedder.views,
        evidence_weights=COLD_START_EVIDENCE_WEIGHTS,
        c_grid=(1.0,),
    )
    head.record.update(
        {
            "data": {"folder": "generated", "labels_sha256": "0" * 64, "images": count},
            "split": {"validation_images": count},
            "embedding": {"backbone": TINY_EMBEDDING_BACKBONE, "image_size": 32, "weights": "random-init"},
            "validation_metrics": {"accuracy": {"value": 0.5, "low": 0.3, "high": 0.7}},
        }
    )
    return head.save(path)
