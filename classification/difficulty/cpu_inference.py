"""How a model runs on a CPU: channels_last and bfloat16 where they are supported, faster and within a tolerance.

A faster mode is only taken after checking that it changes the model's outputs by at most ``tolerance`` against
fp32 on generated probe images, and that it is measurably faster here: bfloat16 without native CPU support is
emulated (measured 8x slower than fp32 for Lite0 on this project's AVX2 machine), and channels_last speeds up some
networks and slows others. The choice is cached per model, input size, torch version, CPU and thread count, so a
worker pays the measurement once.
"""

import json
import logging
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

MIN_SPEEDUP = 1.08  # a mode must beat fp32 by this much on the probe to be taken: timing noise is a few percent


@dataclass(frozen=True)
class CpuInference:
    """The mode one model runs in on a CPU, with what the check measured (empty for the plain fp32 default)."""

    channels_last: bool = False
    bfloat16: bool = False
    max_difference: float = 0.0  # largest output difference against fp32 on the probe images
    speedup: float = 1.0  # probe throughput against fp32
    measured: dict = field(default_factory=dict)  # every candidate: speedup, difference, accepted or why not

    @property
    def name(self) -> str:
        parts = [part for part, on in (("bf16", self.bfloat16), ("channels_last", self.channels_last)) if on]
        return "+".join(parts) or "fp32"

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def prepare_input(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.contiguous(memory_format=torch.channels_last) if self.channels_last else batch

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bfloat16 else nullcontext()

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name}


FP32 = CpuInference()


def cpu_bfloat16_supported() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX): without it torch emulates bf16, slower than fp32."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def probe_images(*, count: int, image_size: int, seed: int = 0) -> torch.Tensor:
    """Deterministic photo-like inputs (smooth gradients and blocks of colour, not white noise), normalised to
    about [-1, 1]."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:image_size, 0:image_size] / image_size
    images = []
    for _ in range(count):
        channels = [np.sin(xs * rng.uniform(1, 6) + ys * rng.uniform(1, 6) + rng.uniform(0, 6)) for _ in range(3)]
        image = np.stack(channels) * 0.6
        for _ in range(6):
            x0, y0 = rng.integers(0, image_size // 2, size=2)
            size = rng.integers(image_size // 8, image_size // 2)
            image[:, y0 : y0 + size, x0 : x0 + size] = rng.uniform(-1, 1, size=(3, 1, 1))
        images.append(image)
    return torch.tensor(np.stack(images), dtype=torch.float32)


def _timed(run: Callable[[], torch.Tensor], *, repeats: int) -> tuple[torch.Tensor, float]:
    output = run()  # warm-up: oneDNN builds its kernels on the first call of each layout
    started = time.perf_counter()
    for _ in range(repeats):
        output = run()
    return output, (time.perf_counter() - started) / repeats


def _cache_key(model_key: str, image_size: int) -> str:
    return "|".join(
        [
            model_key,
            str(image_size),
            torch.__version__,
            platform.processor() or platform.machine(),
            torch.backends.cpu.get_cpu_capability(),
            f"threads={torch.get_num_threads()}",
        ]
    )


def cpu_inference_choose(
    model: nn.Module,
    *,
    model_key: str,
    image_size: int,
    outputs: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    difference: Callable[[torch.Tensor, torch.Tensor], float],
    tolerance: float,
    cache_path: Path | None = None,
    probe_count: int = 2,
    repeats: int = 2,
) -> CpuInference:
    """The fastest of fp32, channels_last and (where the CPU has native bf16) bf16 with or without channels_last
    whose outputs stay within ``tolerance`` of fp32's on the probe images; fp32 when none is both close enough and
    at least ``MIN_SPEEDUP`` faster. ``outputs`` runs the model (e.g. softmax probabilities, or embeddings);
    ``difference`` compares two output batches. Leaves the model in the chosen memory format."""
    key = _cache_key(model_key, image_size)
    cache = {}
    if cache_path is not None and cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text())
        except (OSError, ValueError):
            cache = {}
    if key in cache:
        fields = {name: cache[key][name] for name in ("channels_last", "bfloat16", "max_difference", "speedup")}
        chosen = CpuInference(**fields, measured=cache[key].get("measured", {}))
        chosen.prepare_model(model)
        return chosen
    candidates = [CpuInference(channels_last=True)]
    if cpu_bfloat16_supported():
        candidates += [CpuInference(bfloat16=True), CpuInference(bfloat16=True, channels_last=True)]
    batch = probe_images(count=probe_count, image_size=image_size)
    with torch.inference_mode():
        FP32.prepare_model(model)
        reference, reference_seconds = _timed(lambda: outputs(model, batch).float(), repeats=repeats)
        chosen, measured = FP32, {"fp32": {"speedup": 1.0, "difference": 0.0, "accepted": True}}
        for candidate in candidates:
            candidate.prepare_model(model)
            prepared = candidate.prepare_input(batch)

            def run(candidate=candidate, prepared=prepared):
                with candidate.autocast():
                    return outputs(model, prepared).float()

            output, seconds = _timed(run, repeats=repeats)
            gap = float(difference(output, reference))
            speedup = reference_seconds / seconds if seconds > 0 else 1.0
            accepted = gap <= tolerance and speedup >= MIN_SPEEDUP
            measured[candidate.name] = {
                "speedup": round(speedup, 3),
                "difference": gap,
                "accepted": accepted,
                "reason": "" if accepted else ("outside the tolerance" if gap > tolerance else "not faster"),
            }
            if accepted and speedup > chosen.speedup:
                chosen = CpuInference(candidate.channels_last, candidate.bfloat16, gap, round(speedup, 3))
    chosen = CpuInference(chosen.channels_last, chosen.bfloat16, chosen.max_difference, chosen.speedup, measured)
    chosen.prepare_model(model)
    logger.info("CPU inference for %s at %spx: %s (%s)", model_key, image_size, chosen.name, measured)
    if cache_path is not None:
        cache[key] = chosen.to_dict()
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_text(json.dumps(cache, indent=1))
        except OSError as error:  # a read-only model folder only costs the measurement again next time
            logger.warning("CPU inference choice not cached in %s: %s", cache_path, error)
    return chosen


def probabilities_difference(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest difference of any class probability (softmax of logits)."""
    return float((torch.softmax(output, 1) - torch.softmax(reference, 1)).abs().max())


def relative_difference(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest relative L2 distance between an output row and its reference row (embeddings)."""
    return float(((output - reference).norm(dim=1) / reference.norm(dim=1).clamp_min(1e-12)).max())
