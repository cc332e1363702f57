"""One training run end to end: split by duplicate group, build the backbone, train two stages, score the test
split, and save the checkpoint, curves and report. Shared by ``eval_difficulty_folder`` and ``train_difficulty``."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from classification.difficulty.backbones import (
    DEFAULT_BACKBONE,
    BackboneInfo,
    backbone_build,
    backbone_build_lite0_package,
)
from classification.difficulty.data import (
    LabelledSet,
    Split,
    SplitFractions,
    class_weights,
    datasets_build,
    split_by_group,
)
from classification.difficulty.inference import images_score
from classification.difficulty.metrics import ClassificationMetrics, classification_metrics
from classification.difficulty.training import (
    TrainConfig,
    TrainResult,
    checkpoint_save,
    train_two_stage,
    training_curves_plot,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneChoice:
    """Which backbone and which weights: the hub, a local file, the packaged Lite0, or (asked for) random."""

    name: str = DEFAULT_BACKBONE
    weights_path: Path | None = None
    hub: bool = True
    random_init: bool = False
    lite0_package: bool = False
    image_size: int | None = None

    def build(self, *, num_classes: int) -> tuple[nn.Module, BackboneInfo]:
        """Raises WeightsUnavailableError with what to set when no weights are found and random init is off."""
        if self.lite0_package:
            return backbone_build_lite0_package(num_classes=num_classes, image_size=self.image_size)
        return backbone_build(
            name=self.name,
            num_classes=num_classes,
            weights_path=self.weights_path,
            hub=self.hub,
            random_init=self.random_init,
            image_size=self.image_size,
        )


@dataclass
class Experiment:
    labelled: LabelledSet
    split: Split
    model: nn.Module
    info: BackboneInfo
    config: TrainConfig
    result: TrainResult
    metrics: ClassificationMetrics

    def to_dict(self) -> dict:
        return {
            "data": self.labelled.to_dict(),
            "split": self.split.to_dict(),
            "backbone": self.info.to_dict(),
            "config": self.config.to_dict(),
            "training": self.result.to_dict(),
            "metrics": self.metrics.to_dict(),
        }


def experiment_run(
    labelled: LabelledSet,
    *,
    backbone: BackboneChoice,
    config: TrainConfig,
    rotation_degrees: float = 15.0,
    bootstrap_samples: int = 1000,
    split: Split | None = None,
    log: Callable[[str], None] = logger.info,
) -> Experiment:
    """``split``: the caller's own split of ``labelled.rows`` (e.g. an evaluation's held-out images as the test
    split); default: 70/20/10 by duplicate group."""
    if len(labelled.class_names) < 2:
        raise ValueError(f"Need at least two classes, found {list(labelled.class_names)}")
    log(f"labels: {labelled.label_counts()}  excluded: {labelled.excluded or 'none'}")
    split = split or split_by_group(labelled.rows, fractions=SplitFractions(), seed=config.seed)
    log(f"split by duplicate group (seed {split.seed}): {split.to_dict()['sizes']}")
    num_classes = len(labelled.class_names)
    torch.manual_seed(config.seed)  # the new head's initial weights: the same data and settings, the same run
    model, info = backbone.build(num_classes=num_classes)
    log(f"backbone: {info.name} at {info.image_size}px, weights: {info.weights}")
    train, val, _ = datasets_build(
        split, image_size=info.image_size, mean=info.mean, std=info.std, rotation_degrees=rotation_degrees
    )
    weights = class_weights([row.label for row in split.train], num_classes=num_classes)
    log(f"class weights: {weights.tolist() if weights is not None else 'none (balanced)'}")
    # Per-epoch lines come from the training logger (INFO), so workers and commands log the same way.
    result = train_two_stage(model, train, val, config=config, class_weights=weights)
    log(
        f"trained in {result.seconds:.0f}s on {result.device}; unfroze {len(result.unfrozen_layers)} modules "
        f"(last {result.unfreeze_layers} layers, batch norms kept frozen); best epoch {result.best_epoch}"
    )
    scored = images_score(
        model,
        [row.path for row in split.test],
        info=info,
        class_names=labelled.class_names,
        batch_size=config.batch_size,
        device=config.device,
    )
    metrics = classification_metrics(
        [row.label for row in split.test],
        scored.probabilities(),
        class_names=labelled.class_names,
        positive_index=num_classes - 1,
        bootstrap_samples=bootstrap_samples,
        seed=config.seed,
    )
    log(metrics.summary())
    return Experiment(labelled, split, model, info, config, result, metrics)


def experiment_save(experiment: Experiment, out: Path, *, title: str, extra: dict | None = None) -> dict[str, Path]:
    """Write model.pt, curves.png and report.json under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    report = {**(extra or {}), **experiment.to_dict()}
    paths = {"checkpoint": out / "model.pt", "curves": out / "curves.png", "report": out / "report.json"}
    checkpoint_save(
        paths["checkpoint"],
        model=experiment.model,
        info=experiment.info,
        class_names=experiment.labelled.class_names,
        config=experiment.config,
        result=experiment.result,
        extra={"data": report["data"], "metrics": report["metrics"]},
    )
    training_curves_plot(experiment.result, paths["curves"], title=title)
    paths["report"].write_text(json.dumps(report, indent=2))
    return paths
