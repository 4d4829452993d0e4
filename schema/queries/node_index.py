"""The (network, regulator) keys that regulator enrichment counts with, and a release's node statistics held
in memory for it.

A regulator enrichment across every network needs two things of ``node_stats`` on each call: the number of
query genes in each network and the out-degree of every overlapping (network, regulator). At a billion edges
reading them cost ~250 of its ~1,250 ms. A release never changes once published, so the server reads them
once when it opens a release (`NodeIndex.read`, ~6 bytes per node row) and each call looks them up in numpy.
Without an index, enrichment reads the same numbers from ``node_stats`` (the same answers: a test checks).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

NARROW_KEYS = 2**32  # (network, regulator) keys below this are counted as 32-bit integers
MAX_INDEXED_NODES = 200_000_000  # node rows (~1.2 GB in memory) past which no index is built


class PairKeys:
    """One integer per (network, regulator): network id x (largest gene id + 1) + regulator id.

    32 bits wide while the ids allow it (a billion-edge atlas: 20,000 x 20,001): such keys sort in about half
    the time of 64-bit ones and fetch in half the bytes (10^7 edges: 535 against 697 ms, fetch and count).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        max_network, max_gene = con.execute(
            "SELECT (SELECT max(id) FROM networks), (SELECT max(id) FROM genes)"
        ).fetchall()[0]
        self.stride = (max_gene or 0) + 1
        narrow = ((max_network or 0) + 1) * self.stride <= NARROW_KEYS
        self.sql_type = "UINTEGER" if narrow else "UBIGINT"
        self.dtype = np.uint32 if narrow else np.uint64

    def sql(self, regulator_column: str) -> str:
        return f"(network_id::UBIGINT * {self.stride} + {regulator_column})::{self.sql_type}"

    def encode(self, network_id: np.ndarray, regulator_id: np.ndarray) -> np.ndarray:
        return (network_id.astype(np.uint64) * self.stride + regulator_id).astype(self.dtype)

    def network_id(self, keys: np.ndarray) -> np.ndarray:
        return (keys // self.stride).astype(np.int32)

    def regulator_id(self, keys: np.ndarray) -> np.ndarray:
        return (keys % self.stride).astype(np.int32)


def lookup(sorted_keys: np.ndarray, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``values`` of ``keys`` in ``sorted_keys`` (0 where absent), by binary search."""
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=values.dtype)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return np.where(sorted_keys[at] == keys, values[at], 0)


@dataclass(frozen=True, eq=False)
class NodeIndex:
    """Out-degrees by (network, regulator) key and, per gene, the networks it has an edge in."""

    keys: PairKeys
    regulator_keys: np.ndarray  # sorted keys of the (network, gene) rows with an out-degree
    out_degree: np.ndarray  # aligned with regulator_keys
    network_start: np.ndarray  # network id -> first of its rows in regulator_keys (one more at the end)
    gene_start: np.ndarray  # gene id -> first of its rows in gene_networks (one more at the end)
    gene_networks: np.ndarray  # the network of every node row, grouped by gene

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> "NodeIndex | None":
        """The index of the release ``con`` reads; None past ``MAX_INDEXED_NODES`` node rows."""
        n_rows, max_network, max_degree = con.execute(
            "SELECT count(*), coalesce(max(network_id), 0), coalesce(max(out_degree), 0) FROM node_stats"
        ).fetchall()[0]
        if n_rows > MAX_INDEXED_NODES:
            return None
        keys = PairKeys(con)
        # Keys and narrow types made by DuckDB: in numpy, the temporary arrays of a billion-edge atlas (40 M
        # node rows) cost seconds of page faults on a 2-core machine. ~3 s in all there, most of it the sort.
        network_type, gene_type, degree_type = (
            "USMALLINT" if largest < 2**16 else "INTEGER"
            for largest in (max_network, keys.stride, max_degree)
        )
        regulators = con.execute(
            f"SELECT {keys.sql('gene_id')} AS pair, out_degree::{degree_type} AS out_degree"
            " FROM node_stats WHERE out_degree > 0"
        ).fetchnumpy()
        regulator_keys, out_degree = np.asarray(regulators["pair"]), np.asarray(regulators["out_degree"])
        if regulator_keys.size > 1 and not np.all(regulator_keys[1:] > regulator_keys[:-1]):
            order = np.argsort(regulator_keys)  # a delta's networks follow the base's: normally in order
            regulator_keys, out_degree = regulator_keys[order], out_degree[order]
        # networks 0..max_network have keys below 2^32 when they are 32-bit (PairKeys)
        first_keys = keys.encode(np.arange(max_network + 1), np.zeros(max_network + 1, dtype=np.int64))
        nodes = con.execute(
            f"SELECT network_id::{network_type} AS network_id, gene_id::{gene_type} AS gene_id"
            " FROM node_stats"
        ).fetchnumpy()
        network, gene = np.asarray(nodes["network_id"]), np.asarray(nodes["gene_id"])
        by_gene = np.argsort(gene, kind="stable")  # a radix sort of 16-bit ids; each gene's networks in order
        return cls(
            keys=keys,
            regulator_keys=regulator_keys,
            out_degree=out_degree,
            network_start=np.append(np.searchsorted(regulator_keys, first_keys), regulator_keys.size),
            gene_start=np.searchsorted(gene[by_gene], np.arange(keys.stride + 1)),
            gene_networks=network[by_gene],
        )

    def __post_init__(self) -> None:
        # read by every worker thread of a server at once: never written after it is built
        for array in self._arrays():
            array.flags.writeable = False

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.regulator_keys, self.out_degree, self.network_start, self.gene_start, self.gene_networks)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays())

    def query_sizes(self, gene_ids: Sequence[int], network_ids: np.ndarray) -> np.ndarray:
        """The number of ``gene_ids`` with an edge in each of ``network_ids``."""
        genes = np.unique(np.asarray(gene_ids, dtype=np.int64))
        genes = genes[(genes >= 0) & (genes < self.gene_start.size - 1)]
        networks = [self.gene_networks[self.gene_start[g] : self.gene_start[g + 1]] for g in genes]
        found = np.concatenate(networks) if networks else np.zeros(0, dtype=np.int64)
        counts = np.bincount(found, minlength=self.network_start.size)
        network_ids = np.asarray(network_ids, dtype=np.int64)
        inside = network_ids < counts.size
        return np.where(inside, counts[np.where(inside, network_ids, 0)], 0)

    def out_degrees(self, pair_keys: np.ndarray) -> np.ndarray:
        """The out-degree of each (network, regulator) key (0 for a gene with no edge out)."""
        return lookup(self.regulator_keys, self.out_degree, pair_keys)

    def count_regulators(self, min_out_degree: int, network_ids: Sequence[int] | None) -> int:
        """The (network, regulator) pairs with at least ``min_out_degree`` targets, in ``network_ids``
        (None: every network)."""
        if network_ids is None:
            return int(np.count_nonzero(self.out_degree >= min_out_degree))
        last = self.network_start.size - 1
        total = 0
        for n in network_ids:
            if 0 <= n < last:
                rows = self.out_degree[self.network_start[n] : self.network_start[n + 1]]
                total += int(np.count_nonzero(rows >= min_out_degree))
        return total
