"""The pretraining step's total loss, term by term, as scPRINT's ``_full_training`` adds it up."""

import pytest
import torch

from scprint_graph import keys
from scprint_graph.losses import token_dissimilarity, zinb_loss
from scprint_graph.pretrain_tasks import PretrainObjective, TaskConfig, downsample_counts


def test_total_adds_the_dissimilarity_on_every_pass_the_bottleneck_included(tiny_model, batch):
    tasks = TaskConfig(noise=(0.6, 0.3))
    objective = PretrainObjective(tiny_model, tasks).eval()  # eval: no dropout, so passes can be replayed
    terms = objective(batch, generator=torch.Generator().manual_seed(5))

    full = batch[keys.EXPRESSION].float()
    base = {
        keys.GENES: batch[keys.GENES],
        keys.DEPTH: batch[keys.DEPTH],
        keys.TARGET_EXPRESSION: full,
        keys.TARGET_DEPTH: full.sum(1),
    }
    generator = torch.Generator().manual_seed(5)
    noisy = [downsample_counts(full, n, generator=generator) for n in tasks.noise]
    with torch.no_grad():
        first = tiny_model({**base, keys.EXPRESSION: noisy[0], keys.LABELS: batch[keys.LABELS]})
        second = tiny_model({**base, keys.EXPRESSION: noisy[1]})
        regenerated = tiny_model.regenerate(second.special_embeddings, base)
    labelled = {**base, keys.EXPRESSION: noisy[0], keys.LABELS: batch[keys.LABELS]}
    first_pass_labels = tiny_model.loss(first, labelled).labels
    assert float(first_pass_labels) > 0
    zinb = [
        zinb_loss(full, o.zinb.mean, o.zinb.theta, o.zinb.zero_logit) for o in (first, second, regenerated)
    ]
    dissimilarity = [token_dissimilarity(o.special_embeddings) for o in (first, second, regenerated)]
    expected = sum(zinb) + 1.5 * first_pass_labels + 0.2 * sum(dissimilarity)
    assert float(terms["loss"].detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms["bottleneck"]) == pytest.approx(float(zinb[2]), rel=1e-5)
    assert float(terms["dissimilarity"]) == pytest.approx(float(sum(dissimilarity) / 3), rel=1e-5)
    # the generation pass's own special-token outputs, not a copy of the first pass's
    assert not torch.allclose(regenerated.special_embeddings, second.special_embeddings)
