"""`scprint-graph pretrain`: pretrain scPRINT on h5ad files or a lamindb collection, from a TOML config.

The config has three tables (see ``configs/demo-tiny.toml``): ``[model]`` (``preset`` plus any
:class:`ModelConfig` field), ``[train]`` (:class:`TrainConfig`, with ``[train.tasks]``) and ``[data]``
(:class:`DataConfig`, with ``[data.hierarchy.<column>]`` parent -> leaves tables). Multi-GPU: launch the same
command under ``torchrun --nproc_per_node N`` (``-m cli pretrain ...``).
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Annotated, Any

import anndata as ad
import torch
import typer

from cli.app import app
from scprint_graph.cells import collate_cells
from scprint_graph.config import ModelConfig
from scprint_graph.model import ScPrintModel
from scprint_graph.pretrain_data import DataConfig, build_pretraining_data, location_tensor
from scprint_graph.train import TrainConfig, export_weights, pretrain

logger = logging.getLogger(__name__)

LAMINDB_PREFIX = "lamindb:"


def read_run_config(path: Path) -> tuple[dict[str, Any], TrainConfig, DataConfig]:
    """Parse the TOML run config into model settings, a TrainConfig and a DataConfig."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        msg = f"cannot read config {path}: {err}"
        raise typer.BadParameter(msg) from err
    unknown = sorted(set(raw) - {"model", "train", "data"})
    if unknown:
        msg = f"{path}: unknown tables {unknown}; expected [model], [train], [data]"
        raise typer.BadParameter(msg)
    try:
        train = TrainConfig.from_dict(raw.get("train", {}))
        data = DataConfig(**raw.get("data", {}))
    except (TypeError, ValueError) as err:
        msg = f"{path}: {err}"
        raise typer.BadParameter(msg) from err
    model = dict(raw.get("model", {}))
    model.setdefault("preset", "tiny")
    return model, train, data


def read_datasets(sources: list[str]) -> list[ad.AnnData]:
    """h5ad paths (read into memory) or one ``lamindb:<collection key or uid>``."""
    adatas = []
    for source in sources:
        if source.startswith(LAMINDB_PREFIX):
            adatas.extend(read_lamindb_collection(source.removeprefix(LAMINDB_PREFIX)))
            continue
        path = Path(source)
        if not path.is_file():
            msg = f"data file not found: {path}"
            raise typer.BadParameter(msg)
        adatas.append(ad.read_h5ad(path))
    if not adatas:
        msg = "give at least one --data source"
        raise typer.BadParameter(msg)
    return adatas


def read_lamindb_collection(key: str) -> list[ad.AnnData]:
    """The ``.h5ad`` artifacts of a lamindb collection (key or uid, latest version), opened backed.

    Uses the ingest package's lamindb source (``ingest.lamin.LaminSource``) on the default instance.
    """
    from ingest.lamin import LaminSource

    try:
        datasets = list(LaminSource(collection=key).datasets())
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    adatas = []
    for dataset in datasets:
        adata = dataset.opener()
        adata.uns["dataset_id"] = dataset.source_id
        adatas.append(adata)
    logger.info("lamindb collection %s: %d h5ad artifacts", key, len(adatas))
    return adatas


@app.command("pretrain")
def pretrain_command(
    config: Annotated[Path, typer.Option(help="TOML run config, e.g. configs/demo-tiny.toml.")],
    data: Annotated[list[str], typer.Option(help="h5ad file (repeatable) or lamindb:<collection key>.")],
    out: Annotated[Path, typer.Option(help="Run folder: last.pt checkpoint and metrics.csv.")],
    export: Annotated[
        Path | None, typer.Option(help="Also write the final weights (fp16, no optimizer).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Override [train] steps.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt when present.")] = True,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
) -> None:
    """Pretrain scPRINT (denoising, bottleneck, hierarchical labels) and write checkpoints to OUT."""
    model_settings, train_config, data_config = read_run_config(config)
    if steps is not None:
        train_config = TrainConfig.from_dict({**train_config.to_dict(), "steps": steps})
    if threads is not None:
        torch.set_num_threads(threads)
    preset = model_settings.pop("preset")
    init_seed = int(model_settings.pop("init_seed", train_config.seed))
    max_len = int(model_settings.get("max_len", 2200))
    adatas = read_datasets(data)
    try:
        prepared = build_pretraining_data(adatas, data_config, max_len=max_len)
        model_config = ModelConfig.preset(
            preset, n_genes=len(prepared.vocab), classes=prepared.classes, **model_settings
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    torch.manual_seed(init_seed)
    model = ScPrintModel(model_config, gene_locations=location_tensor(prepared.vocab))
    logger.info(
        "model %s: %d parameters, %d genes, classes %s",
        preset,
        sum(p.numel() for p in model.parameters()),
        len(prepared.vocab),
        {c.name: c.n_leaves for c in prepared.classes},
    )
    result = pretrain(
        model,
        list(prepared.vocab.ensembl_ids),
        prepared.train,
        prepared.val,
        prepared.weights,
        out,
        config=train_config,
        collate_fn=collate_cells,
        resume=resume,
        extra={
            "data_config": data_config.to_dict(),
            "datasets": prepared.datasets,
            "data_sources": [str(d) for d in data],
            "init_seed": init_seed,
        },
    )
    logger.info("done: %d steps in %.0f s; last validation %s", result.steps, result.seconds, result.last_val)
    if export is not None:
        export_weights(result.checkpoint, export)
        logger.info("exported weights to %s (%.1f MB)", export, export.stat().st_size / 1e6)
