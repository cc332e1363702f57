"""Two-stage transfer learning (frozen backbone, then the last N layers), early stopping, checkpoints, curves."""

import copy
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from classification.difficulty.backbones import BackboneInfo, backbone_rebuild

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
HEAD_STAGE, FINETUNE_STAGE = "head", "finetune"


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults are the paper's (25 + 25 epochs, head at 1e-2, last 66 layers fine-tuned)."""

    head_epochs: int = 25
    head_lr: float = 1e-2
    finetune_epochs: int = 25
    finetune_lr: float = 1e-4
    unfreeze_layers: int | None = None  # None: 66 on B6, the same share of depth elsewhere (unfreeze_layers_default)
    batch_size: int = 16
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a better validation loss before a stage stops; 0 disables early stopping
    num_workers: int = 0
    device: str = "auto"  # "auto" picks CUDA when available
    seed: int = 13
    progress: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochLog:
    stage: str
    epoch: int  # 1-based, counted across both stages
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """Per-epoch history; ``unfreeze_epoch`` is the first fine-tuning epoch (None when stage 2 did not run)."""

    history: list[EpochLog] = field(default_factory=list)
    unfreeze_epoch: int | None = None
    best_epoch: int | None = None
    best_val_loss: float = math.inf
    stopped_early: dict[str, bool] = field(default_factory=dict)
    unfreeze_layers: int | None = None  # the count asked of layers_unfreeze
    unfrozen_layers: list[str] = field(default_factory=list)  # what it unfroze (batch norms excluded)
    class_weights: list[float] | None = None
    device: str = "cpu"
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["history"] = [epoch.to_dict() for epoch in self.history]
        data["best_val_loss"] = None if math.isinf(self.best_val_loss) else self.best_val_loss
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainResult":
        data = dict(data)
        data["history"] = [EpochLog(**epoch) for epoch in data.get("history", [])]
        data["best_val_loss"] = math.inf if data.get("best_val_loss") is None else data["best_val_loss"]
        return cls(**data)


def device_resolve(device: str = "auto") -> torch.device:
    return torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )


def autocast_context(device: torch.device):
    """bf16 autocast on CUDA; full precision on CPU, where bf16 is slower on most cores than it saves."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def parameterised_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly (convolutions, batch norms, linear layers), in registration order."""
    return [(name, module) for name, module in model.named_modules() if any(True for _ in module.parameters(False))]


def is_batch_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


# The paper fine-tunes the last 66 layers of B6; timm's B6 has 359 parameterised modules (see layers_unfreeze).
B6_UNFREEZE_LAYERS, B6_PARAMETERISED_MODULES = 66, 359


def unfreeze_layers_default(model: nn.Module) -> int:
    """66 for EfficientNet-B6, and the same share of the network (about 18%) for other backbones."""
    return max(1, round(len(parameterised_modules(model)) * B6_UNFREEZE_LAYERS / B6_PARAMETERISED_MODULES))


def backbone_freeze(model: nn.Module) -> list[str]:
    """Stage 1: everything frozen except the classifier head. Returns the names of the trainable modules."""
    model.requires_grad_(False)
    head = model.get_classifier()
    head.requires_grad_(True)
    return [name for name, module in model.named_modules() if module is head]


def layers_unfreeze(model: nn.Module, count: int) -> list[str]:
    """Stage 2: unfreeze the last ``count`` layers, batch norms counted but kept frozen.

    A "layer" is a module that owns parameters directly (Conv2d, BatchNorm, Linear), counted back from the output
    in registration order, the head included. Activations, pooling and dropout own nothing and are not counted, so
    this count is smaller than Keras' for the same depth: timm's B6 has 359 such layers where Keras lists 666, and
    the default 66 reaches back over the head and about the last eight MBConv blocks. Returns the unfrozen names.
    """
    model.requires_grad_(False)
    unfrozen = []
    for name, module in parameterised_modules(model)[-count:] if count > 0 else []:
        if is_batch_norm(module):
            continue
        module.requires_grad_(True)
        unfrozen.append(name)
    return unfrozen


def train_mode_set(model: nn.Module) -> None:
    """Training mode with every batch norm in inference mode: frozen statistics, as in Keras fine-tuning, so small
    batches of a new domain do not overwrite the ImageNet running means."""
    model.train()
    for module in model.modules():
        if is_batch_norm(module):
            module.eval()


def loader_build(dataset: Dataset, *, config: TrainConfig, shuffle: bool, device: torch.device) -> DataLoader:
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle,
        num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
        pin_memory=device.type == "cuda",
        generator=generator,
    )


def epoch_run(
    model: nn.Module,
    loader: DataLoader,
    *,
    loss_fn: nn.Module,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    description: str = "",
    progress: bool = True,
) -> tuple[float, float]:
    """One pass over ``loader``: trains when an optimizer is given, else evaluates. Returns (mean loss, accuracy)."""
    training = optimizer is not None
    if training:
        train_mode_set(model)
    else:
        model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=description, leave=False, disable=not progress, unit="batch")
    with torch.set_grad_enabled(training):
        for images, labels in bar:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            if device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast_context(device):
                logits = model(images)
            loss = loss_fn(logits.float(), labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += float(loss.detach()) * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}")
    return total_loss / max(seen, 1), correct / max(seen, 1)


def train_two_stage(
    model: nn.Module,
    train_dataset: Dataset,
    val_dataset: Dataset,
    *,
    config: TrainConfig = TrainConfig(),
    class_weights: torch.Tensor | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Stage 1 trains the head on a frozen backbone; stage 2 fine-tunes the last ``config.unfreeze_layers`` layers.

    Each stage stops early after ``config.patience`` epochs without a better validation loss, and ends by loading
    the weights of the best validation epoch so far, so stage 2 starts from the best head and the model ends on
    the best epoch of the run. The model is trained in place and left frozen in eval mode. ``on_epoch`` receives
    every epoch's log, e.g. to print it.
    """
    torch.manual_seed(config.seed)
    device = device_resolve(config.device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights.to(device) if class_weights is not None else None)
    train_loader = loader_build(train_dataset, config=config, shuffle=True, device=device)
    val_loader = loader_build(val_dataset, config=config, shuffle=False, device=device)
    result = TrainResult(
        class_weights=class_weights.tolist() if class_weights is not None else None, device=str(device)
    )
    started = time.monotonic()
    best_state = None
    unfreeze_count = config.unfreeze_layers if config.unfreeze_layers is not None else unfreeze_layers_default(model)
    stages = [
        (HEAD_STAGE, config.head_epochs, config.head_lr, lambda: backbone_freeze(model)),
        (FINETUNE_STAGE, config.finetune_epochs, config.finetune_lr, lambda: layers_unfreeze(model, unfreeze_count)),
    ]
    for stage, epochs, lr, prepare in stages:
        if epochs <= 0:
            continue
        trainable = prepare()
        if stage == FINETUNE_STAGE:
            result.unfreeze_epoch = len(result.history) + 1
            result.unfreeze_layers, result.unfrozen_layers = unfreeze_count, trainable
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=config.weight_decay)
        stage_best, waited = math.inf, 0
        result.stopped_early[stage] = False
        for _ in range(epochs):
            epoch = len(result.history) + 1
            epoch_started = time.monotonic()
            train_loss, train_accuracy = epoch_run(
                model,
                train_loader,
                loss_fn=loss_fn,
                device=device,
                optimizer=optimizer,
                description=f"{stage} {epoch}",
                progress=config.progress,
            )
            val_loss, val_accuracy = epoch_run(
                model, val_loader, loss_fn=loss_fn, device=device, description="val", progress=config.progress
            )
            log = EpochLog(
                stage, epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, time.monotonic() - epoch_started
            )
            result.history.append(log)
            logger.info(
                "epoch %d (%s) train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.1fs",
                epoch, stage, train_loss, train_accuracy, val_loss, val_accuracy, log.seconds,
            )  # fmt: skip
            if on_epoch is not None:
                on_epoch(log)
            if val_loss < result.best_val_loss:
                result.best_val_loss, result.best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            if val_loss < stage_best:
                stage_best, waited = val_loss, 0
            else:
                waited += 1
                if config.patience and waited >= config.patience:
                    result.stopped_early[stage] = True
                    break
        # Stage 2 starts from the best head; the run ends on the best validation epoch of either stage.
        if best_state is not None:
            model.load_state_dict(best_state)
    model.requires_grad_(False)
    model.eval()
    result.seconds = time.monotonic() - started
    return result


@dataclass(frozen=True)
class Checkpoint:
    """A trained classifier's description, stored beside its weights."""

    info: BackboneInfo
    class_names: tuple[str, ...]
    config: dict
    result: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "info": self.info.to_dict(),
            "class_names": list(self.class_names),
            "config": self.config,
            "result": self.result,
            "extra": self.extra,
        }


def checkpoint_save(
    path: str | Path,
    *,
    model: nn.Module,
    info: BackboneInfo,
    class_names: tuple[str, ...] | list[str],
    config: TrainConfig | None = None,
    result: TrainResult | None = None,
    extra: dict | None = None,
) -> Path:
    """Weights (on CPU) and metadata as plain types, loadable with ``torch.load(weights_only=True)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(
        info=info,
        class_names=tuple(class_names),
        config=config.to_dict() if config is not None else {},
        result=result.to_dict() if result is not None else None,
        extra=extra or {},
    )
    state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "state_dict": state, **checkpoint.to_dict()}, path)
    return path


def checkpoint_load(path: str | Path, *, device: str = "cpu") -> tuple[nn.Module, Checkpoint]:
    """The model (eval mode, no gradients) and its metadata. Needs no pretrained weights: the checkpoint has them."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a difficulty checkpoint of format {CHECKPOINT_FORMAT}")
    info = BackboneInfo.from_dict(payload["info"])
    model = backbone_rebuild(info)
    model.load_state_dict(payload["state_dict"], strict=True)
    model.requires_grad_(False)
    model.eval()
    model.to(device_resolve(device))
    checkpoint = Checkpoint(
        info=info,
        class_names=tuple(payload["class_names"]),
        config=payload["config"],
        result=payload["result"],
        extra=payload["extra"],
    )
    return model, checkpoint


def training_curves_plot(result: TrainResult, path: str | Path, *, title: str = "") -> Path:
    """Loss and accuracy per epoch (train and validation) as a PNG, the unfreeze point marked by a vertical line."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and workers
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [log.epoch for log in result.history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, metric, label in ((loss_axis, "loss", "Loss"), (accuracy_axis, "accuracy", "Accuracy")):
        axis.plot(epochs, [getattr(log, f"train_{metric}") for log in result.history], "o-", label="train")
        axis.plot(epochs, [getattr(log, f"val_{metric}") for log in result.history], "s-", label="validation")
        if result.unfreeze_epoch is not None:
            axis.axvline(result.unfreeze_epoch - 0.5, color="green", linestyle="--", label="fine-tuning starts")
        if result.best_epoch is not None:
            axis.axvline(result.best_epoch, color="grey", linestyle=":", label="best epoch")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
