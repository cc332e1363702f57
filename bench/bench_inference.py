"""Difficulty classifier inference throughput (images/s): B6 at 528 and Lite0 at 224, batched vs one image at a time,
and on CPU each backbone with and without channels_last and bf16 against fp32.

python -m bench.bench_inference                          # CPU, small counts (a few minutes on 2 cores)
python -m bench.bench_inference --device cuda --b6-images 2048 --lite0-images 8192 --batch-size 64   # GPU, bf16

Random weights are fine here: throughput does not depend on the values. Inputs are tensors already in memory, so the
figures are the model's; JPEG decoding is a separate cost. On CUDA the model runs in bf16 autocast and channels_last,
as images_score does. On CPU the CPU-mode table prints each mode's speed against fp32 and how far its class
probabilities move from fp32's on generated photo-like inputs; the platform takes a mode only where it is both
within DIFFICULTY_CPU_TOLERANCE and faster (classification/difficulty/cpu_inference.py), and bf16 only where the CPU
has it natively (elsewhere torch emulates it: B6 in bf16 then takes minutes per batch, hence --b6-bf16).
"""

import argparse
import logging
import time
import warnings

import torch

from classification.difficulty.backbones import backbone_build, backbone_build_lite0_package
from classification.difficulty.cpu_inference import (
    MIN_SPEEDUP,
    CpuInference,
    cpu_bfloat16_supported,
    probe_images,
    relative_difference,
)
from classification.difficulty.training import autocast_context

CPU_MODES = (
    CpuInference(),
    CpuInference(channels_last=True),
    CpuInference(bfloat16=True),
    CpuInference(bfloat16=True, channels_last=True),
)


def throughput(model: torch.nn.Module, *, image_size: int, images: int, batch_size: int, device: torch.device) -> float:
    """Images per second over ``images`` images in batches of ``batch_size``, after one warm-up batch."""
    batch = torch.randn(batch_size, 3, image_size, image_size, device=device)
    if device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    batches = max(1, images // batch_size)
    with torch.inference_mode(), autocast_context(device):
        model(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(batches):
            model(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
    return batches * batch_size / elapsed


def cpu_mode_throughput(model: torch.nn.Module, mode: CpuInference, *, image_size: int, images: int, batch_size: int):
    """(images/s, largest relative L2 change of an output row against fp32) of ``mode`` on probe images."""
    probe = probe_images(count=batch_size, image_size=image_size)
    mode.prepare_model(model)
    batch = mode.prepare_input(probe)
    batches = max(1, images // batch_size)
    with torch.inference_mode(), mode.autocast():
        output = model(batch).float()
        started = time.perf_counter()
        for _ in range(batches):
            model(batch)
        elapsed = time.perf_counter() - started
    with torch.inference_mode():
        CpuInference().prepare_model(model)
        reference = model(probe).float()
    return batches * batch_size / elapsed, relative_difference(output, reference)


def cpu_modes_table(options) -> None:
    native = cpu_bfloat16_supported()
    print(
        f"\nCPU modes, batch {options.batch_size}, {torch.get_num_threads()} threads; native bf16: "
        f"{'yes' if native else 'no (emulated)'}; output change = largest relative L2 change of a logits row "
        f"against fp32 (tolerance {options.tolerance}); Lite0 with its packaged ImageNet weights, B6 random"
    )
    for label, name, size, images in (
        ("B6 @528", "tf_efficientnet_b6", 528, options.b6_images),
        ("Lite0 @224", "tf_efficientnet_lite0", 224, options.lite0_images),
    ):
        if name == "tf_efficientnet_lite0":
            model = backbone_build_lite0_package(num_classes=1000)[0].eval()  # real outputs: a meaningful change
        else:
            model = model_build(name, size, torch.device("cpu"))
        fp32 = None
        for mode in CPU_MODES:
            if mode.bfloat16 and name.endswith("b6") and not (native or options.b6_bf16):
                print(f"{label:11} {mode.name:19} not measured (emulated bf16 takes minutes; --b6-bf16 measures it)")
                continue
            batch = min(options.batch_size, images)
            speed, gap = cpu_mode_throughput(model, mode, image_size=size, images=images, batch_size=batch)
            fp32 = fp32 or speed
            usable = gap <= options.tolerance and (native or not mode.bfloat16)
            taken = usable and speed / fp32 >= MIN_SPEEDUP
            print(
                f"{label:11} {mode.name:19} {speed:8.2f} images/s  {speed / fp32:5.2f}x fp32  "
                f"output change {gap:.1e}  {'would be taken' if taken else ''}"
            )
        del model


def model_build(name: str, image_size: int, device: torch.device) -> torch.nn.Module:
    logging.getLogger("classification.difficulty.backbones").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random init is intended here
        model, _ = backbone_build(name=name, num_classes=2, hub=False, random_init=True, image_size=image_size)
    model.eval().to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--b6-images", type=int, default=16, help="images per B6 measurement")
    parser.add_argument("--lite0-images", type=int, default=64, help="images per Lite0 measurement")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 wins on a busy machine)")
    parser.add_argument("--no-cpu-modes", action="store_true", help="skip the CPU channels_last / bf16 table")
    parser.add_argument("--b6-bf16", action="store_true", help="also measure B6 in emulated bf16 (minutes)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="accepted output change against fp32")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    device = torch.device(options.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no CUDA device is available")
    precision = "bf16 autocast, channels_last" if device.type == "cuda" else f"fp32, {torch.get_num_threads()} threads"
    print(f"device {device} ({precision}); images/s, higher is better")
    rows = []
    for label, name, size, images in (
        ("B6 @528", "tf_efficientnet_b6", 528, options.b6_images),
        ("Lite0 @224", "tf_efficientnet_lite0", 224, options.lite0_images),
    ):
        model = model_build(name, size, device)
        single = throughput(model, image_size=size, images=max(2, images // 4), batch_size=1, device=device)
        batched = throughput(model, image_size=size, images=images, batch_size=options.batch_size, device=device)
        rows.append((label, single, batched))
        print(
            f"{label:11} batch 1 {single:8.1f}  batch {options.batch_size:<3} {batched:8.1f}  "
            f"batched/single {batched / single:5.2f}x"
        )
        del model
    (_, b6_single, b6_batched), (_, lite_single, lite_batched) = rows
    batch = options.batch_size
    print(f"Lite0/B6    batch 1 {lite_single / b6_single:7.1f}x  batch {batch:<3} {lite_batched / b6_batched:7.1f}x")
    if device.type == "cpu" and not options.no_cpu_modes:
        cpu_modes_table(options)


if __name__ == "__main__":
    main()
