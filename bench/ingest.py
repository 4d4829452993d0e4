"""Ingestion throughput: end-to-end cells/s on the demo data vs the model-only throughput of the same config.

- model-only: ``extract_network`` on every group's cells, already in memory, with the run's model and
  parameters: tokenisation, forward passes, Q/K sums and the network, nothing else.
- end-to-end: ``run_ingest`` into a fresh store: listing and hashing the files, loading the checkpoint and
  its vocabulary, validation, planning, backed reads, the same extraction per group, the DuckDB release
  written and published.

Both count the cells that went through the model (the deepest ``max_cells`` of each group) and run in this one
process, alternating, best of ``--repeats``. Target: end-to-end >= 80% of model-only. Prints figures only.

    .venv/bin/python bench/ingest.py [--checkpoint weights/demo-tiny.pt] [--data data/demo]
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import torch

ROOT = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = ROOT / "weights" / "demo-tiny.pt"
sys.path.insert(0, str(ROOT))

from ingest.columns import ColumnMap  # noqa: E402
from ingest.config import IngestConfig, SourceSpec  # noqa: E402
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


def model_only(worker: ModelWorker, groups: list[ad.AnnData]) -> tuple[float, int]:
    """Seconds and model cells for extracting every group from memory."""
    start = time.perf_counter()
    cells = 0
    for group in groups:
        net = extract_network(
            worker.model, group, worker.vocab, batch_size=worker.batch_size, progress=False, **worker.params
        )
        cells += net.n_cells
    return time.perf_counter() - start, cells


def end_to_end(config: IngestConfig) -> tuple[float, int, str]:
    start = time.perf_counter()
    report = run_ingest(config, progress=False)
    seconds = time.perf_counter() - start
    if not report.ok or report.counts()["added"] == 0:
        msg = f"ingestion did not succeed:\n{report.summary_table()}"
        raise RuntimeError(msg)
    return seconds, report.n_model_cells, report.summary_table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=DEMO_WEIGHTS if DEMO_WEIGHTS.is_file() else None,
        help="default: weights/demo-tiny.pt, else a random-initialised tiny model",
    )
    parser.add_argument("--n-genes", type=int, default=200)
    parser.add_argument("--max-cells", type=int, default=256)
    parser.add_argument("--min-cells", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    files = sorted(args.data.glob("*.h5ad"))
    if not files:
        sys.exit(f"no .h5ad files in {args.data}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    checkpoint = args.checkpoint or demo_checkpoint(files, tmp)
    params = {"genes": "most variable", "n_genes": args.n_genes, "max_cells": args.max_cells}
    worker = ModelWorker.from_file(checkpoint, device=args.device, batch_size=args.batch_size, params=params)

    groups = []
    for path in files:
        adata = ad.read_h5ad(path)
        plan = plan_groups(adata.obs, ColumnMap(), min_cells=args.min_cells)
        groups += [adata[g.cells].copy() for g in plan.groups]
    model_only(worker, groups[:1])  # warm-up: first-call allocations, kernel selection

    def config(i: int) -> IngestConfig:
        return IngestConfig(
            sources=(SourceSpec(kind="h5ad", options={"path": str(args.data), "name": "demo"}),),
            store=tmp / f"atlas{i}",
            checkpoint=checkpoint,
            params=params,
            min_cells=args.min_cells,
            device=args.device,
            batch_size=args.batch_size,
        )

    model_runs, e2e_runs = [], []
    for i in range(args.repeats):
        model_runs.append(model_only(worker, groups))
        e2e_runs.append(end_to_end(config(i)))
    model_s, model_cells = min(model_runs)
    e2e_s, e2e_cells, summary = min(e2e_runs)
    print(summary)
    print()
    kind = "given" if args.checkpoint else "random-initialised tiny over the demo genes"
    print(f"checkpoint: {checkpoint.name} ({kind})")
    print(f"device: {worker.device}; torch threads: {torch.get_num_threads()}")
    print(f"{len(files)} datasets, {len(groups)} groups")
    print(
        f"params: {params}, min_cells={args.min_cells}, batch_size={args.batch_size}; best of {args.repeats}"
    )
    print(f"model-only:  {model_cells} cells in {model_s:.2f} s = {model_cells / model_s:.1f} cells/s")
    print(f"end-to-end:  {e2e_cells} cells in {e2e_s:.2f} s = {e2e_cells / e2e_s:.1f} cells/s")
    ratio = (e2e_cells / e2e_s) / (model_cells / model_s)
    print(f"end-to-end / model-only: {ratio:.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
