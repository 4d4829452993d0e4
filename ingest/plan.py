"""Planning: cells grouped by dataset x tissue x disease x cell type; keys that make reruns idempotent.

A group under ``min_cells`` is skipped and reported. The idempotency key of a dataset's work is the sha256 of
(dataset id, dataset version, checkpoint hash, parameters hash), each hash over sorted JSON, so the same
inputs always give the same key: unchanged work is skipped, and a new key for a known dataset replaces its
networks.
"""

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ingest.columns import KEYS, ColumnMap, group_labels

LABEL_FIELDS = tuple(f for k in KEYS for f in (k, f"{k}_ontology_term_id"))


def stable_hash(value) -> str:
    """sha256 of ``value`` as JSON with sorted keys and no whitespace (deterministic across runs)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def params_hash(params: dict) -> str:
    """Hash of the parameters that shape a network (extraction options, grouping threshold)."""
    return stable_hash(params)


def idempotency_key(dataset_id: str, dataset_version: str, checkpoint_hash: str, parameters_hash: str) -> str:
    """Key of one dataset's work: equal keys mean the published networks are already up to date."""
    return stable_hash(
        {
            "dataset": dataset_id,
            "version": dataset_version,
            "checkpoint": checkpoint_hash,
            "params": parameters_hash,
        }
    )


@dataclass(frozen=True, eq=False)
class Group:
    """The cells of one dataset x tissue x disease x cell type.

    Attributes
    ----------
    labels
        ``tissue, disease, cell_type`` and their ``*_ontology_term_id`` (None where unknown).
    cells
        ``(n_cells,)`` int64 row positions of the group's cells in the dataset, sorted.
    """

    labels: dict
    cells: np.ndarray = field(repr=False)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def name(self) -> str:
        """``tissue / disease / cell type`` for logs and progress bars."""
        return " / ".join(str(self.labels[k]) for k in KEYS)


@dataclass(frozen=True)
class SkippedGroup:
    """A group that was not computed, and why."""

    labels: dict
    n_cells: int
    reason: str

    @property
    def name(self) -> str:
        return " / ".join(str(self.labels[k]) for k in KEYS)


@dataclass(frozen=True)
class Plan:
    """The groups of one dataset to compute and those skipped."""

    groups: list[Group]
    skipped: list[SkippedGroup]

    @property
    def n_cells(self) -> int:
        return sum(g.n_cells for g in self.groups)


def plan_groups(obs: pd.DataFrame, cmap: ColumnMap, *, min_cells: int) -> Plan:
    """Group a dataset's cells by tissue, disease and cell type; skip groups under ``min_cells``.

    Parameters
    ----------
    obs
        The dataset's obs table.
    cmap
        Its column mapping.
    min_cells
        Smallest group that gets a network.

    Returns
    -------
    Plan
        Groups sorted by (tissue, disease, cell type), and the skipped ones with their cell counts.
    """
    if min_cells < 1:
        msg = f"min_cells must be >= 1, got {min_cells}"
        raise ValueError(msg)
    labels = group_labels(obs, cmap).reset_index(drop=True)
    keyed = labels.fillna("")  # groupby drops None keys; "" stands for an unknown ontology id
    groups, skipped = [], []
    for key, rows in keyed.groupby(list(LABEL_FIELDS), sort=True).indices.items():
        label = {f: (v if v != "" else None) for f, v in zip(LABEL_FIELDS, key, strict=True)}
        cells = np.sort(np.asarray(rows, dtype=np.int64))
        if len(cells) < min_cells:
            skipped.append(SkippedGroup(label, len(cells), f"{len(cells)} cells < min_cells {min_cells}"))
        else:
            groups.append(Group(label, cells))
    return Plan(groups=groups, skipped=skipped)
