"""Edges on their way into a release: gene mapping, ranking and sorting.

Mapping looks every name up in the store's gene ids, read once per release into Arrow (``EnsemblIdMap``):
joining millions of strings per network in DuckDB was the slowest step of a load, and even a join of the
distinct names per network cost several times the lookup. Ranks and the (regulator, target) order are
computed with numpy on integers; ``schema.segments`` then writes a dataset's networks as Parquet.
"""

import logging
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MappedEdges:
    """One network's edges as gene ids, sorted by (regulator, target), with ranks; plus what was dropped."""

    network_id: int
    regulator_id: np.ndarray  # int32
    target_id: np.ndarray  # int32
    weight: np.ndarray  # float32
    rank: np.ndarray  # int32, 1 = largest weight
    n_unmapped: int


@dataclass(frozen=True)
class EnsemblIdMap:
    """The store's genes as (Ensembl id, gene id) arrays, read once and reused for every network.

    Looking each network's names up in this Arrow array is several times faster than a join in DuckDB per
    network; the writer reads it again after ``upsert_genes`` changes the genes.
    """

    ensembl_id: pa.Array  # string
    gene_id: np.ndarray  # int64, aligned with ensembl_id, then -1 for "not found"

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> "EnsemblIdMap":
        genes = con.sql("SELECT ensembl_id, id FROM genes").to_arrow_table()
        gene_id = genes["id"].to_numpy().astype(np.int64)
        return cls(ensembl_id=genes["ensembl_id"].combine_chunks(), gene_id=np.append(gene_id, -1))

    def lookup(self, names: pa.ChunkedArray) -> np.ndarray:
        """Gene id of each name, -1 where the name is not a known Ensembl id."""
        position = pc.index_in(names, value_set=self.ensembl_id).fill_null(len(self.ensembl_id))
        return self.gene_id[position.to_numpy()]


def map_edges(genes: EnsemblIdMap, network_id: int, edges: pa.Table) -> MappedEdges:
    """Map Ensembl ids to gene ids, drop unknown genes, rank by weight, sort."""
    missing = {"regulator", "target", "weight"} - set(edges.column_names)
    if missing:
        msg = f"edges table lacks columns {sorted(missing)}; it has {edges.column_names}"
        raise ValueError(msg)
    n = edges.num_rows
    weight = edges["weight"].cast(pa.float32()).to_numpy()
    if not np.all(np.isfinite(weight)):
        msg = f"edges of network {network_id} have non-finite weights"
        raise ValueError(msg)
    names = pa.chunked_array(
        [*edges["regulator"].cast(pa.string()).chunks, *edges["target"].cast(pa.string()).chunks],
        type=pa.string(),
    )
    ids = genes.lookup(names)
    reg, tgt = ids[:n], ids[n:]
    keep = (reg >= 0) & (tgt >= 0)
    reg, tgt, weight = reg[keep], tgt[keep], weight[keep]
    key, order = _key_order(reg, tgt)  # storage order: regulator, then target
    reg, tgt, weight = key >> 32, key & 0xFFFFFFFF, weight[order]
    if key.size > 1 and np.any(key[1:] == key[:-1]):
        i = int(np.flatnonzero(key[1:] == key[:-1])[0])
        msg = f"network {network_id} has duplicate edge (gene {reg[i]} -> gene {tgt[i]})"
        raise ValueError(msg)
    rank = np.empty(reg.size, dtype=np.int32)
    rank[_weight_order(weight)] = np.arange(1, reg.size + 1, dtype=np.int32)
    return MappedEdges(
        network_id=network_id,
        regulator_id=reg.astype(np.int32),
        target_id=tgt.astype(np.int32),
        weight=weight,
        rank=rank,
        n_unmapped=int(n - keep.sum()),
    )


def _key_order(reg: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (regulator << 32 | target) keys sorted, and the positions that sort them.

    Gene ids below 2**16 (one organism) let the key and the position share one 64-bit word: one SIMD sort
    of those words is several times faster than an argsort of the keys.
    """
    if reg.size and max(reg.max(), tgt.max()) < 2**16:
        packed = (reg << 48 | tgt << 32).astype(np.uint64) | np.arange(reg.size, dtype=np.uint64)
        packed.sort()
        pair = (packed >> np.uint64(32)).astype(np.int64)
        key = (pair >> 16) << 32 | (pair & 0xFFFF)
        return key, (packed & np.uint64(0xFFFFFFFF)).astype(np.intp)
    key = reg << 32 | tgt
    order = np.argsort(key)
    return key[order], order


def _weight_order(weight: np.ndarray) -> np.ndarray:
    """Positions sorted by descending weight, ties in position order (a stable sort of ``-weight``).

    Each weight becomes a 32-bit key whose unsigned order is the descending float order, packed above the
    position into one 64-bit word: the words are unique, so numpy's fast (SIMD, unstable) sort gives the
    stable order. This is several times faster than ``np.argsort(-weight, kind="stable")``.
    """
    bits = (np.asarray(weight, dtype=np.float32) + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into 0.0
    ascending = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(0x80000000))
    packed = (~ascending).astype(np.uint64) << np.uint64(32) | np.arange(bits.size, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.intp)
