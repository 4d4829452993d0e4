"""Forward-pass throughput and peak memory of the scPRINT model, with and without Q/K capture.

Prints one row per (preset, mode): cells/s, ms per batch, peak memory above the pre-run baseline, the
capture/plain time and memory ratios and, on GPU, the model FLOP utilisation (achieved FLOP/s over the
device's dense bf16 peak; FLOPs counted analytically, see :func:`forward_flops_per_cell`).

Times: plain and capture runs alternate in one process (both see the same background load); the best of
``--iters`` is reported, as wall time and as this process's CPU time (steadier than wall time on a machine
shared with other work). Memory: CPU fp32, max RSS of one forward sampled every 2 ms by a thread (psutil)
in a fresh process, minus the RSS before it; GPU bf16 autocast, torch.cuda.max_memory_allocated minus the
memory allocated before the run.

    python bench/model_throughput.py                      # tiny, small on CPU
    python bench/model_throughput.py --device cuda        # all presets on GPU, bf16
    python bench/model_throughput.py --family scprint2    # scPRINT-2 presets (6 neighbours per cell)
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from dataclasses import dataclass

import psutil
import torch

from scprint_graph import keys
from scprint_graph.config import PRESETS, LabelClass, ModelConfig
from scprint_graph.model import ScPrintModel, autocast_for
from scprint_graph.v2.config import PRESETS as V2_PRESETS
from scprint_graph.v2.config import V2Config
from scprint_graph.v2.model import NEIGHBOR_DISTANCE, NEIGHBOR_EXPRESSION, ScPrint2Model

V2_COMPRESS = (64, 32, 2)  # one VAE of scprint2's cell-type size, one of tissue's, one FSQ (sex)

N_GENES = 20_000
# Dense bf16 tensor-core peaks (FLOP/s) by device-name fragment, from the vendors' data sheets.
BF16_PEAK = {
    "H200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
}


def forward_flops_per_cell(config: ModelConfig, n_ctx: int) -> float:
    """Matmul FLOPs (2 per multiply-add) of one cell's forward pass.

    Per token and layer: QKV 6d^2, output projection 2d^2, MLP 4 * 4d^2 (ratio 4), attention scores and
    weighted values 4 * n_tokens * d. Outside the blocks, per gene token: expression encoder 2d^2 and
    expression decoder 4d^2 (+ the 3-way head). Embedding look-ups, norms and softmax are left out.
    """
    d, n_tokens = config.d_model, n_ctx + config.n_special_tokens
    per_layer = n_tokens * (8 * d * d + 4 * config.mlp_ratio * d * d + 4 * n_tokens * d)
    outside = n_ctx * (2 * d * d + 4 * d * d + 6 * d)
    return config.n_layers * per_layer + outside


def v2_forward_flops_per_cell(config: V2Config, n_ctx: int) -> float:
    """As :func:`forward_flops_per_cell` for scPRINT-2: GQA gene transformer (its cross-attention is unused
    in the forward), the cell transformer (cross-attention K/V over every gene token, then self-attention
    over 1 + n_classes tokens), the adapter, the expression encoder (own count and 6 neighbours) and decoder.
    """
    d, dc, c, k = config.d_model, config.d_model_cell, 1 + config.n_classes, config.n_neighbors
    kv = 2 * config.n_heads_kv * config.d_head
    gene_layer = n_ctx * (2 * d * (d + kv) + 2 * d * d + 4 * config.mlp_ratio * d * d + 4 * n_ctx * d)
    kv_c = 2 * config.n_heads_kv_cell * (dc // config.n_heads_cell)
    cell_layer = n_ctx * 2 * d * kv_c + c * (2 * dc * dc + 4 * n_ctx * dc)  # cross: K/V of genes, Q, scores
    cell_layer += c * (2 * dc * (dc + kv_c) + 4 * dc * dc + 4 * config.mlp_ratio * dc * dc + 4 * c * dc)
    outside = n_ctx * (4 * d * d + 2 * d * d + k * 2 * d * d + 2 * 2 * d * d + 2 * (d + 1) * d + 2 * d * d)
    return config.n_layers * gene_layer + config.n_layers_cell * cell_layer + outside


def device_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for fragment, peak in BF16_PEAK.items() if fragment in name), None)


class RssSampler:
    """Max resident set size of this process, sampled by a background thread."""

    def __init__(self, interval: float = 0.002):
        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def above_baseline(self) -> int:
        return self.peak - self.baseline


@dataclass
class Result:
    preset: str
    mode: str
    cells_per_s: float
    ms_per_batch: float
    cpu_ms_per_batch: float
    peak_mib: float
    gflops: float
    mfu: float | None


def make_batch(batch_size: int, n_ctx: int, device: torch.device, n_neighbors: int = 0):
    generator = torch.Generator().manual_seed(0)
    genes = torch.stack([torch.randperm(N_GENES, generator=generator)[:n_ctx] for _ in range(batch_size)])
    expression = torch.poisson(torch.rand(batch_size, n_ctx, generator=generator) * 3, generator=generator)
    batch = {keys.GENES: genes, keys.EXPRESSION: expression, keys.DEPTH: expression.sum(1) * 2}
    if n_neighbors:
        rates = torch.rand(batch_size, n_neighbors, n_ctx, generator=generator) * 3
        batch[NEIGHBOR_EXPRESSION] = torch.poisson(rates, generator=generator)
        batch[NEIGHBOR_DISTANCE] = torch.rand(batch_size, n_neighbors, generator=generator)
    return {k: v.to(device) for k, v in batch.items()}


def run_once(
    model: ScPrintModel, batch: dict[str, torch.Tensor], capture: bool, device: torch.device
) -> None:
    with torch.no_grad(), autocast_for(device):
        output = model(batch, capture_qk=capture)
    if capture:  # touch the captured tensors so that they are really produced and kept
        assert output.qk is not None and output.qk[-1][0].shape[-1] == model.config.d_head
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(
    model: ScPrintModel, batch: dict[str, torch.Tensor], iters: int, device: torch.device
) -> dict[bool, tuple[float, float]]:
    """Best (wall, process CPU) seconds per batch for plain (False) and capture (True) runs.

    The modes alternate so that both see the same background load, and the minimum is kept: on a shared
    machine the wall time mostly measures the others' work; the CPU time of this process is steadier.
    """
    for capture in (False, True):
        run_once(model, batch, capture, device)  # warm-up (kernel selection, allocator)
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(iters):
        for capture in (False, True):
            wall, cpu = time.perf_counter(), time.process_time()
            run_once(model, batch, capture, device)
            times[capture].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {capture: (min(w for w, _ in t), min(c for _, c in t)) for capture, t in times.items()}


def peak_cuda(
    model: ScPrintModel, batch: dict[str, torch.Tensor], capture: bool, device: torch.device
) -> int:
    """Peak bytes allocated by one forward above the pre-run level."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run_once(model, batch, capture, device)
    return torch.cuda.max_memory_allocated(device) - base


def _cpu_child(name: str, n_ctx: int, batch_size: int, capture: bool, family: str, queue) -> None:
    model, batch = build(name, n_ctx, batch_size, torch.device("cpu"), family)
    with RssSampler() as sampler:  # a fresh process: the allocator holds no earlier activations
        run_once(model, batch, capture, torch.device("cpu"))
    queue.put(sampler.above_baseline)


def peak_cpu(name: str, args: argparse.Namespace, capture: bool) -> int:
    """Peak RSS of one forward above the pre-run RSS, measured in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(
        target=_cpu_child, args=(name, args.n_ctx, args.batch_size, capture, args.family, queue)
    )
    child.start()
    result = queue.get()
    child.join()
    return result


def build(name: str, n_ctx: int, batch_size: int, device: torch.device, family: str = "scprint"):
    classes = tuple(LabelClass(name=f"class{i}", leaves=tuple(f"l{j}" for j in range(10))) for i in range(3))
    if family == "scprint2":
        config = V2Config.preset(
            name, n_genes=N_GENES, max_len=n_ctx, classes=classes, compress_dims=V2_COMPRESS
        )
        torch.manual_seed(0)
        model = ScPrint2Model(config).to(device).eval()
        return model, make_batch(batch_size, n_ctx, device, config.n_neighbors)
    config = ModelConfig.preset(name, n_genes=N_GENES, max_len=n_ctx, classes=classes, dropout=0.0)
    torch.manual_seed(0)
    model = ScPrintModel(config, gene_locations=torch.arange(N_GENES)).to(device).eval()
    return model, make_batch(batch_size, n_ctx, device)


def bench_preset(name: str, args: argparse.Namespace, device: torch.device) -> list[Result]:
    model, batch = build(name, args.n_ctx, args.batch_size, device, args.family)
    peak = device_peak(device)
    count = v2_forward_flops_per_cell if args.family == "scprint2" else forward_flops_per_cell
    flops = count(model.config, args.n_ctx) * args.batch_size
    seconds = interleaved_times(model, batch, args.iters, device)
    results = []
    for mode, capture in (("plain", False), ("capture_qk", True)):
        if device.type == "cuda":
            peak_bytes = peak_cuda(model, batch, capture, device)
        else:
            peak_bytes = peak_cpu(name, args, capture)
        wall, cpu = seconds[capture]
        results.append(
            Result(
                preset=name,
                mode=mode,
                cells_per_s=args.batch_size / wall,
                ms_per_batch=1e3 * wall,
                cpu_ms_per_batch=1e3 * cpu,
                peak_mib=peak_bytes / 2**20,
                gflops=flops / wall / 1e9,
                mfu=flops / wall / peak if peak else None,
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--presets", default=None, help="comma-separated (default: tiny,small on CPU, all on GPU)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default: 4 on CPU, 16 on GPU")
    parser.add_argument("--n-ctx", type=int, default=2200, help="context genes per cell")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--family", default="scprint", choices=["scprint", "scprint2"])
    args = parser.parse_args()
    device = torch.device(args.device)
    known = V2_PRESETS if args.family == "scprint2" else PRESETS
    presets = (
        args.presets.split(",")
        if args.presets
        else (list(known) if device.type == "cuda" else ["tiny", "small"])
    )
    args.batch_size = args.batch_size or (16 if device.type == "cuda" else 4)
    label = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU x{torch.get_num_threads()} threads"
    )
    dtype = "bf16 autocast" if device.type == "cuda" else "fp32"
    print(
        f"family: {args.family}; device: {label}, {dtype}; "
        f"batch {args.batch_size} cells x {args.n_ctx} genes; {args.iters} iters"
    )
    header = f"{'preset':<8} {'mode':<11} {'cells/s':>9} {'ms/batch':>9} {'cpu ms':>9} {'GFLOP/s':>8}"
    header += f" {'peak MiB':>9} {'t ratio':>8} {'cpu ratio':>9} {'mem ratio':>9}"
    header += f" {'MFU':>6}" if device.type == "cuda" else ""
    print(header)
    for name in presets:
        plain, capture = bench_preset(name, args, device)
        for row in (plain, capture):
            t_ratio = row.ms_per_batch / plain.ms_per_batch
            cpu_ratio = row.cpu_ms_per_batch / plain.cpu_ms_per_batch
            m_ratio = row.peak_mib / plain.peak_mib if plain.peak_mib > 0 else float("nan")
            line = (
                f"{row.preset:<8} {row.mode:<11} {row.cells_per_s:>9.2f} {row.ms_per_batch:>9.1f} "
                f"{row.cpu_ms_per_batch:>9.1f} {row.gflops:>8.1f} {row.peak_mib:>9.1f} {t_ratio:>8.3f} "
                f"{cpu_ratio:>9.3f} {m_ratio:>9.3f}"
            )
            if device.type == "cuda":
                line += f" {row.mfu:>6.1%}" if row.mfu is not None else "    n/a"
            print(line, flush=True)


if __name__ == "__main__":
    main()
