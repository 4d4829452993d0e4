"""The scPRINT transformer in plain PyTorch: encoders, pre-LayerNorm blocks, ZINB and label decoders.

Tokens per cell, in scPRINT's order: ``[cell, depth, class_1 .. class_n, gene_1 .. gene_n_ctx]``.
A gene token is gene embedding + expression encoding (MLP on the normalised count) + the sinusoidal
encoding of the gene's genomic-location index. The depth token is the same kind of MLP on log2(1 + depth);
the cell and class tokens are learned embeddings. The model takes a batch dict keyed by
:mod:`scprint_graph.keys` and returns a :class:`ModelOutput`; it owns its loss (:meth:`ScPrintModel.loss`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scprint_graph import keys
from scprint_graph.config import ModelConfig
from scprint_graph.losses import hierarchical_label_loss, hierarchy_matrix, token_dissimilarity, zinb_loss

QK = tuple[Tensor, Tensor]  # per layer: q and k, each (batch, n_heads, n_tokens, d_head)


@dataclass(frozen=True)
class ZinbParams:
    """Zero-inflated negative binomial per context gene, each (batch, n_ctx)."""

    mean: Tensor  # NB mean: softmax over the context x target depth
    theta: Tensor  # inverse dispersion
    zero_logit: Tensor  # logit of the zero-inflation probability

    @property
    def pi(self) -> Tensor:
        return torch.sigmoid(self.zero_logit)

    def expected(self) -> Tensor:
        """E[x] = (1 - pi) * mean: the denoised expression."""
        return (1.0 - self.pi) * self.mean


@dataclass(frozen=True)
class ModelOutput:
    """What one forward pass returns."""

    special_embeddings: Tensor  # (batch, n_special, d): outputs of the cell, depth and class tokens
    zinb: ZinbParams
    class_logits: dict[str, Tensor]  # class name -> (batch, n_leaves)
    qk: tuple[QK, ...] | None  # one (q, k) per layer when capture_qk, else None
    mvc: ZinbParams | None = None  # the MVC decoder's ZINB when asked for (with_mvc), else None

    @property
    def cell_embedding(self) -> Tensor:
        """(batch, d): mean of the special-token outputs (scPRINT's ``cell_emb``)."""
        return self.special_embeddings.mean(dim=1)

    @property
    def class_embeddings(self) -> Tensor:
        """(batch, n_classes, d): outputs of the class tokens."""
        return self.special_embeddings[:, 2:]


@dataclass(frozen=True)
class LossTerms:
    """The training loss and its parts (scalars)."""

    total: Tensor
    expression: Tensor
    labels: Tensor
    dissimilarity: Tensor


def attention(q: Tensor, k: Tensor, v: Tensor, *, implementation: str, dropout_p: float = 0.0) -> Tensor:
    """Bidirectional multi-head attention; q, k, v are (batch, heads, tokens, d_head).

    ``"sdpa"`` uses torch's fused kernels (flash / memory-efficient in bf16 on GPU) and never builds the
    attention matrix; ``"explicit"`` writes softmax(QK^T / sqrt(d_head)) V out in fp32 as a reference.
    """
    if implementation == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    if implementation == "explicit":
        scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (b, h, t, t)
        weights = F.dropout(torch.softmax(scores, dim=-1), p=dropout_p)
        return (weights @ v.float()).to(v.dtype)
    msg = f"unknown attention implementation {implementation!r}; use 'sdpa' or 'explicit'"
    raise ValueError(msg)


class SelfAttention(nn.Module):
    """Fused QKV projection, multi-head attention, output projection."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.implementation = config.attention
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: Tensor, capture_qk: bool = False) -> tuple[Tensor, QK | None]:
        batch, n_tokens, d_model = x.shape
        d_head = d_model // self.n_heads
        # qkv feature layout is (three, heads, d_head), as in scPRINT's flash-attention MHA
        qkv = self.qkv(x).view(batch, n_tokens, 3, self.n_heads, d_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, heads, tokens, d_head)
        dropout_p = self.dropout if self.training else 0.0
        y = attention(q, k, v, implementation=self.implementation, dropout_p=dropout_p)
        y = y.transpose(1, 2).reshape(batch, n_tokens, d_model)  # (batch, tokens, d_model)
        return self.proj(y), ((q, k) if capture_qk else None)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(config.d_model, config.mlp_ratio * config.d_model)
        self.proj = nn.Linear(config.mlp_ratio * config.d_model, config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, capture_qk: bool = False) -> tuple[Tensor, QK | None]:
        h, qk = self.attn(self.ln_1(x), capture_qk)
        x = x + self.drop(h)
        x = x + self.drop(self.mlp(self.ln_2(x)))
        return x, qk


class ValueEncoder(nn.Module):
    """A scalar per token -> d_model: Linear, LayerNorm, ReLU, Dropout, Linear (scPRINT's 2-layer MLP)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.max_value = config.max_expression
        self.layers = nn.Sequential(
            nn.Linear(1, config.d_model),
            nn.LayerNorm(config.d_model),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.d_model, config.d_model),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x.clamp(0.0, self.max_value).unsqueeze(-1))  # (..., d_model)


class ExpressionDecoder(nn.Module):
    """Gene-token outputs -> ZINB parameters (scPRINT's ExprDecoder)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        d = config.d_model
        self.fc = nn.Sequential(
            nn.Linear(d, d),
            nn.LayerNorm(d),
            nn.LeakyReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(d, d),
            nn.LayerNorm(d),
            nn.LeakyReLU(),
        )
        self.out = nn.Linear(d, 3)

    def forward(self, gene_hidden: Tensor, target_depth: Tensor) -> ZinbParams:
        mean_logit, log_theta, zero_logit = self.out(self.fc(gene_hidden)).float().unbind(-1)
        mean = torch.softmax(mean_logit, dim=-1) * target_depth.float()[:, None]  # (batch, n_ctx)
        theta = torch.exp(log_theta.clamp(max=15.0))
        return ZinbParams(mean=mean, theta=theta, zero_logit=zero_logit)


class LabelDecoder(nn.Module):
    """Class-token output -> leaf-label logits (optional hidden layers, as scPRINT's ClsDecoder)."""

    def __init__(self, config: ModelConfig, n_leaves: int):
        super().__init__()
        sizes = [config.d_model, *config.classifier_hidden]
        hidden: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(sizes):
            hidden += [nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.ReLU(), nn.Dropout(config.dropout)]
        self.hidden = nn.Sequential(*hidden)
        self.out = nn.Linear(sizes[-1], n_leaves)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.hidden(x))


class MvcDecoder(nn.Module):
    """scPRINT's "inner product" MVC decoder: each gene's ZINB from the cell embedding alone.

    A query per gene, sigmoid(LayerNorm(Linear(gene embedding))), is projected to three d-vectors whose
    inner products with the cell embedding give the mean logit, log-dispersion and zero logit. The gene
    embedding is the identity part of the gene token only (no expression, no location), as in scPRINT.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        d = config.d_model
        self.gene2query = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)  # torch's default eps (1e-5), as scPRINT's
        self.out = nn.Linear(d, 3 * d, bias=False)

    def forward(self, cell_embedding: Tensor, gene_embeddings: Tensor, target_depth: Tensor) -> ZinbParams:
        query = torch.sigmoid(self.norm(self.gene2query(gene_embeddings)))  # (batch, n_ctx, d)
        parts = self.out(query).chunk(3, dim=-1)  # 3 x (batch, n_ctx, d)
        cell = cell_embedding[:, :, None]  # (batch, d, 1)
        mean_logit, log_theta, zero_logit = (torch.bmm(p, cell.to(p.dtype))[..., 0].float() for p in parts)
        mean = torch.softmax(mean_logit, dim=-1) * target_depth.float()[:, None]  # (batch, n_ctx)
        return ZinbParams(mean=mean, theta=torch.exp(log_theta.clamp(max=15.0)), zero_logit=zero_logit)


def sinusoidal_table(positions: Tensor, d_model: int, max_period: float = 10_000.0) -> Tensor:
    """(n, d_model) sin/cos encoding of integer positions (sin on even, cos on odd features)."""
    freqs = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(max_period) / d_model))
    angles = positions.to(torch.float64)[:, None] * freqs[None, :]  # (n, d_model / 2)
    table = torch.zeros(len(positions), d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()


class ScPrintModel(nn.Module):
    """The scPRINT transformer.

    Parameters
    ----------
    config
        Architecture and label classes.
    gene_locations
        (n_genes,) int genomic-location index per vocabulary gene (``GeneVocabulary.location_index()``);
        required when ``config.use_locations``.
    gene_embeddings
        (n_genes, d_any) precomputed gene embeddings (e.g. protein language model); average-pooled to
        d_model as in scPRINT. Required when ``config.frozen_gene_embeddings``, and then frozen.
    """

    family = "scprint"  # the model family ("scprint2": scprint_graph.v2.model.ScPrint2Model)

    def __init__(
        self,
        config: ModelConfig,
        *,
        gene_locations: Tensor | None = None,
        gene_embeddings: Tensor | None = None,
    ):
        super().__init__()
        self.config = config
        d = config.d_model
        self.gene_embedding = nn.Embedding(config.n_genes, d)
        if config.use_locations:
            if gene_locations is None:
                msg = "config.use_locations is set but no gene_locations were given"
                raise ValueError(msg)
            gene_locations = torch.as_tensor(gene_locations)
            if gene_locations.shape != (config.n_genes,):
                msg = f"gene_locations has shape {tuple(gene_locations.shape)}, expected ({config.n_genes},)"
                raise ValueError(msg)
            self.register_buffer(
                "location_encoding", sinusoidal_table(gene_locations, d, config.location_max_period)
            )
        self.expression_encoder = ValueEncoder(config)
        self.depth_encoder = ValueEncoder(config)
        self.special_embedding = nn.Embedding(1 + config.n_classes, d)  # cell token, then class tokens
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.expression_decoder = ExpressionDecoder(config)
        self.label_decoders = nn.ModuleDict(
            {c.name: LabelDecoder(config, c.n_leaves) for c in config.classes}
        )
        self.mvc_decoder = MvcDecoder(config) if config.mvc_decoder is not None else None
        for c in config.classes:
            self.register_buffer(
                f"hierarchy_{c.name}", hierarchy_matrix(c.n_leaves, c.parent_leaves), persistent=False
            )
        self.apply(self._init_weights)
        for block in self.blocks:  # scaled init of the residual projections (GPT-2)
            nn.init.normal_(block.attn.proj.weight, std=0.02 / math.sqrt(2 * config.n_layers))
            nn.init.normal_(block.mlp.proj.weight, std=0.02 / math.sqrt(2 * config.n_layers))
        for decoder in self.label_decoders.values():
            nn.init.constant_(decoder.out.bias, -0.13)  # scPRINT: start with low label probabilities
        self._set_gene_embeddings(gene_embeddings)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def _set_gene_embeddings(self, table: Tensor | None) -> None:
        if table is None:
            if self.config.frozen_gene_embeddings:
                msg = "config.frozen_gene_embeddings is set but no gene_embeddings table was given"
                raise ValueError(msg)
            return
        table = torch.as_tensor(table, dtype=torch.float32)
        if table.ndim != 2 or table.shape[0] != self.config.n_genes:
            msg = f"gene_embeddings has shape {tuple(table.shape)}, expected ({self.config.n_genes}, d)"
            raise ValueError(msg)
        if table.shape[1] != self.config.d_model:
            table = F.adaptive_avg_pool1d(table[:, None, :], self.config.d_model)[:, 0, :]
        with torch.no_grad():
            self.gene_embedding.weight.copy_(table)
        self.gene_embedding.weight.requires_grad_(not self.config.frozen_gene_embeddings)

    @property
    def n_special_tokens(self) -> int:
        return self.config.n_special_tokens

    @property
    def device(self) -> torch.device:
        return self.gene_embedding.weight.device

    # --- encoding -------------------------------------------------------------------------------------
    def gene_tokens(self, genes: Tensor, expression: Tensor | None, mask: Tensor | None = None) -> Tensor:
        """(batch, n_ctx, d) gene tokens; without expression they carry identity and location only.

        ``mask`` (batch, n_ctx) bool: masked genes lose their expression term, as in scPRINT (the sum
        normalisation still counts their expression, as there).
        """
        tokens = self.gene_embedding(genes)
        if expression is not None:
            expression = expression.float()
            if self.config.normalization == "sum":
                normalised = expression / expression.sum(dim=1, keepdim=True).clamp_min(1e-8)
            else:
                normalised = torch.log2(1.0 + expression)
            encoded = self.expression_encoder(normalised)  # (batch, n_ctx, d)
            if mask is not None:
                if mask.shape != genes.shape:
                    msg = f"mask has shape {tuple(mask.shape)}, expected the genes' {tuple(genes.shape)}"
                    raise ValueError(msg)
                encoded = encoded.masked_fill(mask.bool()[..., None], 0.0)
            tokens = tokens + encoded
        if self.config.use_locations:
            tokens = tokens + self.location_encoding[genes]
        return tokens

    def special_tokens(self, depth: Tensor) -> Tensor:
        """(batch, n_special, d): cell token, depth token (MLP of log2(1 + depth)), class tokens."""
        batch = depth.shape[0]
        learned = self.special_embedding.weight[None].expand(batch, -1, -1)  # (batch, 1 + n_classes, d)
        depth_token = self.depth_encoder(torch.log2(1.0 + depth.float()))[:, None, :]  # (batch, 1, d)
        return torch.cat([learned[:, :1], depth_token, learned[:, 1:]], dim=1)

    def transform(self, tokens: Tensor, capture_qk: bool = False) -> tuple[Tensor, tuple[QK, ...] | None]:
        """Run the blocks and the final LayerNorm; optionally keep each layer's per-head Q and K."""
        x = self.drop(tokens)
        captured = []
        for block in self.blocks:
            x, qk = block(x, capture_qk)
            captured.append(qk)
        return self.ln_f(x), (tuple(captured) if capture_qk else None)

    # --- forward --------------------------------------------------------------------------------------
    def forward(
        self, batch: dict[str, Tensor], *, capture_qk: bool = False, with_mvc: bool = False
    ) -> ModelOutput:
        """Encode the cells of ``batch`` (keys.GENES, keys.EXPRESSION, keys.DEPTH; keys.TARGET_DEPTH and
        keys.MASK optional), run the transformer and decode.

        With ``capture_qk`` the output also holds each layer's Q and K, (batch, heads, tokens, d_head)
        including the special tokens; attention matrices are never built on the SDPA path. With
        ``with_mvc`` it also holds the MVC decoder's ZINB (the model needs ``config.mvc_decoder``).
        """
        genes, expression = batch[keys.GENES], batch[keys.EXPRESSION]
        if genes.shape[1] > self.config.max_len:
            msg = f"batch has {genes.shape[1]} context genes, more than max_len={self.config.max_len}"
            raise ValueError(msg)
        if with_mvc and self.mvc_decoder is None:
            msg = "with_mvc needs a model with an MVC decoder (config.mvc_decoder is None)"
            raise ValueError(msg)
        gene_tokens = self.gene_tokens(genes, expression, batch.get(keys.MASK))
        tokens = torch.cat([self.special_tokens(batch[keys.DEPTH]), gene_tokens], dim=1)
        hidden, qk = self.transform(tokens, capture_qk)
        output = self._decode(hidden, self.target_depth(batch), qk)
        if with_mvc:
            mvc = self.mvc_decoder(
                output.cell_embedding, self.gene_embedding(genes), self.target_depth(batch)
            )
            output = dataclasses.replace(output, mvc=mvc)
        return output

    def _decode(self, hidden: Tensor, target_depth: Tensor, qk: tuple[QK, ...] | None) -> ModelOutput:
        n_special = self.config.n_special_tokens
        special = hidden[:, :n_special]
        zinb = self.expression_decoder(hidden[:, n_special:], target_depth)
        class_logits = {
            c.name: self.label_decoders[c.name](special[:, 2 + i]).float()
            for i, c in enumerate(self.config.classes)
        }
        return ModelOutput(special_embeddings=special, zinb=zinb, class_logits=class_logits, qk=qk)

    @staticmethod
    def target_depth(batch: dict[str, Tensor]) -> Tensor:
        """Depth the decoder predicts at: keys.TARGET_DEPTH, else the context total of keys.EXPRESSION.

        The fallback is scPRINT's (``depth_mult = expression.sum(1)``): the ZINB mean covers the context
        genes only, so it must sum to the context's counts, not to the whole cell's depth.
        """
        if keys.TARGET_DEPTH in batch:
            return batch[keys.TARGET_DEPTH]
        return batch[keys.EXPRESSION].float().sum(dim=1)

    def reconstruct_from_embeddings(self, special_embeddings: Tensor, batch: dict[str, Tensor]) -> ZinbParams:
        """Regenerate the expression profile from the special-token outputs alone (bottleneck task).

        As scPRINT's ``_generate``: the special tokens are replaced by ``special_embeddings``
        (batch, n_special, d), e.g. ``output.special_embeddings`` of a first pass; gene tokens carry gene
        identity and location but no expression, so everything about the cell must flow through those
        embeddings. The ZINB is at :meth:`target_depth` of ``batch``.
        """
        return self.regenerate(special_embeddings, batch).zinb

    def regenerate(self, special_embeddings: Tensor, batch: dict[str, Tensor]) -> ModelOutput:
        """:meth:`reconstruct_from_embeddings` returning the whole pass: the special-token outputs too
        (scPRINT adds their dissimilarity loss on this pass as on every other); no class logits."""
        n_special = self.config.n_special_tokens
        if special_embeddings.shape[1:] != (n_special, self.config.d_model):
            msg = (
                f"special_embeddings has shape {tuple(special_embeddings.shape)}, "
                f"expected (batch, {n_special}, {self.config.d_model})"
            )
            raise ValueError(msg)
        gene_tokens = self.gene_tokens(batch[keys.GENES], None)
        tokens = torch.cat([special_embeddings.to(gene_tokens.dtype), gene_tokens], dim=1)
        hidden, _ = self.transform(tokens)
        zinb = self.expression_decoder(hidden[:, n_special:], self.target_depth(batch))
        return ModelOutput(special_embeddings=hidden[:, :n_special], zinb=zinb, class_logits={}, qk=None)

    # --- loss -----------------------------------------------------------------------------------------
    def loss(
        self,
        output: ModelOutput,
        batch: dict[str, Tensor],
        *,
        label_weight: float = 0.4,
        dissimilarity_weight: float = 0.2,
    ) -> LossTerms:
        """ZINB negative log-likelihood of the target counts + weighted label and token-dissimilarity losses.

        Targets: keys.TARGET_EXPRESSION (else keys.EXPRESSION) and keys.LABELS (optional; -1 = unknown).
        Default weights are scPRINT's (class_scale 0.4, class_embd_diss_scale 0.2); the label loss is
        summed over label classes.
        """
        target = batch.get(keys.TARGET_EXPRESSION, batch[keys.EXPRESSION])
        expression = zinb_loss(target, output.zinb.mean, output.zinb.theta, output.zinb.zero_logit)
        zero = expression.new_zeros(())
        labels = zero
        if self.config.classes and keys.LABELS in batch:
            for i, c in enumerate(self.config.classes):
                labels = labels + hierarchical_label_loss(
                    output.class_logits[c.name],
                    batch[keys.LABELS][:, i],
                    getattr(self, f"hierarchy_{c.name}"),
                )
        dissimilarity = token_dissimilarity(output.special_embeddings) if self.config.classes else zero
        total = expression + label_weight * labels + dissimilarity_weight * dissimilarity
        return LossTerms(total=total, expression=expression, labels=labels, dissimilarity=dissimilarity)


def autocast_for(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA, nothing (fp32) elsewhere."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The one device chooser: None or ``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` (or
    ``"cuda:N"``) without a GPU is an error."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        msg = f"unknown device {device!r}; use auto, cpu, cuda or cuda:N"
        raise ValueError(msg) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        msg = f"device {str(device)!r} was asked for but no CUDA device is available"
        raise ValueError(msg)
    return device
