"""`scprint-graph pretrain`: pretrain scPRINT on h5ad files or a lamindb collection, from a TOML config.

The config has three tables (see ``configs/``): ``[model]`` (``preset``, ``init_seed``, ``gene_embeddings``
(a parquet table, relative to the config file), ``freeze_gene_embeddings`` (default true with a table),
plus any :class:`ModelConfig` field the data does not determine), ``[train]`` (:class:`TrainConfig`, with
``[train.tasks]``) and ``[data]`` (:class:`DataConfig`, with ``[data.hierarchy.<column>]`` parent -> leaves
tables). An unknown key is refused with the file and the table named. Multi-GPU: launch the same
command under ``torchrun --nproc_per_node N`` (``-m cli pretrain ...``).
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anndata as ad
import torch
import typer

from cli.app import app
from scprint_graph.cells import collate_cells
from scprint_graph.config import ModelConfig
from scprint_graph.gene_embeddings import read_gene_embeddings
from scprint_graph.model import ScPrintModel
from scprint_graph.pretrain_data import DataConfig, build_pretraining_data, location_tensor
from scprint_graph.pretrain_tasks import TaskConfig
from scprint_graph.train import TrainConfig, export_weights, pretrain

logger = logging.getLogger(__name__)

LAMINDB_PREFIX = "lamindb:"


# [model] keys that are not ModelConfig fields, and ModelConfig fields the run fills in itself.
RUN_MODEL_KEYS = {"preset", "init_seed", "gene_embeddings", "freeze_gene_embeddings"}
DERIVED_MODEL_FIELDS = {
    "n_genes",
    "classes",
    "preset_name",
    "frozen_gene_embeddings",
    "gene_embeddings_sha256",
}


@dataclass(frozen=True)
class RunConfig:
    """A parsed run config: the model settings (ModelConfig fields), the run's own model keys, train, data."""

    preset: str
    model: dict[str, Any]
    init_seed: int | None
    gene_embeddings: Path | None
    freeze_gene_embeddings: bool
    train: TrainConfig
    data: DataConfig


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(path: Path, table: str, values: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(values, dict):
        msg = f"{path}: [{table}] must be a table, got {type(values).__name__}"
        raise typer.BadParameter(msg)
    unknown = sorted(set(values) - allowed)
    if unknown:
        msg = f"{path}: unknown key {unknown[0]!r} in [{table}]; known keys: {', '.join(sorted(allowed))}"
        raise typer.BadParameter(msg)
    return dict(values)


def read_run_config(path: Path) -> RunConfig:
    """Parse and check the TOML run config; every mistake is one message naming the file and the key."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        msg = f"cannot read config {path}: {err}"
        raise typer.BadParameter(msg) from err
    unknown = sorted(set(raw) - {"model", "train", "data"})
    if unknown:
        msg = f"{path}: unknown tables {unknown}; expected [model], [train], [data]"
        raise typer.BadParameter(msg)
    model_allowed = (_field_names(ModelConfig) - DERIVED_MODEL_FIELDS) | RUN_MODEL_KEYS
    model = _check_keys(path, "model", raw.get("model", {}), model_allowed)
    train = _check_keys(path, "train", raw.get("train", {}), _field_names(TrainConfig))
    _check_keys(path, "train.tasks", train.get("tasks", {}), _field_names(TaskConfig))
    data = _check_keys(path, "data", raw.get("data", {}), _field_names(DataConfig))
    preset = str(model.pop("preset", "tiny"))
    init_seed = model.pop("init_seed", None)
    table = model.pop("gene_embeddings", None)
    freeze = model.pop("freeze_gene_embeddings", table is not None)
    if not isinstance(freeze, bool):
        msg = f"{path}: [model] freeze_gene_embeddings must be true or false, got {freeze!r}"
        raise typer.BadParameter(msg)
    if freeze and table is None:
        msg = (
            f"{path}: [model] freeze_gene_embeddings = true needs a table: gene_embeddings = 'table.parquet'"
        )
        raise typer.BadParameter(msg)
    try:
        ModelConfig.preset(preset, n_genes=1, **model)  # check the model settings before reading data
        train_config = TrainConfig.from_dict(train)
        data_config = DataConfig(**data)
    except (TypeError, ValueError) as err:
        msg = f"{path}: {err}"
        raise typer.BadParameter(msg) from err
    watches = train_config.schedule == "plateau" or train_config.early_stopping_patience > 0
    if watches and data_config.val_fraction == 0:
        msg = (
            f"{path}: [train] schedule {train_config.schedule!r} / early_stopping_patience "
            f"{train_config.early_stopping_patience} watch the validation loss but [data] val_fraction = 0"
        )
        raise typer.BadParameter(msg)
    return RunConfig(
        preset=preset,
        model=model,
        init_seed=None if init_seed is None else int(init_seed),
        gene_embeddings=None if table is None else (path.parent / str(table)),
        freeze_gene_embeddings=freeze,
        train=train_config,
        data=data_config,
    )


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
    run = read_run_config(config)
    train_config = run.train
    if steps is not None:
        train_config = TrainConfig.from_dict({**train_config.to_dict(), "steps": steps})
    if threads is not None:
        torch.set_num_threads(threads)
    init_seed = train_config.seed if run.init_seed is None else run.init_seed
    max_len = int(run.model.get("max_len", 2200))
    try:
        table = read_gene_embeddings(run.gene_embeddings) if run.gene_embeddings is not None else None
    except ValueError as err:
        raise typer.BadParameter(f"{config}: [model] gene_embeddings: {err}") from err
    adatas = read_datasets(data)
    try:
        prepared = build_pretraining_data(adatas, run.data, max_len=max_len, gene_embeddings=table)
        model_config = ModelConfig.preset(
            run.preset,
            n_genes=len(prepared.vocab),
            classes=prepared.classes,
            frozen_gene_embeddings=run.freeze_gene_embeddings,
            gene_embeddings_sha256=table.sha256 if table is not None else None,
            **run.model,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    torch.manual_seed(init_seed)
    vectors = None if table is None else torch.from_numpy(table.rows_for(prepared.vocab.ensembl_ids))
    model = ScPrintModel(
        model_config, gene_locations=location_tensor(prepared.vocab), gene_embeddings=vectors
    )
    logger.info(
        "model %s: %d parameters (%d trained), %d genes, classes %s",
        run.preset,
        sum(p.numel() for p in model.parameters()),
        sum(p.numel() for p in model.parameters() if p.requires_grad),
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
            "data_config": run.data.to_dict(),
            "datasets": prepared.datasets,
            "data_sources": [str(d) for d in data],
            "init_seed": init_seed,
            "gene_embeddings": None
            if table is None
            else {"source": table.source, "sha256": table.sha256, "width": table.width},
        },
    )
    logger.info("done: %d steps in %.0f s; last validation %s", result.steps, result.seconds, result.last_val)
    if export is not None:
        export_weights(result.checkpoint, export)
        logger.info("exported weights to %s (%.1f MB)", export, export.stat().st_size / 1e6)
