"""Cell sampling for pretraining: a train/validation split by cell and a label-weighted, rank-aware sampler.

scPRINT draws cells with probabilities that flatten the label distribution (rare cell types, diseases and
assays are seen more often than their share of the atlas). The weights themselves come from the data layer;
this module only draws from them, reproducibly per epoch and disjointly across data-parallel ranks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def split_cells(n_cells: int, val_fraction: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random train / validation split of cell indices (each cell in exactly one part).

    Returns sorted ``(train, val)`` index arrays; with ``val_fraction > 0`` at least one validation cell.
    """
    if not 0.0 <= val_fraction < 1.0:
        msg = f"val_fraction must be in [0, 1), got {val_fraction!r}"
        raise ValueError(msg)
    if n_cells < 2 and val_fraction > 0:
        msg = f"need at least 2 cells to split off a validation set, got {n_cells}"
        raise ValueError(msg)
    order = np.random.default_rng(seed).permutation(n_cells)
    n_val = max(1, round(n_cells * val_fraction)) if val_fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class WeightedCellSampler(Sampler[int]):
    """Draw cell indices with replacement, proportionally to ``weights``, shared out across ranks.

    Each epoch draws ``num_samples`` indices per rank from one generator seeded by ``(seed, epoch)``, the
    same on every rank, and hands rank ``r`` every ``world_size``-th draw starting at ``r``: ranks see
    disjoint draws without communicating. Call :meth:`set_epoch` before each epoch, as with torch's
    ``DistributedSampler``.

    Parameters
    ----------
    weights
        (n_cells,) non-negative sampling weights (need not sum to 1).
    num_samples
        Indices per rank per epoch.
    rank, world_size
        This process's data-parallel rank and the number of ranks.
    seed
        Base seed.
    """

    def __init__(
        self,
        weights: np.ndarray | torch.Tensor,
        num_samples: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ):
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if w.ndim != 1 or len(w) == 0:
            msg = f"weights must be a non-empty 1-d array, got shape {tuple(w.shape)}"
            raise ValueError(msg)
        if not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            msg = "weights must be finite, non-negative and not all zero"
            raise ValueError(msg)
        if num_samples < 1:
            msg = f"num_samples must be positive, got {num_samples!r}"
            raise ValueError(msg)
        if not 0 <= rank < world_size:
            msg = f"rank {rank} is outside world_size {world_size}"
            raise ValueError(msg)
        self.weights = w
        self.num_samples = int(num_samples)
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's draws; ``start`` skips that many of them (resuming inside an epoch)."""
        if not 0 <= start <= self.num_samples:
            msg = f"start must be in [0, {self.num_samples}], got {start!r}"
            raise ValueError(msg)
        self.epoch = int(epoch)
        self.start = int(start)

    def indices(self) -> torch.Tensor:
        """This rank's draws for the current epoch, (num_samples,) int64."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        draws = torch.multinomial(
            self.weights, self.num_samples * self.world_size, replacement=True, generator=generator
        )
        return draws[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :].tolist())

    def __len__(self) -> int:
        return self.num_samples - self.start
