"""scPRINT's pretraining tasks: denoising, bottleneck reconstruction and hierarchical label prediction.

One training step (scPRINT ``_full_training`` with its ``TrainingMode`` defaults):

1. **denoising** -- the context counts are downsampled (:func:`downsample_counts`, noise 0.6) and the model
   predicts the full counts with the ZINB loss; the label loss is taken on the first such pass. With
   denoising off, one plain forward pass reconstructs its own input instead.
2. **bottleneck** -- the cell, depth and class token outputs of that pass alone regenerate the full profile
   (:meth:`ScPrintModel.regenerate`), again with the ZINB loss.

As in scPRINT's ``_compute_loss``, the special-token dissimilarity (weight 0.2) is added on every pass,
the bottleneck pass included; the ``dissimilarity`` term reported is the mean over the passes.
3. **labels** -- the hierarchical label loss (weight ``label_weight``, scPRINT's ``class_scale`` 1.5).

:class:`PretrainObjective` wraps the model so that the whole step is one ``forward`` call: that is what a
data-parallel engine (torch DDP) needs to synchronise gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scprint_graph import keys
from scprint_graph.losses import token_dissimilarity, zinb_loss
from scprint_graph.model import ScPrintModel


def downsample_counts(counts: Tensor, dropout: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Remove reads and whole genes from raw counts, as scPRINT's ``downsample_profile`` ("new" method).

    Parameters
    ----------
    counts
        (batch, n_ctx) non-negative counts.
    dropout
        Noise level in [0, 1). scPRINT scales it by 1.1, then subtracts Poisson(counts * dropout / 2) reads
        (sampling zeros) and zeroes each entry with probability dropout / 2 (technical zeros).
    generator
        Torch random generator for reproducible noise.

    Returns
    -------
    Tensor
        Same shape and dtype as ``counts``; each entry in ``[0, counts]``: never negative, never increased.
    """
    if not 0.0 <= dropout < 1.0:
        msg = f"dropout must be in [0, 1), got {dropout!r}"
        raise ValueError(msg)
    if dropout == 0.0:
        return counts.clone()
    x = counts.float()
    rate = dropout * 1.1 / 2
    removed = torch.poisson(x * rate, generator=generator)
    kept = torch.rand(x.shape, generator=generator, device=x.device) >= rate
    return ((x - removed).clamp_min(0.0) * kept).to(counts.dtype)


@dataclass(frozen=True)
class TaskConfig:
    """Which scPRINT pretraining tasks run and their loss weights (defaults: scPRINT's TrainingMode).

    Parameters
    ----------
    denoise
        Denoising task: input downsampled by each level of ``noise``, target the full counts.
    noise
        Downsampling levels, one forward pass each (scPRINT: ``[0.6]``).
    bottleneck
        Regenerate the full profile from the special-token outputs alone (scPRINT ``do_generate``).
    labels
        Hierarchical label prediction from the class tokens (scPRINT ``do_cls``).
    label_weight
        Weight of the label loss (scPRINT ``class_scale`` = 1.5).
    dissimilarity_weight
        Weight of the special-token dissimilarity loss (scPRINT ``class_embd_diss_scale`` = 0.2).
    bottleneck_weight
        Weight of the bottleneck ZINB loss (scPRINT adds it unweighted: 1.0).
    """

    denoise: bool = True
    noise: tuple[float, ...] = (0.6,)
    bottleneck: bool = True
    labels: bool = True
    label_weight: float = 1.5
    dissimilarity_weight: float = 0.2
    bottleneck_weight: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise", tuple(float(n) for n in self.noise))
        if self.denoise and not self.noise:
            msg = "denoise is on but noise is empty; give at least one level, e.g. noise = [0.6]"
            raise ValueError(msg)
        bad = [n for n in self.noise if not 0.0 < n < 1.0]
        if bad:
            msg = f"noise levels must be in (0, 1), got {bad!r}"
            raise ValueError(msg)
        for name in ("label_weight", "dissimilarity_weight", "bottleneck_weight"):
            if getattr(self, name) < 0:
                msg = f"{name} must be non-negative, got {getattr(self, name)!r}"
                raise ValueError(msg)


class PretrainObjective(nn.Module):
    """The model plus its pretraining tasks; ``forward(batch)`` returns the named loss terms.

    The returned dict holds ``"loss"`` (what to backpropagate) and one scalar per task term
    (``expr``, ``denoise_60``, ``labels``, ``dissimilarity``, ``bottleneck``).
    """

    def __init__(self, model: ScPrintModel, tasks: TaskConfig):
        super().__init__()
        self.model = model
        self.tasks = tasks

    def forward(
        self, batch: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        full = batch[keys.EXPRESSION].float()
        base = {
            keys.GENES: batch[keys.GENES],
            keys.DEPTH: batch[keys.DEPTH],
            keys.TARGET_EXPRESSION: full,
            keys.TARGET_DEPTH: full.sum(dim=1),
        }
        if self.tasks.labels and keys.LABELS in batch:
            base[keys.LABELS] = batch[keys.LABELS]
        label_weight = self.tasks.label_weight if self.tasks.labels else 0.0
        passes = (
            [
                (f"denoise_{round(n * 100)}", downsample_counts(full, n, generator=generator))
                for n in self.tasks.noise
            ]
            if self.tasks.denoise
            else [("expr", full)]
        )
        terms: dict[str, Tensor] = {}
        total = full.new_zeros(())
        output = None
        dissimilarity = []
        for i, (name, expression) in enumerate(passes):
            step_batch = {**base, keys.EXPRESSION: expression}
            if i > 0:  # labels once per step, as scPRINT
                step_batch.pop(keys.LABELS, None)
            output = self.model(step_batch)
            parts = self.model.loss(
                output,
                step_batch,
                label_weight=label_weight if i == 0 else 0.0,
                dissimilarity_weight=self.tasks.dissimilarity_weight,
            )
            total = total + parts.total
            terms[name] = parts.expression.detach()
            dissimilarity.append(parts.dissimilarity.detach())
            if i == 0:
                terms["labels"] = parts.labels.detach()
        if self.tasks.bottleneck and output is not None:
            regenerated = self.model.regenerate(output.special_embeddings, base)
            zinb = regenerated.zinb
            bottleneck = zinb_loss(full, zinb.mean, zinb.theta, zinb.zero_logit)
            total = total + self.tasks.bottleneck_weight * bottleneck
            terms["bottleneck"] = bottleneck.detach()
            if self.model.config.classes:  # scPRINT's _compute_loss adds it on the generation pass too
                gen_dissimilarity = token_dissimilarity(regenerated.special_embeddings)
                total = total + self.tasks.dissimilarity_weight * gen_dissimilarity
                dissimilarity.append(gen_dissimilarity.detach())
        terms["dissimilarity"] = torch.stack(dissimilarity).mean()
        terms["loss"] = total
        return terms
