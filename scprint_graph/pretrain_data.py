"""Pretraining data: datasets -> vocabulary, label classes, train / validation cells, sampling weights.

Every dataset is split by cell (the same seed gives the same split, so an evaluation can find the held-out
cells again). Sampling weights flatten the joint distribution of ``weight_columns`` across all datasets
(scPRINT's label-weighted sampling, scDataLoader's formula with ``weight_scaler``).

Label classes: the distinct values of each label column across the datasets. Values that the ontologies
place above other observed values (and values named as parents in the configured hierarchy) become parent
labels, scored by log-sum-exp over their leaf descendants; all others are leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset

from scprint_graph.cells import AnnDataCells, TokenizedCells, label_sampling_weights, label_values
from scprint_graph.config import LabelClass
from scprint_graph.gene_embeddings import GeneEmbeddingTable, vocabulary_with_embeddings
from scprint_graph.genes import GeneVocabulary
from scprint_graph.ontology import leaf_groups
from scprint_graph.sampling import split_cells

logger = logging.getLogger(__name__)

# scPRINT's label classes and weighting columns (config/base.yml: all_clss, clss_to_weight) and the
# classes it arranges in an ontology hierarchy (hierarchical_clss).
DEFAULT_LABELS = (
    "cell_type_ontology_term_id",
    "disease_ontology_term_id",
    "assay_ontology_term_id",
    "self_reported_ethnicity_ontology_term_id",
    "sex_ontology_term_id",
    "organism_ontology_term_id",
)
DEFAULT_ONTOLOGY_COLUMNS = DEFAULT_LABELS[:4]


@dataclass(frozen=True)
class DataConfig:
    """How datasets become pretraining cells.

    Parameters
    ----------
    label_columns
        obs columns predicted as label classes (scPRINT: cell type, disease, assay, ...).
    weight_columns
        obs columns whose joint distribution the sampler flattens (scPRINT ``clss_to_weight``).
    weight_scaler
        Category size around which balancing sets in (scPRINT ``weight_scaler`` = 50): a category of n
        cells is drawn in proportion to n * s / (n + s); a smaller value balances more.
    val_fraction
        Fraction of each dataset's cells held out for validation (scPRINT: 0.02).
    restrict_vocabulary
        Keep only the vocabulary genes measured in the datasets (small models, small checkpoints).
    organisms
        Organisms of the reference vocabulary.
    ontology_columns
        Label columns whose parent -> leaf tables come from the ontologies (:mod:`scprint_graph.ontology`):
        an observed term that is an ancestor of another observed term is a parent label (scPRINT:
        cell type, disease, assay, ethnicity). Columns not in ``label_columns`` are ignored.
    hierarchy
        label column -> {parent label: [leaf labels]}: explicit parent labels, added to (and overriding)
        the ontology's; their leaves join the label list even when no cell carries them.
    seed
        Seed of the split and of the gene draws.
    """

    label_columns: tuple[str, ...] = DEFAULT_LABELS
    weight_columns: tuple[str, ...] = DEFAULT_LABELS
    weight_scaler: float = 50.0
    val_fraction: float = 0.02
    restrict_vocabulary: bool = False
    organisms: tuple[str, ...] = ("human",)
    ontology_columns: tuple[str, ...] = DEFAULT_ONTOLOGY_COLUMNS
    hierarchy: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("label_columns", "weight_columns", "organisms", "ontology_columns"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not 0.0 <= self.val_fraction < 1.0:
            msg = f"val_fraction must be in [0, 1), got {self.val_fraction!r}"
            raise ValueError(msg)
        if self.weight_scaler <= 0:
            msg = f"weight_scaler must be positive, got {self.weight_scaler!r}"
            raise ValueError(msg)
        unknown = sorted(set(self.hierarchy) - set(self.label_columns))
        if unknown:
            msg = f"hierarchy given for columns that are not label_columns: {unknown}"
            raise ValueError(msg)

    def to_dict(self) -> dict:
        return {
            "label_columns": list(self.label_columns),
            "weight_columns": list(self.weight_columns),
            "weight_scaler": self.weight_scaler,
            "val_fraction": self.val_fraction,
            "restrict_vocabulary": self.restrict_vocabulary,
            "organisms": list(self.organisms),
            "ontology_columns": list(self.ontology_columns),
            "hierarchy": {c: {p: list(ls) for p, ls in h.items()} for c, h in self.hierarchy.items()},
            "seed": self.seed,
        }


class CellCollection(ConcatDataset):
    """Several :class:`TokenizedCells` as one dataset; ``set_epoch`` reaches each of them."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


@dataclass
class PretrainingData:
    """What :func:`build_pretraining_data` returns."""

    vocab: GeneVocabulary
    classes: tuple[LabelClass, ...]
    train: CellCollection
    val: CellCollection | None
    weights: np.ndarray  # (len(train),) sampling weights
    datasets: list[dict]  # per dataset: id, cells, train and validation cell counts


def class_name(column: str) -> str:
    """Label class name of an obs column: ``cell_type_ontology_term_id`` -> ``cell_type``."""
    return column.removesuffix("_ontology_term_id")


def build_label_classes(
    obs: Sequence[pd.DataFrame],
    columns: Sequence[str],
    hierarchy: Mapping[str, Mapping[str, Sequence[str]]],
    ontology_columns: Sequence[str] = (),
) -> tuple[LabelClass, ...]:
    """One :class:`LabelClass` per column from the values seen in all ``obs`` tables and the hierarchy.

    Parent labels of a column in ``ontology_columns`` come from :func:`scprint_graph.ontology.leaf_groups`
    over the observed and explicitly named labels; the explicit ``hierarchy`` entries are added on top.
    """
    classes = []
    for column in columns:
        seen: set[str] = set()
        for frame in obs:
            seen |= set(label_values(frame, [column])[column])
        explicit = {str(p): [str(x) for x in ls] for p, ls in hierarchy.get(column, {}).items()}
        named = seen | set(explicit) | {x for ls in explicit.values() for x in ls}
        parents = leaf_groups(named) if column in ontology_columns else {}
        for parent, leaves in explicit.items():
            parents[parent] = sorted(set(parents.get(parent, [])) | set(leaves))
        parents = {p: [x for x in ls if x not in parents] for p, ls in parents.items()}  # leaves only
        leaves = sorted(named - set(parents))
        if not leaves:
            msg = f"label column {column!r} has no known values in the data"
            raise ValueError(msg)
        classes.append(LabelClass.from_hierarchy(class_name(column), leaves, parents))
    return tuple(classes)


def check_label_columns(adatas: Sequence[ad.AnnData], config: DataConfig) -> None:
    """Refuse, naming the dataset and the columns, when a dataset lacks a label or weight column."""
    needed = list(dict.fromkeys([*config.label_columns, *config.weight_columns]))
    for i, adata in enumerate(adatas):
        missing = [c for c in needed if c not in adata.obs.columns]
        if missing:
            name = adata.uns.get("dataset_id") or f"dataset {i + 1} of {len(adatas)}"
            present = [c for c in adata.obs.columns if str(c).endswith("_ontology_term_id")]
            msg = (
                f"{name} has no obs column {', '.join(map(repr, missing))} (named in label_columns or "
                f"weight_columns); its ontology columns are {present}: add it or drop it from the config"
            )
            raise ValueError(msg)


def restricted_vocabulary(vocab: GeneVocabulary, adatas: Sequence[ad.AnnData]) -> GeneVocabulary:
    """The vocabulary genes measured in at least one dataset, in vocabulary order."""
    used = np.zeros(len(vocab), dtype=bool)
    for adata in adatas:
        indices = vocab.map_var(adata.var).indices
        used[indices[indices >= 0]] = True
    logger.info("vocabulary restricted to %d of %d genes measured in the data", used.sum(), len(vocab))
    return vocab.subset(np.flatnonzero(used))


def build_pretraining_data(
    adatas: Sequence[ad.AnnData],
    config: DataConfig,
    *,
    max_len: int,
    vocab: GeneVocabulary | None = None,
    gene_embeddings: GeneEmbeddingTable | None = None,
) -> PretrainingData:
    """Map ``adatas`` (raw counts) onto a vocabulary and build the train / validation cell sets.

    Parameters
    ----------
    adatas
        The datasets, in memory or backed; each needs the label and weight obs columns.
    config
        Labels, weighting, split and vocabulary options.
    max_len
        Context genes per cell; every dataset must measure at least this many vocabulary genes (batches
        are not padded), otherwise lower it.
    vocab
        Start from this vocabulary instead of the reference one.
    gene_embeddings
        A precomputed gene embedding table: the vocabulary keeps only the genes it covers (as scPRINT).
    """
    if not adatas:
        msg = "no datasets given"
        raise ValueError(msg)
    check_label_columns(adatas, config)
    vocab = vocab if vocab is not None else GeneVocabulary.load(config.organisms)
    if gene_embeddings is not None:
        vocab = vocabulary_with_embeddings(vocab, gene_embeddings)
    if config.restrict_vocabulary:
        vocab = restricted_vocabulary(vocab, adatas)
    classes = build_label_classes(
        [a.obs for a in adatas], config.label_columns, config.hierarchy, config.ontology_columns
    )
    for c in classes:
        if c.parents:
            logger.info("label class %s: %d leaves, %d parent labels", c.name, c.n_leaves, len(c.parents))
    labels = {column: c.labels for column, c in zip(config.label_columns, classes, strict=True)}
    all_obs = pd.concat([a.obs[list(config.weight_columns)].astype(str) for a in adatas], ignore_index=True)
    all_weights = label_sampling_weights(all_obs, list(config.weight_columns), scaler=config.weight_scaler)
    train_sets, val_sets, weights, info = [], [], [], []
    offset = 0
    for i, adata in enumerate(adatas):
        cells = AnnDataCells(adata, vocab, labels=labels)
        train_rows, val_rows = split_cells(adata.n_obs, config.val_fraction, seed=config.seed + i)
        train = TokenizedCells(cells, max_len=max_len, rows=train_rows, seed=config.seed + i)
        if train.tokenizer.n_ctx != max_len:
            dataset_id = adata.uns.get("dataset_id", f"dataset {i}")
            msg = (
                f"{dataset_id} measures only {train.tokenizer.n_ctx} vocabulary genes, fewer than "
                f"max_len={max_len}: lower max_len (batches mix datasets and are not padded)"
            )
            raise ValueError(msg)
        train_sets.append(train)
        weights.append(all_weights[offset + train_rows])
        if len(val_rows):
            val_sets.append(
                TokenizedCells(cells, max_len=max_len, rows=val_rows, seed=config.seed + 1000 + i)
            )
        info.append(
            {
                "dataset_id": str(adata.uns.get("dataset_id", f"dataset-{i}")),
                "cells": int(adata.n_obs),
                "train_cells": len(train_rows),
                "val_cells": len(val_rows),
            }
        )
        offset += adata.n_obs
    logger.info("pretraining data: %s", info)
    return PretrainingData(
        vocab=vocab,
        classes=classes,
        train=CellCollection(train_sets),
        val=CellCollection(val_sets) if val_sets else None,
        weights=np.concatenate(weights),
        datasets=info,
    )


def location_tensor(vocab: GeneVocabulary) -> torch.Tensor:
    """The genomic-location index of the vocabulary as the model's ``gene_locations`` argument."""
    return torch.as_tensor(vocab.location_index(), dtype=torch.long)
