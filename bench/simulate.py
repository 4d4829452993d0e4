"""A small SERGIO-style simulator of single-cell counts from a known gene regulatory network.

Why our own: ``sergio-scsim==1.9.3`` (the PyPI SERGIO) installs and imports with numpy 2.4, but its noise
module imports matplotlib and cma at import time (neither is in our environment), its ``grn_from_human``
opens its bundled reference network by a path relative to the working directory
(``SERGIO/GRN/ref/human.node``), and it steps every gene in a Python loop. The generative model is
small, so this file re-states SERGIO's (Dibaeinia & Sinha, *Cell Systems* 2020) in vectorised numpy:

- **Network**: a DAG. ``n_regulators`` genes are regulators ("TFs"); the first ``n_master`` of them are
  master regulators without inputs. Every other gene (and every non-master regulator) gets 1 to
  ``max_inputs`` regulators among the regulators before it. Edges activate (probability ``p_activation``)
  or repress, with strength ``K ~ U(1, 5)`` and Hill coefficient ``n = 2``.
- **Cell types**: each type has its own master-regulator production rates ``b ~ U(0.2, 4)``; other genes
  are produced at ``basal + Σ_j K_ij f(x_j)`` with ``f(x) = xⁿ / (hⁿ + xⁿ)`` (activation) or
  ``hⁿ / (hⁿ + xⁿ)`` (repression), ``h_j`` the regulator's mean steady-state level over cell types (as
  SERGIO sets it).
- **Dynamics**: the chemical Langevin equation ``dx = (P(x) - λx) dt + q (√P dW₁ - √(λx) dW₂)`` from the
  steady state, one independent trajectory per cell, sampled after a burn-in (SERGIO samples steady-state
  trajectories the same way).
- **Technical noise** (SERGIO's): a log-normal library size per cell, dropout with a logistic of log
  expression around a percentile midpoint, then Poisson sampling of UMI counts.

Genes get real human Ensembl ids (the first protein-coding genes of the project's vocabulary) so that the
simulated data go through the same tokenisation as real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from scprint_graph.genes import GeneVocabulary


@dataclass(frozen=True)
class SimulationConfig:
    """Sizes and rates of one simulation (defaults: a few hundred cells per type, a 100-gene network)."""

    n_genes: int = 100
    n_regulators: int = 20
    n_master: int = 5
    max_inputs: int = 3
    p_activation: float = 0.7
    n_cell_types: int = 3
    cells_per_type: int = 300
    decay: float = 0.8
    basal: float = 0.05
    hill: float = 2.0
    noise: float = 0.5  # q, SERGIO's noise amplitude
    dt: float = 0.02
    burn_in_steps: int = 300
    library_mean: float = 6.5  # log of the mean UMI scale
    library_sd: float = 0.3
    dropout_percentile: float = 45.0
    dropout_shape: float = 8.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.n_master < self.n_regulators < self.n_genes:
            sizes = (self.n_master, self.n_regulators, self.n_genes)
            msg = f"need 0 < n_master < n_regulators < n_genes, got {sizes}"
            raise ValueError(msg)
        if self.n_cell_types < 1 or self.cells_per_type < 2:
            msg = (
                f"need n_cell_types >= 1, cells_per_type >= 2; got {self.n_cell_types}, {self.cells_per_type}"
            )
            raise ValueError(msg)


@dataclass
class Simulation:
    """Simulated counts (AnnData, obs ``cell_type``) and the network that generated them."""

    adata: ad.AnnData
    truth: pa.Table  # regulator, target (Ensembl ids), sign (+1 / -1), strength
    regulators: list[str]  # the genes playing TFs


def random_network(config: SimulationConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Activation and repression strength matrices ``(n_genes, n_genes)``, [regulator, target]."""
    n = config.n_genes
    act = np.zeros((n, n))
    rep = np.zeros((n, n))
    for target in range(config.n_master, n):
        pool = np.arange(min(target, config.n_regulators))
        k = rng.integers(1, min(config.max_inputs, len(pool)) + 1)
        for reg in rng.choice(pool, size=k, replace=False):
            strength = rng.uniform(1.0, 5.0)
            (act if rng.random() < config.p_activation else rep)[reg, target] = strength
    return act, rep


def _production(
    x: np.ndarray,
    act: np.ndarray,
    rep: np.ndarray,
    half: np.ndarray,
    master_rate: np.ndarray,
    config: SimulationConfig,
) -> np.ndarray:
    """Production rates ``(cells, genes)`` given levels ``x`` ``(cells, genes)``."""
    xn = np.square(x) if config.hill == 2.0 else x**config.hill  # x >= 0 always
    hn = np.square(half) if config.hill == 2.0 else half**config.hill
    on = xn / (hn + xn)  # (cells, genes) activation response of each regulator
    prod = config.basal + on @ act + (1.0 - on) @ rep
    prod[:, : config.n_master] = master_rate
    return prod


def simulate(config: SimulationConfig | None = None, *, vocab: GeneVocabulary | None = None) -> Simulation:
    """Run the simulation described in the module docstring."""
    # small matrix products: one BLAS thread is ~10x faster than an oversubscribed pool on a shared machine
    with threadpool_limits(1, user_api="blas"):
        return _simulate(config or SimulationConfig(), vocab)


def _simulate(config: SimulationConfig, vocab: GeneVocabulary | None) -> Simulation:
    rng = np.random.default_rng(config.seed)
    act, rep = random_network(config, rng)
    n, n_types = config.n_genes, config.n_cell_types
    master = rng.uniform(0.2, 4.0, size=(n_types, config.n_master))
    # steady states by topological order (regulators precede targets), first with h from a rough pass
    steady = np.zeros((n_types, n))
    half = np.ones(n)
    for _ in range(2):
        for g in range(n):
            prod = _production(steady, act, rep, half, master, config)
            steady[:, g] = prod[:, g] / config.decay
        half = np.maximum(steady.mean(0), 1e-3)
    levels, types = [], []
    for t in range(n_types):
        x = np.tile(steady[t], (config.cells_per_type, 1))
        rate = np.tile(master[t], (config.cells_per_type, 1))
        for _ in range(config.burn_in_steps):
            prod = _production(x, act, rep, half, rate, config)
            degr = config.decay * x
            noise = config.noise * (
                np.sqrt(prod) * rng.normal(size=x.shape) - np.sqrt(degr) * rng.normal(size=x.shape)
            )
            x = np.maximum(x + (prod - degr) * config.dt + noise * np.sqrt(config.dt), 0.0)
        levels.append(x)
        types += [f"type_{t}"] * config.cells_per_type
    expr = np.vstack(levels)
    library = rng.lognormal(config.library_mean, config.library_sd, size=(expr.shape[0], 1))
    scaled = expr / expr.sum(1, keepdims=True).clip(1e-9) * library
    logged = np.log1p(scaled)
    midpoint = np.percentile(logged, config.dropout_percentile)
    keep_prob = 1.0 / (1.0 + np.exp(-config.dropout_shape * (logged - midpoint)))
    counts = rng.poisson(scaled * (rng.random(scaled.shape) < keep_prob)).astype(np.float32)

    vocab = vocab or GeneVocabulary.load(("human",), biotypes=("protein_coding",))
    coding = np.flatnonzero(vocab.biotype == "protein_coding")[:n]
    ids = [str(i) for i in vocab.ensembl_ids[coding]]
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(types)}, index=pd.Index([f"cell{i:05d}" for i in range(len(types))])
    )
    var = pd.DataFrame({"feature_name": vocab.symbols[coding].astype(str)}, index=pd.Index(ids))
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
    reg, tgt = np.nonzero(act + rep)
    truth = pa.table(
        {
            "regulator": [ids[i] for i in reg],
            "target": [ids[i] for i in tgt],
            "sign": pa.array(np.where(act[reg, tgt] > 0, 1, -1).astype(np.int8)),
            "strength": pa.array((act + rep)[reg, tgt].astype(np.float32)),
        }
    )
    return Simulation(adata=adata, truth=truth, regulators=ids[: config.n_regulators])
