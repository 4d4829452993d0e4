"""How a dataset's obs columns map onto the grouping keys (tissue, disease, cell type) and its organism.

CELLxGENE datasets carry the schema's columns (``cell_type``, ``cell_type_ontology_term_id``, ``tissue``, ...)
and are used as they are. Other datasets name their columns by option, or give one constant value for the
whole dataset (``tissue="lung"``) when the column does not exist.
"""

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from schema.labels import GROUP_LABELS
from scprint_graph.genes import find_organism

KEYS = GROUP_LABELS
"""Grouping keys in order (from schema.labels): a network is dataset x tissue x disease x cell type."""

COUNT_SOURCES = ("X", "raw")


def normalise_organism(value: str) -> str:
    """The organism's name (``scprint_graph.genes.ORGANISM_TABLE``: ``"human"``, ``"zebrafish"``, ...) from a
    name, a Latin name or an NCBITaxon term id; a term id the table lacks is its own name."""
    return find_organism(value).name


@dataclass(frozen=True)
class ColumnMap:
    """Where a dataset keeps its grouping labels, genes and counts.

    Attributes
    ----------
    cell_type_col, tissue_col, disease_col
        obs columns holding the labels (CELLxGENE names by default).
    cell_type_id_col, tissue_id_col, disease_id_col
        obs columns holding ontology term ids (CL, UBERON, MONDO); used when present, optional.
    tissue, disease, cell_type
        A constant label for the whole dataset, used instead of the column (e.g. ``tissue="lung"``).
    organism
        The dataset's organism (a name such as ``zebrafish``, a Latin name or an NCBITaxon term id); when
        None it is read from an ``organism`` or ``organism_ontology_term_id`` obs column, else assumed human.
    gene_col
        var column holding gene ids or symbols; None tries the index and the usual columns.
    counts
        Where the raw counts are: ``"X"``, ``"raw"`` (``adata.raw.X``) or ``"layers/<name>"``.
    """

    cell_type_col: str = "cell_type"
    tissue_col: str = "tissue"
    disease_col: str = "disease"
    cell_type_id_col: str = "cell_type_ontology_term_id"
    tissue_id_col: str = "tissue_ontology_term_id"
    disease_id_col: str = "disease_ontology_term_id"
    tissue: str | None = None
    disease: str | None = None
    cell_type: str | None = None
    organism: str | None = None
    gene_col: str | None = None
    counts: str = "X"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, str) or (f.name.endswith("_col") and not value)):
                msg = f"column option {f.name} must be a non-empty string, got {value!r}"
                raise ValueError(msg)
        if self.organism is not None:
            object.__setattr__(self, "organism", normalise_organism(self.organism))
        if self.counts not in COUNT_SOURCES and not (
            self.counts.startswith("layers/") and len(self.counts) > len("layers/")
        ):
            msg = f"counts must be 'X', 'raw' or 'layers/<name>', got {self.counts!r}"
            raise ValueError(msg)

    @classmethod
    def from_options(cls, options: dict) -> "ColumnMap":
        """Build from a config table, naming any unknown option."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            msg = f"unknown column options {unknown}; known are {sorted(known)}"
            raise ValueError(msg)
        return cls(**options)

    def constant(self, key: str) -> str | None:
        """The constant label given for a grouping key, or None."""
        return getattr(self, key)

    def column(self, key: str) -> str:
        """The obs column of a grouping key."""
        return getattr(self, f"{key}_col")

    def id_column(self, key: str) -> str:
        """The obs column of a grouping key's ontology term id."""
        return getattr(self, f"{key}_id_col")

    def required_columns(self) -> list[str]:
        """obs columns that must exist: those of the keys without a constant label."""
        return [self.column(k) for k in KEYS if self.constant(k) is None]

    def missing_columns(self, obs_columns) -> list[str]:
        """Required grouping columns absent from ``obs_columns``."""
        present = set(obs_columns)
        return [c for c in self.required_columns() if c not in present]


MISSING_LABELS = frozenset({"", "nan", "na", "none", "unknown"})
"""Label values that mean "not annotated" (compared stripped and lower-cased), besides a null value."""


def missing_labels(values: pd.Series) -> np.ndarray:
    """``(n,)`` bool: which labels are missing (null, blank, or an ``unknown``-like word)."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    return text.isin(MISSING_LABELS).to_numpy()


def group_labels(obs: pd.DataFrame, cmap: ColumnMap) -> pd.DataFrame:
    """One row per cell with the grouping labels and their ontology ids (None where unknown).

    Returns
    -------
    pd.DataFrame
        Columns ``tissue, disease, cell_type`` and ``<key>_ontology_term_id``, indexed like ``obs``;
        missing labels (``missing_labels``: null, blank, "NA", ...) become ``"unknown"``.
    """
    out = {}
    for key in KEYS:
        constant = cmap.constant(key)
        if constant is not None:
            labels = np.full(len(obs), constant, dtype=object)
            ids = np.full(len(obs), None, dtype=object)
        else:
            values = obs[cmap.column(key)]
            missing = missing_labels(values)
            labels = values.astype(object).where(~missing, "unknown").astype(str).to_numpy(dtype=object)
            id_col = cmap.id_column(key)
            if id_col in obs.columns:
                ids = obs[id_col].astype(object).where(obs[id_col].notna(), None).to_numpy(dtype=object)
            else:
                ids = np.full(len(obs), None, dtype=object)
        out[key] = labels
        out[f"{key}_ontology_term_id"] = ids
    return pd.DataFrame(out, index=obs.index)


def dataset_organism(obs: pd.DataFrame, cmap: ColumnMap) -> str:
    """The dataset's organism name: the option, else a single-valued ``organism_ontology_term_id`` (or
    ``organism``) obs column, else human."""
    if cmap.organism is not None:
        return cmap.organism
    for col in ("organism_ontology_term_id", "organism"):
        if col in obs.columns:
            values = pd.unique(obs[col].dropna().astype(str))
            if len(values) > 1:
                msg = f"obs column {col!r} holds several organisms {sorted(values)[:4]}; set `organism`"
                raise ValueError(msg)
            if len(values) == 1:
                return normalise_organism(values[0])
    return "human"
