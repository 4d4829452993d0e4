"""The ingestion config file (TOML): sources, store, model, network parameters, executor and schedule.

See ``examples/sources.toml`` for every option with its meaning. Relative paths are taken from the config
file's folder. Unknown keys are errors, so a typo never silently falls back to a default.
"""

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.columns import ColumnMap
from ingest.registry import SOURCE_KINDS
from ingest.sources import Source
from ingest.validate import ValidationOptions
from scprint_graph.grn_params import GrnParams

DEVICES = ("auto", "cpu", "cuda")
EXECUTORS = ("local", "ray")
# Keys each table accepts ([params] is free: it holds the extraction options). A test checks that
# examples/sources.toml documents every one of them.
TABLE_KEYS = {
    "top level": {"store", "model", "params", "validation", "executor", "schedule", "sources"},
    "store": {"root"},
    "model": {"checkpoint", "device", "batch_size"},
    "validation": {"max_unmapped_fraction", "check_cells", "max_dataset_bytes"},
    "executor": {"kind", "address", "actors", "gpus_per_actor"},
    "schedule": {"cron", "interval_minutes", "lock", "timezone"},
    **{f"sources ({name})": set(kind.options) for name, kind in SOURCE_KINDS.items()},
}


def extraction_options() -> set[str]:
    """The network parameters a config may set in [params] (the fields of ``GrnParams``)."""
    return set(GrnParams.field_names())


def parse_network_params(params: dict, base: Path) -> dict:
    """[params] without ``min_cells``, validated as ``GrnParams``. A heads file path is replaced by the
    file's heads and ``heads_selection`` (prior, held-out score, file hash), so the networks' idempotency
    key follows what the file says, not its name, and the provenance reaches every network."""
    unknown = sorted(set(params) - extraction_options())
    if unknown:
        msg = f"unknown keys {unknown} in [params]; allowed are min_cells and {sorted(extraction_options())}"
        raise ValueError(msg)
    grn = GrnParams.from_dict(params, base=base)
    if grn.head_aggregation == "none":
        msg = "head_aggregation = 'none' gives one edge set per head; the store keeps one weight per edge"
        msg += " (use mean or max)"
        raise ValueError(msg)
    if isinstance(params.get("heads"), str):
        params = {
            **params,
            "heads": grn.to_dict()["heads"],
            "heads_selection": grn.to_dict()["heads_selection"],
        }
    return params


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        msg = f"unknown keys {unknown} in [{where}]; allowed are {sorted(allowed)}"
        raise ValueError(msg)


@dataclass(frozen=True)
class SourceSpec:
    """One ``[[sources]]`` entry: its kind, options and column mapping."""

    kind: str
    options: dict = field(default_factory=dict)
    columns: ColumnMap = field(default_factory=ColumnMap)

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            msg = f"unknown source kind {self.kind!r}; choose from {tuple(SOURCE_KINDS)}"
            raise ValueError(msg)

    def build(self, base: Path, *, census_module: Any = None) -> Source:
        """The source object, from its kind's registry entry; relative paths are taken from ``base``."""
        kind = SOURCE_KINDS[self.kind]
        _check_keys(self.options, set(kind.options), f"sources ({kind.name})")
        return kind.build(
            dict(self.options),
            columns=self.columns,
            resolve_path=lambda value: _path(value, base),
            census_module=census_module,
        )


@dataclass(frozen=True)
class ExecutorSpec:
    """How groups are run: ``local`` (one process, the default) or ``ray`` (GPU actors on a cluster)."""

    kind: str = "local"
    address: str | None = None
    actors: int = 1
    gpus_per_actor: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            msg = f"unknown executor {self.kind!r}; choose from {EXECUTORS}"
            raise ValueError(msg)
        if self.actors < 1:
            msg = f"executor actors must be >= 1, got {self.actors}"
            raise ValueError(msg)
        if self.gpus_per_actor < 0:
            msg = f"gpus_per_actor must be >= 0, got {self.gpus_per_actor}"
            raise ValueError(msg)


@dataclass(frozen=True)
class ScheduleSpec:
    """When ``scprint-graph schedule`` re-ingests: a cron expression or an interval in minutes."""

    cron: str | None = None
    interval_minutes: float | None = None
    lock: Path | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval_minutes is None):
            got = f"{self.cron!r}, {self.interval_minutes!r}"
            msg = f"[schedule] needs exactly one of cron or interval_minutes (got {got})"
            raise ValueError(msg)
        if self.interval_minutes is not None and self.interval_minutes <= 0:
            msg = f"interval_minutes must be > 0, got {self.interval_minutes}"
            raise ValueError(msg)


@dataclass(frozen=True)
class IngestConfig:
    """Everything one ingestion run needs.

    Attributes
    ----------
    sources
        Where datasets come from.
    store
        Root folder of the store (releases and the pointer to the current one).
    checkpoint
        Model checkpoint file.
    params
        Network parameters (``scprint_graph.grn_params.GrnParams.from_dict`` values; a heads file already
        read), hashed into the idempotency key.
    min_cells
        Smallest group that gets a network (hashed too).
    device, batch_size
        Runtime choices (CUDA runs in bf16 autocast); they do not enter the idempotency key.
    """

    sources: tuple[SourceSpec, ...]
    store: Path
    checkpoint: Path
    params: dict = field(default_factory=dict)
    min_cells: int = 20
    device: str = "auto"
    batch_size: int = 32
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    schedule: ScheduleSpec | None = None
    base: Path = Path()

    def __post_init__(self) -> None:
        if not self.sources:
            msg = "the config names no [[sources]]"
            raise ValueError(msg)
        if self.min_cells < 1:
            msg = f"min_cells must be >= 1, got {self.min_cells}"
            raise ValueError(msg)
        if self.device not in DEVICES:
            msg = f"unknown device {self.device!r}; choose from {DEVICES}"
            raise ValueError(msg)
        if self.batch_size < 1:
            msg = f"batch_size must be >= 1, got {self.batch_size}"
            raise ValueError(msg)

    @property
    def network_params(self) -> dict:
        """What shapes the networks: the extraction options and the grouping threshold."""
        return {**self.params, "min_cells": self.min_cells}

    def build_sources(self, *, census_module: Any = None) -> list[Source]:
        """The source objects, in config order."""
        return [spec.build(self.base, census_module=census_module) for spec in self.sources]


def _path(value: str | Path, base: Path) -> Path:
    """``value`` taken from ``base`` when relative, with ``..`` folded (symlinks kept)."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(base / path))


def parse_config(data: dict, *, base: Path) -> IngestConfig:
    """Build an ``IngestConfig`` from a parsed TOML document; ``base`` resolves relative paths."""
    _check_keys(data, TABLE_KEYS["top level"], "top level")
    store = dict(data.get("store", {}))
    _check_keys(store, TABLE_KEYS["store"], "store")
    model = dict(data.get("model", {}))
    _check_keys(model, TABLE_KEYS["model"], "model")
    for table, key in ((store, "root"), (model, "checkpoint")):
        if key not in table:
            msg = f"the config needs `{key}` in [{'store' if table is store else 'model'}]"
            raise ValueError(msg)
    params = dict(data.get("params", {}))
    min_cells = params.pop("min_cells", 20)
    params = parse_network_params(params, base)
    validation = dict(data.get("validation", {}))
    _check_keys(validation, TABLE_KEYS["validation"], "validation")
    executor = dict(data.get("executor", {}))
    _check_keys(executor, TABLE_KEYS["executor"], "executor")
    schedule = data.get("schedule")
    if schedule is not None:
        schedule = dict(schedule)
        _check_keys(schedule, TABLE_KEYS["schedule"], "schedule")
        if "lock" in schedule:
            schedule["lock"] = _path(schedule["lock"], base)
        schedule = ScheduleSpec(**schedule)
    sources = []
    for i, entry in enumerate(data.get("sources", [])):
        entry = dict(entry)
        if "kind" not in entry:
            msg = f"[[sources]] entry {i} needs `kind` (one of {tuple(SOURCE_KINDS)})"
            raise ValueError(msg)
        kind = entry.pop("kind")
        columns = ColumnMap.from_options(dict(entry.pop("columns", {})))
        sources.append(SourceSpec(kind=kind, options=entry, columns=columns))
    return IngestConfig(
        sources=tuple(sources),
        store=_path(store["root"], base),
        checkpoint=_path(model["checkpoint"], base),
        params=params,
        min_cells=int(min_cells),
        device=model.get("device", "auto"),
        batch_size=int(model.get("batch_size", 32)),
        validation=ValidationOptions(**validation),
        executor=ExecutorSpec(**executor),
        schedule=schedule,
        base=base,
    )


def load_config(path: str | Path) -> IngestConfig:
    """Read a TOML config file; errors name the file and the bad value."""
    path = Path(path).expanduser()
    if not path.is_file():
        msg = f"config file not found: {path}"
        raise ValueError(msg)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        msg = f"{path} is not valid TOML: {err}"
        raise ValueError(msg) from err
    try:
        return parse_config(data, base=path.resolve().parent)
    except (TypeError, ValueError) as err:
        msg = f"{path}: {err}"
        raise ValueError(msg) from err
