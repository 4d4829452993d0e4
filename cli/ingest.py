"""`scprint-graph ingest` (one run) and `scprint-graph schedule` (re-ingest on a cron or an interval).

Sources come from a TOML config (``examples/sources.toml`` documents every option) and/or ``.h5ad`` paths
given on the command line, whose obs columns are mapped by options (``--cell-type-col``, ``--tissue``, ...).
Both commands share one file lock per store, so two runs never overlap.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from ingest.columns import ColumnMap
from ingest.config import IngestConfig, ScheduleSpec, SourceSpec, load_config
from ingest.pipeline import run_ingest
from ingest.report import RunReport
from ingest.schedule import RunInProgress, build_scheduler, lock_path, run_locked

logger = logging.getLogger(__name__)

_COLUMNS = "Column mapping (for .h5ad paths given on the command line)"
_RUN = "Run"


def _column_map(**options: str | None) -> ColumnMap:
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return ColumnMap(**given)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


def build_config(
    config: Path | None,
    paths: list[Path],
    columns: ColumnMap,
    *,
    store: Path | None,
    checkpoint: Path | None,
    overrides: dict,
) -> IngestConfig:
    """The run's config: the file (if any), plus command-line paths and overrides."""
    try:
        base = load_config(config) if config is not None else None
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    extra = tuple(SourceSpec(kind="h5ad", options={"path": str(p.resolve())}, columns=columns) for p in paths)
    if base is None:
        if not paths:
            msg = "give --config or at least one .h5ad file or folder"
            raise typer.BadParameter(msg)
        if store is None or checkpoint is None:
            msg = "without --config, --store and --checkpoint are required"
            raise typer.BadParameter(msg)
        try:
            return IngestConfig(
                sources=extra,
                store=store.resolve(),
                checkpoint=checkpoint.resolve(),
                base=Path.cwd(),
                **overrides,
            )
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
    changes = {k: v for k, v in overrides.items() if v is not None}
    if store is not None:
        changes["store"] = store.resolve()
    if checkpoint is not None:
        changes["checkpoint"] = checkpoint.resolve()
    try:
        return dataclasses.replace(base, sources=base.sources + extra, **changes)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


def _finish(report: RunReport, report_path: Path | None) -> None:
    typer.echo(report.summary_table())
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report.to_dict(), indent=2, default=str))


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help=".h5ad files or folders to ingest")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config (see examples/sources.toml)")] = None,
    store: Annotated[
        Path | None, typer.Option(help="store folder (overrides the config's store root)")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="model checkpoint (overrides the config's)")] = None,
    cell_type_col: Annotated[
        str | None, typer.Option(help="obs column of cell types", rich_help_panel=_COLUMNS)
    ] = None,
    tissue_col: Annotated[
        str | None, typer.Option(help="obs column of tissues", rich_help_panel=_COLUMNS)
    ] = None,
    disease_col: Annotated[
        str | None, typer.Option(help="obs column of diseases", rich_help_panel=_COLUMNS)
    ] = None,
    cell_type: Annotated[
        str | None, typer.Option(help="one cell type for all cells", rich_help_panel=_COLUMNS)
    ] = None,
    tissue: Annotated[
        str | None, typer.Option(help="one tissue for all cells", rich_help_panel=_COLUMNS)
    ] = None,
    disease: Annotated[
        str | None, typer.Option(help="one disease for all cells", rich_help_panel=_COLUMNS)
    ] = None,
    organism: Annotated[
        str | None,
        typer.Option(help="e.g. human, zebrafish, Danio rerio, NCBITaxon:7955", rich_help_panel=_COLUMNS),
    ] = None,
    gene_col: Annotated[
        str | None, typer.Option(help="var column of Ensembl ids or symbols", rich_help_panel=_COLUMNS)
    ] = None,
    counts: Annotated[
        str | None,
        typer.Option(help="X, raw or layers/<name>: where raw counts are", rich_help_panel=_COLUMNS),
    ] = None,
    min_cells: Annotated[
        int | None, typer.Option(help="smallest group given a network", rich_help_panel=_RUN)
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cuda or cpu", rich_help_panel=_RUN)] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="cells per forward pass", rich_help_panel=_RUN)
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="write the run report (JSON) here", rich_help_panel=_RUN)
    ] = None,
    progress: Annotated[bool, typer.Option(help="progress bars", rich_help_panel=_RUN)] = True,
) -> None:
    """Ingest new or changed datasets once: validate, build networks per group, publish a new release."""
    columns = _column_map(
        cell_type_col=cell_type_col,
        tissue_col=tissue_col,
        disease_col=disease_col,
        cell_type=cell_type,
        tissue=tissue,
        disease=disease,
        organism=organism,
        gene_col=gene_col,
        counts=counts,
    )
    overrides = {"min_cells": min_cells, "device": device, "batch_size": batch_size}
    if config is None:
        overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = build_config(
        config, list(paths or []), columns, store=store, checkpoint=checkpoint, overrides=overrides
    )
    if not cfg.checkpoint.is_file():
        raise typer.BadParameter(f"checkpoint file not found: {cfg.checkpoint}")
    try:
        result = run_locked(lambda: run_ingest(cfg, progress=progress), lock_path(cfg.store, cfg.schedule))
    except RunInProgress as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=2) from err
    _finish(result, report)
    if not result.ok:
        raise typer.Exit(code=1)


@app.command()
def schedule(
    config: Annotated[Path, typer.Option(help="TOML config with a schedule table")],
    cron: Annotated[
        str | None, typer.Option(help="crontab expression (overrides the config's schedule)")
    ] = None,
    interval_minutes: Annotated[float | None, typer.Option(help="minutes between runs (overrides)")] = None,
    progress: Annotated[bool, typer.Option(help="progress bars")] = False,
) -> None:
    """Re-ingest on a schedule: one run at a time, one catch-up after downtime, only new or changed data."""
    cfg = build_config(config, [], ColumnMap(), store=None, checkpoint=None, overrides={})
    spec = cfg.schedule
    if cron is not None or interval_minutes is not None:
        try:
            spec = ScheduleSpec(
                cron=cron,
                interval_minutes=interval_minutes,
                lock=spec.lock if spec else None,
                timezone=spec.timezone if spec else "UTC",
            )
        except ValueError as err:
            raise typer.BadParameter(str(err)) from err
    if spec is None:
        msg = f"{config} has no [schedule] table; add one or give --cron / --interval-minutes"
        raise typer.BadParameter(msg)

    def job() -> None:
        # The file is read again at every run: sources added to it are picked up without a restart.
        current = build_config(config, [], ColumnMap(), store=None, checkpoint=None, overrides={})
        result = run_ingest(current, progress=progress)
        logger.info("scheduled run finished:\n%s", result.summary_table())

    try:
        scheduler = build_scheduler(spec, job, lock_path(cfg.store, spec))
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    logger.info(
        "scheduling ingestion of %s (%s); Ctrl-C stops",
        config,
        spec.cron or f"every {spec.interval_minutes} min",
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        logger.info("scheduler stopped")
