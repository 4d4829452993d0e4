"""Precomputed gene embeddings (scPRINT: ESM2 protein embeddings) read from a parquet table.

The table has scPRINT's layout: the index holds Ensembl gene ids, and there is one float column per
embedding dimension (``pandas.DataFrame.to_parquet`` with the ids as index). As in scPRINT, pretraining
keeps only the vocabulary genes the table covers (scDataLoader joins its gene list with the table), the
model average-pools the vectors to ``d_model`` when the widths differ (``nn.AdaptiveAvgPool1d``, see
``ScPrintModel``), and the embeddings are frozen by default. The file's sha256 goes into the model config
(``ModelConfig.gene_embeddings_sha256``), so every checkpoint names the table it was built from.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scprint_graph.genes import GeneVocabulary


@dataclass(frozen=True)
class GeneEmbeddingTable:
    """A gene embedding table: ids, vectors and the file's hash."""

    ensembl_ids: np.ndarray  # (n_genes,) str
    values: np.ndarray  # (n_genes, width) float32
    sha256: str
    source: str

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def rows_for(self, ensembl_ids: Sequence[str]) -> np.ndarray:
        """(len(ensembl_ids), width) vectors in the given order; every id must be in the table."""
        index = pd.Index(self.ensembl_ids)
        positions = index.get_indexer(list(ensembl_ids))
        missing = [g for g, p in zip(ensembl_ids, positions, strict=True) if p < 0]
        if missing:
            msg = f"{self.source}: no embedding for {len(missing)} genes, e.g. {missing[:3]}"
            raise ValueError(msg)
        return self.values[positions]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_gene_embeddings(path: str | os.PathLike) -> GeneEmbeddingTable:
    """Read and check a parquet gene embedding table (Ensembl ids as the index, float columns)."""
    path = Path(path)
    if not path.is_file():
        msg = f"gene embedding table not found: {path}"
        raise ValueError(msg)
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as err:
        msg = f"{path}: not a readable parquet table ({err})"
        raise ValueError(msg) from err
    if isinstance(frame.index, pd.RangeIndex):
        msg = f"{path}: the table has no index; write it with the Ensembl gene ids as the index"
        raise ValueError(msg)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        msg = f"{path}: the table is empty ({frame.shape[0]} genes x {frame.shape[1]} columns)"
        raise ValueError(msg)
    not_float = [str(c) for c, dtype in frame.dtypes.items() if not pd.api.types.is_float_dtype(dtype)]
    if not_float:
        msg = f"{path}: every column must be a float embedding dimension; not float: {not_float[:5]}"
        raise ValueError(msg)
    ids = frame.index.astype(str).to_numpy()
    if len(set(ids)) != len(ids):
        duplicated = frame.index[frame.index.duplicated()].astype(str).tolist()
        msg = f"{path}: gene ids appear more than once, e.g. {duplicated[:3]}"
        raise ValueError(msg)
    values = frame.to_numpy(dtype=np.float32)
    if not np.isfinite(values).all():
        bad = ids[~np.isfinite(values).all(axis=1)]
        msg = f"{path}: NaN or infinite values for {len(bad)} genes, e.g. {bad[:3].tolist()}"
        raise ValueError(msg)
    return GeneEmbeddingTable(ensembl_ids=ids, values=values, sha256=_sha256(path), source=str(path))


def vocabulary_with_embeddings(vocab: GeneVocabulary, table: GeneEmbeddingTable) -> GeneVocabulary:
    """The vocabulary genes the table covers, in vocabulary order (scDataLoader's inner join)."""
    covered = np.flatnonzero(pd.Index(table.ensembl_ids).get_indexer(vocab.ensembl_ids) >= 0)
    if len(covered) == 0:
        msg = f"{table.source}: none of the {len(vocab)} vocabulary genes has an embedding in the table"
        raise ValueError(msg)
    return vocab.subset(covered)
