"""Downsampling noise of the denoising task, cell splits and the label-weighted sampler."""

import numpy as np
import pytest
import torch

from scprint_graph.pretrain_tasks import downsample_counts
from scprint_graph.sampling import WeightedCellSampler, split_cells


def poisson_counts(seed: int = 0, shape=(64, 200), scale: float = 6.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.rand(shape, generator=generator) ** 3 * scale, generator=generator)


@pytest.mark.parametrize("dropout", [0.1, 0.3, 0.6, 0.7, 0.9])
def test_downsampling_is_non_negative_and_never_increases(dropout):
    counts = poisson_counts()
    noisy = downsample_counts(counts, dropout, generator=torch.Generator().manual_seed(1))
    assert noisy.shape == counts.shape and noisy.dtype == counts.dtype
    assert (noisy >= 0).all()
    assert (noisy <= counts).all()
    assert torch.equal(noisy, noisy.round())  # counts stay integers
    assert (noisy[counts == 0] == 0).all()


def test_downsampling_removes_more_with_more_noise():
    counts = poisson_counts(shape=(256, 400))
    kept = [
        float(downsample_counts(counts, d, generator=torch.Generator().manual_seed(2)).sum() / counts.sum())
        for d in (0.1, 0.4, 0.7)
    ]
    assert kept[0] > kept[1] > kept[2]
    # scPRINT's "new" method keeps about (1 - 0.55 d)^2 of the reads (Poisson removal and gene dropout)
    assert kept[2] == pytest.approx((1 - 0.55 * 0.7) ** 2, abs=0.05)


def test_downsampling_is_reproducible_and_identity_at_zero():
    counts = poisson_counts()
    a = downsample_counts(counts, 0.6, generator=torch.Generator().manual_seed(3))
    b = downsample_counts(counts, 0.6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(downsample_counts(counts, 0.0), counts)
    with pytest.raises(ValueError, match="dropout"):
        downsample_counts(counts, 1.0)


def test_split_cells_is_a_partition():
    train, val = split_cells(100, 0.15, seed=4)
    assert len(val) == 15 and len(train) == 85
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    again_train, again_val = split_cells(100, 0.15, seed=4)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    assert len(split_cells(10, 0.0)[1]) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        split_cells(10, 1.0)


def test_sampler_follows_weights():
    weights = np.array([1.0] * 90 + [9.0] * 10)  # ten rare cells, each 9x as likely
    sampler = WeightedCellSampler(weights, 20_000, seed=5)
    draws = sampler.indices().numpy()
    rare_share = (draws >= 90).mean()
    assert rare_share == pytest.approx(90 / 180, abs=0.02)  # 10 * 9 / (90 + 90)


def test_sampler_epochs_ranks_and_resume_offset():
    weights = np.ones(50)
    single = WeightedCellSampler(weights, 40, world_size=1, seed=6)
    ranks = [WeightedCellSampler(weights, 20, rank=r, world_size=2, seed=6) for r in range(2)]
    all_draws = single.indices()
    for r, sampler in enumerate(ranks):  # ranks share out one stream of draws, without overlap
        assert torch.equal(sampler.indices(), all_draws[r::2])
    first = list(single)
    single.set_epoch(1)
    assert list(single) != first
    single.set_epoch(0, start=8)
    assert list(single) == first[8:] and len(single) == 32
    with pytest.raises(ValueError, match="rank"):
        WeightedCellSampler(weights, 10, rank=2, world_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedCellSampler(-weights, 10)
