"""Ingestion throughput: end-to-end cells/s on the demo data vs the model-only throughput of the same config.

- model-only: ``extract_network`` on every group's cells, already in memory, with the run's model and
  parameters: tokenisation, forward passes, Q/K sums and the network, nothing else.
- end-to-end: ``run_ingest`` into a fresh store: listing and hashing the files, loading the checkpoint and
  its vocabulary, validation, planning, backed reads, the same extraction per group, the DuckDB release
  written and published.

Both count the cells that went through the model (the deepest ``max_cells`` of each group) and run in this one
process, alternating, best of ``--repeats``. Target: end-to-end >= 80% of model-only. Prints figures only.

    .venv/bin/python bench/ingest.py [--config examples/sources.toml] [--threads 1] [--repeats 3]

The config (default: the documented example: the demo data, the demo weights, its [params]) gives both
measurements their model, parameters, batch size and device; the store goes to a temporary folder.
"""

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.config import IngestConfig, load_config  # noqa: E402
from ingest.pipeline import run_ingest  # noqa: E402
from ingest.plan import plan_groups  # noqa: E402
from ingest.worker import ModelWorker  # noqa: E402
from scprint_graph.checkpoint import save_checkpoint  # noqa: E402
from scprint_graph.config import ModelConfig  # noqa: E402
from scprint_graph.genes import GeneVocabulary  # noqa: E402
from scprint_graph.grn import extract_network  # noqa: E402
from scprint_graph.model import ScPrintModel  # noqa: E402


def demo_checkpoint(files: list[Path], folder: Path) -> Path:
    """A random-initialised ``tiny`` model (max_len 256, as configs/demo-tiny.toml) over the demo genes."""
    vocab = GeneVocabulary.load(("human",))
    genes = sorted({g for f in files for g in ad.read_h5ad(f, backed="r").var_names})
    sub = vocab.subset(vocab.index_of(genes)[vocab.index_of(genes) >= 0])
    config = ModelConfig.preset("tiny", n_genes=len(sub), max_len=256, dropout=0.0)
    torch.manual_seed(0)
    model = ScPrintModel(config, gene_locations=torch.from_numpy(sub.location_index())).eval()
    return save_checkpoint(folder / "bench-tiny.ckpt", model, list(sub.ensembl_ids))


def model_only(worker: ModelWorker, groups: list[ad.AnnData]) -> tuple[float, int, float]:
    """Wall seconds, model cells and CPU seconds for extracting every group from memory."""
    start, cpu = time.perf_counter(), time.process_time()
    cells = 0
    for group in groups:
        net = extract_network(
            worker.model, group, worker.vocab, worker.params, batch_size=worker.batch_size, progress=False
        )
        cells += net.n_cells
    return time.perf_counter() - start, cells, time.process_time() - cpu


def end_to_end(config: IngestConfig) -> tuple[float, int, float, str]:
    """Wall seconds, model cells, CPU seconds and the summary table of one run into a fresh store."""
    start, cpu = time.perf_counter(), time.process_time()
    report = run_ingest(config, progress=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not report.ok or report.counts()["added"] == 0:
        msg = f"ingestion did not succeed:\n{report.summary_table()}"
        raise RuntimeError(msg)
    return seconds, report.n_model_cells, cpu, report.summary_table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "sources.toml")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the config's")
    parser.add_argument("--device", default=None, help="default: the config's")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    base = load_config(args.config)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    checkpoint = args.checkpoint or base.checkpoint
    if not checkpoint.is_file():
        files = [f for source in base.build_sources() if hasattr(source, "files") for f in source.files()]
        checkpoint = demo_checkpoint(files, tmp)
    base = dataclasses.replace(base, checkpoint=checkpoint, device=args.device or base.device)
    worker = ModelWorker.from_file(
        checkpoint, device=base.device, batch_size=base.batch_size, params=base.params
    )

    groups = []
    for source in base.build_sources():
        for dataset in source.datasets():
            with dataset.open() as backed:
                adata = backed.to_memory()
            plan = plan_groups(adata.obs, dataset.columns, min_cells=base.min_cells)
            groups += [adata[g.cells].copy() for g in plan.groups]
    model_only(worker, groups[:1])  # warm-up: first-call allocations, kernel selection

    model_runs, e2e_runs = [], []
    for i in range(args.repeats):
        model_runs.append(model_only(worker, groups))
        e2e_runs.append(end_to_end(dataclasses.replace(base, store=tmp / f"atlas{i}")))
    model_s, model_cells, model_cpu = min(model_runs)
    e2e_s, e2e_cells, e2e_cpu, summary = min(e2e_runs)
    print(summary)
    print()
    print(f"config: {args.config}; checkpoint: {checkpoint.name}")
    print(f"device: {worker.device}; torch threads: {torch.get_num_threads()}; {len(groups)} groups")
    print(f"params: {base.params}, min_cells={base.min_cells}, batch_size={base.batch_size}")
    print(f"best of {args.repeats}, model-only and end-to-end alternating in one process")
    print(
        f"model-only:  {model_cells} cells in {model_s:.2f} s = {model_cells / model_s:.1f} cells/s "
        f"(process CPU {model_cpu:.2f} s)"
    )
    print(
        f"end-to-end:  {e2e_cells} cells in {e2e_s:.2f} s = {e2e_cells / e2e_s:.1f} cells/s "
        f"(process CPU {e2e_cpu:.2f} s)"
    )
    ratio = (e2e_cells / e2e_s) / (model_cells / model_s)
    print(f"end-to-end / model-only: {ratio:.2f} wall (target >= 0.80), {model_cpu / e2e_cpu:.2f} CPU time")


if __name__ == "__main__":
    main()
