"""Pretraining throughput: cells/s and model FLOP utilisation (MFU) of full scPRINT training steps.

One step is what ``scprint-graph pretrain`` runs: the denoising pass, the bottleneck pass, the label and
dissimilarity losses, backward, gradient clipping and the AdamW update (6 label classes, a classifier
hidden layer of d_model, as ``configs/pretrain-*.toml``). Batches are synthetic (random genes and Poisson
counts, already on the device), so the figure is the model's, not the data loader's. bf16 autocast on CUDA,
fp32 on CPU.

MFU = achieved model FLOP/s / the device's peak. Model FLOPs per cell and step: 3 x (forward FLOPs of the
two passes) (backward ~ 2 x forward), counted analytically with ``bench/model_throughput.py``'s
:func:`forward_flops_per_cell`. Peak: dense bf16 from the vendor's data sheet on GPU; on CPU an estimate,
cores used (torch threads) x clock x fp32 FLOPs per cycle (32 with AVX2 + FMA, 64 with AVX-512), or
``--peak-gflops``. On a shared machine ``--threads 1`` gives steadier figures.

    python bench/pretrain_throughput.py --preset tiny --preset small        # CPU
    python bench/pretrain_throughput.py --device cuda --preset medium --batch-size 64 --max-len 2200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.model_throughput import device_peak, forward_flops_per_cell  # noqa: E402
from scprint_graph import keys  # noqa: E402
from scprint_graph.config import PRESETS, LabelClass, ModelConfig  # noqa: E402
from scprint_graph.model import ScPrintModel  # noqa: E402
from scprint_graph.pretrain_tasks import PretrainObjective, TaskConfig  # noqa: E402
from scprint_graph.train import TrainConfig, _autocast  # noqa: E402

N_GENES = 20_000
N_CLASSES, N_LEAVES = 6, 40


def cpu_peak() -> tuple[float | None, str]:
    """Estimated fp32 peak FLOP/s of the cores this process may use, from /proc/cpuinfo."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, "unknown CPU"
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    per_cycle = 64 if " avx512f" in flags else 32 if (" avx2" in flags and " fma" in flags) else 8
    cores = min(len(os.sched_getaffinity(0)), torch.get_num_threads())  # the cores torch computes on
    if not mhz:
        return None, "unknown clock"
    return cores * mhz[0] * 1e6 * per_cycle, f"{cores} cores x {mhz[0]:.0f} MHz x {per_cycle} FLOP/cycle"


def make_batch(batch_size: int, n_ctx: int, device: torch.device) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    genes = torch.stack([torch.randperm(N_GENES, generator=generator)[:n_ctx] for _ in range(batch_size)])
    expression = torch.poisson(torch.rand(batch_size, n_ctx, generator=generator) * 3, generator=generator)
    labels = torch.randint(-1, N_LEAVES, (batch_size, N_CLASSES), generator=generator)
    batch = {
        keys.GENES: genes,
        keys.EXPRESSION: expression,
        keys.DEPTH: expression.sum(1) * 2,
        keys.LABELS: labels,
    }
    return {k: v.to(device) for k, v in batch.items()}


def build(preset: str, max_len: int, device: torch.device) -> tuple[ScPrintModel, PretrainObjective]:
    classes = tuple(
        LabelClass(name=f"class{i}", leaves=tuple(f"l{j}" for j in range(N_LEAVES))) for i in range(N_CLASSES)
    )
    d_model = PRESETS[preset]["d_model"]
    config = ModelConfig.preset(
        preset, n_genes=N_GENES, max_len=max_len, classes=classes, classifier_hidden=(d_model,)
    )
    torch.manual_seed(0)
    model = ScPrintModel(config, gene_locations=torch.arange(N_GENES) * 3).to(device)
    return model, PretrainObjective(model, TaskConfig()).train()


def bench(preset: str, args: argparse.Namespace, device: torch.device, peak: float | None) -> dict:
    model, objective = build(preset, args.max_len, device)
    train = TrainConfig()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    batch = make_batch(args.batch_size, args.max_len, device)
    precision = "bf16" if device.type == "cuda" else "fp32"
    generator = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        with _autocast(device, precision):
            terms = objective(batch, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]  # median step
    flops = 3 * 2 * forward_flops_per_cell(model.config, args.max_len) * args.batch_size  # two passes
    return {
        "preset": preset,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "cells_per_s": args.batch_size / seconds,
        "ms_per_step": 1000 * seconds,
        "tflops": flops / seconds / 1e12,
        "mfu": None if peak is None else flops / seconds / peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", action="append", choices=sorted(PRESETS), help="repeatable (default: tiny, small)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--peak-gflops", type=float, default=None, help="device peak for MFU (overrides)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        peak, source = device_peak(device), torch.cuda.get_device_name(device) + " dense bf16 data sheet"
    else:
        peak, source = cpu_peak()
        source = f"estimate: {source}"
    if args.peak_gflops:
        peak, source = args.peak_gflops * 1e9, "--peak-gflops"
    precision = "bf16" if device.type == "cuda" else "fp32"
    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    print(f"device {device} ({precision}), torch threads {threads}, load average {load:.1f}")
    print(f"peak {'unknown' if peak is None else f'{peak / 1e12:.2f} TFLOP/s'} ({source})")
    shape = f"{args.batch_size} cells x {args.max_len} genes"
    print(f"batch {shape}; median of {args.steps} timed steps after {args.warmup} untimed")
    print(f"{'preset':8} {'params':>8} {'cells/s':>9} {'ms/step':>9} {'TFLOP/s':>9} {'MFU':>7}")
    for preset in args.preset or ["tiny", "small"]:
        r = bench(preset, args, device, peak)
        mfu = "n/a" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        print(
            f"{r['preset']:8} {r['params_M']:7.2f}M {r['cells_per_s']:9.1f} {r['ms_per_step']:9.1f} "
            f"{r['tflops']:9.4f} {mfu:>7}"
        )


if __name__ == "__main__":
    main()
