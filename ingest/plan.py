"""Planning: cells grouped by dataset x tissue x disease x cell type.

A group under ``min_cells`` is skipped and reported. Whether a dataset's work is already published is its
idempotency key, and what identifies each group's network across releases is its network key: both are
defined once, in ``schema.identity``.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ingest.columns import KEYS, ColumnMap, group_labels

LABEL_FIELDS = tuple(f for k in KEYS for f in (k, f"{k}_ontology_term_id"))


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
