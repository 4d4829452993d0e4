"""Did pretraining learn? A checkpoint against an untrained model of the same size, on held-out cells.

The held-out cells are the validation split of the run (same data, same seed and fraction, read from the
checkpoint). Printed per model:

- held-out ZINB negative log-likelihood: denoising pass (input downsampled at 60%), plain reconstruction
  of the input, and bottleneck reconstruction from the special tokens alone;
- denoising as scPRINT measures it: downsample the counts at 70% (``downsample_counts``), predict
  ``E[x] = (1 - pi) mean`` and take the Spearman correlation with the full profile over the entries that
  are non-zero in the full profile (pooled over cells); the noisy input's own correlation is the baseline;
- label accuracy on held-out cells (argmax over leaves; a parent-labelled cell counts as right when the
  predicted leaf is one of its descendants), with the majority-label rate as the baseline.

Usage::

    .venv/bin/python bench/pretrain_eval.py [--checkpoint weights/demo-tiny.pt] [--data file.h5ad ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scprint_graph import keys  # noqa: E402
from scprint_graph.cells import collate_cells  # noqa: E402
from scprint_graph.checkpoint import load_checkpoint  # noqa: E402
from scprint_graph.genes import GeneVocabulary  # noqa: E402
from scprint_graph.model import ScPrintModel  # noqa: E402
from scprint_graph.pretrain_data import DataConfig, build_pretraining_data, location_tensor  # noqa: E402
from scprint_graph.pretrain_tasks import PretrainObjective, TaskConfig, downsample_counts  # noqa: E402
from scprint_graph.train import evaluate  # noqa: E402

DENOISE_LEVEL = 0.7


def zinb_losses(model: ScPrintModel, loader: DataLoader) -> dict[str, float]:
    cpu = torch.device("cpu")
    with_tasks = evaluate(PretrainObjective(model, TaskConfig()), loader, cpu, seed=0)
    plain = evaluate(
        PretrainObjective(model, TaskConfig(denoise=False, bottleneck=False)), loader, cpu, seed=0
    )
    return {
        "ZINB NLL, denoising (60% downsampled in)": with_tasks["denoise_60"],
        "ZINB NLL, plain reconstruction": plain["expr"],
        "ZINB NLL, bottleneck (special tokens only)": with_tasks["bottleneck"],
    }


@torch.no_grad()
def denoising(model: ScPrintModel, loader: DataLoader, seed: int = 0) -> dict[str, float]:
    """Spearman of denoised and noisy profiles with the full one, on entries non-zero in the full one."""
    generator = torch.Generator().manual_seed(seed)
    reco, noisy_all, full_all = [], [], []
    for batch in loader:
        full = batch[keys.EXPRESSION].float()
        noisy = downsample_counts(full, DENOISE_LEVEL, generator=generator)
        kept = noisy.sum(1) / full.sum(1).clamp_min(1.0)
        inputs = {
            keys.GENES: batch[keys.GENES],
            keys.EXPRESSION: noisy,
            keys.DEPTH: batch[keys.DEPTH] * kept,  # the whole cell would have lost as much
            keys.TARGET_DEPTH: noisy.sum(1).clamp_min(1.0),
        }
        expected = model(inputs).zinb.expected()
        nonzero = full > 0
        reco.append(expected[nonzero].numpy())
        noisy_all.append(noisy[nonzero].numpy())
        full_all.append(full[nonzero].numpy())
    reco, noisy, full = (np.concatenate(x) for x in (reco, noisy_all, full_all))
    return {
        "denoised vs full (Spearman)": float(spearmanr(reco, full).statistic),
        "noisy input vs full (Spearman)": float(spearmanr(noisy, full).statistic),
    }


@torch.no_grad()
def label_accuracy(model: ScPrintModel, loader: DataLoader) -> dict[str, float]:
    """Held-out accuracy per label class, and the majority-label rate."""
    hits = {c.name: [] for c in model.config.classes}
    seen = {c.name: [] for c in model.config.classes}
    for batch in loader:
        logits = model(batch).class_logits
        for i, c in enumerate(model.config.classes):
            labels = batch[keys.LABELS][:, i]
            known = labels >= 0
            predicted = logits[c.name].argmax(dim=1)
            allowed = torch.zeros(len(labels), c.n_leaves, dtype=torch.bool)
            for row in torch.nonzero(known).squeeze(1).tolist():
                label = int(labels[row])
                leaves = [label] if label < c.n_leaves else list(c.parent_leaves[label - c.n_leaves])
                allowed[row, leaves] = True
            hits[c.name].append(allowed[torch.arange(len(labels)), predicted][known].numpy())
            seen[c.name].append(labels[known].numpy())
    out = {}
    for c in model.config.classes:
        right, labels = np.concatenate(hits[c.name]), np.concatenate(seen[c.name])
        if len(labels) == 0:
            continue
        out[f"{c.name} accuracy ({len(labels)} cells, {len(np.unique(labels))} labels)"] = float(right.mean())
        out[f"{c.name} majority-label rate"] = float(np.bincount(labels).max() / len(labels))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "weights" / "demo-tiny.pt")
    parser.add_argument("--data", nargs="*", help="h5ad files (default: the run's own data sources)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    ckpt = load_checkpoint(args.checkpoint)
    trained = ckpt.model.float().eval()
    extra = ckpt.extra
    sources = args.data or extra["data_sources"]
    adatas = [ad.read_h5ad(ROOT / s if not Path(s).is_absolute() else s) for s in sources]
    data_config = DataConfig(**extra["data_config"])
    vocab = GeneVocabulary.from_ensembl_ids(ckpt.genes)
    data = build_pretraining_data(adatas, data_config, max_len=trained.config.max_len, vocab=vocab)
    if list(data.vocab.ensembl_ids) != ckpt.genes or data.classes != trained.config.classes:
        msg = "the data do not rebuild the checkpoint's vocabulary and label classes: wrong --data?"
        raise SystemExit(msg)
    if data.val is None:
        raise SystemExit("the run held out no cells (val_fraction = 0): nothing to evaluate on")
    torch.manual_seed(int(extra.get("init_seed", 0)))
    untrained = ScPrintModel(trained.config, gene_locations=location_tensor(vocab)).eval()
    loader = DataLoader(data.val, batch_size=args.batch_size, collate_fn=collate_cells)

    results = {}
    for name, model in (("untrained", untrained), ("pretrained", trained)):
        results[name] = {
            **zinb_losses(model, loader),
            **denoising(model, loader),
            **label_accuracy(model, loader),
        }

    print(
        f"checkpoint: {args.checkpoint} (step {extra.get('step')}, {trained.config.preset_name} preset, "
        f"{sum(p.numel() for p in trained.parameters()):,} parameters, {len(ckpt.genes):,} genes)"
    )
    per_dataset = ", ".join(f"{d['dataset_id']}: {d['val_cells']}" for d in data.datasets)
    total = sum(d["cells"] for d in data.datasets)
    print(
        f"held-out cells: {len(data.val)} of {total} ({per_dataset}); "
        f"context {trained.config.max_len} genes; denoising at {DENOISE_LEVEL:.0%} downsampling"
    )
    width = max(len(k) for k in results["pretrained"])
    print(f"{'metric':<{width}}  {'untrained':>10}  {'pretrained':>10}")
    for key in results["pretrained"]:
        print(f"{key:<{width}}  {results['untrained'][key]:>10.4f}  {results['pretrained'][key]:>10.4f}")


if __name__ == "__main__":
    main()
