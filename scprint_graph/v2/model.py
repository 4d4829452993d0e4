"""scPRINT-2 in plain PyTorch (inference): gene transformer, cell transformer, compressors, classifiers.

Read from scprint2 1.0.3 (``model.py``, ``encoders.py``, ``decoders.py``, ``fsq.py``) and the transformer it
uses (simpler_flash ``FlashTransformer`` / ``Block`` / ``MHA``):

- gene token = adapter(frozen gene embedding) + expression encoding + genomic-location encoding;
- expression encoding (scprint2's ``EasyExprGNN``) on log2(1 + counts): an MLP of the cell's own count, the
  sum over its neighbour cells of an MLP of (neighbour count, neighbour distance), concatenated, then the
  shared layers; masked genes get a zero encoding;
- gene transformer: pre-LayerNorm blocks of grouped-query self-attention and a GELU MLP, a final LayerNorm;
  its blocks also hold a cross-attention (to cell embeddings) used only by :meth:`ScPrint2Model.generate`;
- cell transformer: learned tokens ``[cell, class_1..class_n]``; each block cross-attends to the gene
  transformer's (normalised) output, then self-attends, then the MLP; a final LayerNorm;
- expression decoder: MLP of [gene output, log2(1 + depth)] -> ZINB (mean = softmax over the context x the
  context's total counts);
- per class: compression (VAE for sizes >= 8, FSQ below), the classifier reads the compressed vector.

Deterministic by choice: scprint2 keeps attention dropout on in eval mode and samples the VAE latent in
eval; here there is no dropout at all (dropout slots are ``Identity``) and the VAE decodes its mean.
Sampling noise is not part of a network or an embedding a user should have to average away.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scprint_graph import keys
from scprint_graph.model import QK, ZinbParams, attention
from scprint_graph.v2.config import FAMILY, FSQ_BELOW, V2Config

# Extra batch keys of scPRINT-2 (the rest are scprint_graph.keys).
NEIGHBOR_EXPRESSION = "neighbor_expression"  # (batch, n_neighbors, n_ctx) float32 raw counts, same genes
NEIGHBOR_DISTANCE = "neighbor_distance"  # (batch, n_neighbors) float32 kNN distance of each neighbour
MASK = "mask"  # (batch, n_ctx) bool: True where the gene's expression is hidden from the encoder


@dataclass(frozen=True)
class V2Output:
    """What one scPRINT-2 forward returns."""

    zinb: ZinbParams  # expression decoder, (batch, n_ctx) each
    cell_tokens: Tensor  # (batch, 1 + n_classes, d_model_cell): cell-transformer outputs
    decoded_cell_tokens: Tensor  # (batch, 1 + n_classes, d_model_cell): compressed then decoded
    compressed: tuple[Tensor, ...]  # cell token (d_model_cell), then each class's compressed vector
    class_logits: dict[str, Tensor]  # class -> (batch, n_leaves)
    gene_qk: tuple[QK, ...] | None  # per gene-transformer layer, (batch, n_heads, n_ctx, d_head) each
    cell_self_qk: tuple[QK, ...] | None  # per cell layer: over the cell tokens
    cell_cross_qk: tuple[QK, ...] | None  # per cell layer: q of cell tokens, k of gene tokens

    @property
    def qk(self) -> tuple[QK, ...] | None:
        """The gene transformer's Q/K: what GRN extraction reads."""
        return self.gene_qk

    @property
    def cell_embedding(self) -> Tensor:
        """(batch, d): the cell token and every compressed class vector concatenated (scprint2's
        ``output_cell_emb``); the mean of the cell tokens when the model does not compress."""
        return torch.cat(self.compressed, dim=-1) if len(self.compressed) else self.cell_tokens.mean(1)


class Attention(nn.Module):
    """Grouped-query attention, self (fused QKV) or cross (Q from x, KV from a context of width d_context).

    Projection layout as simpler_flash's MHA: self ``[q (heads), k (heads_kv), v (heads_kv)]`` by head then
    d_head; cross ``q`` then ``[k, v]``. A key/value head serves ``heads / heads_kv`` consecutive query heads.
    """

    def __init__(self, d_model: int, n_heads: int, n_heads_kv: int, implementation: str, d_context=None):
        super().__init__()
        self.n_heads, self.n_heads_kv, self.d_head = n_heads, n_heads_kv, d_model // n_heads
        self.implementation = implementation
        d_kv = 2 * n_heads_kv * self.d_head
        if d_context is None:
            self.qkv = nn.Linear(d_model, d_model + d_kv)
        else:
            self.q = nn.Linear(d_model, d_model)
            self.kv = nn.Linear(d_context, d_kv)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, context: Tensor | None = None, capture_qk: bool = False):
        batch, n_q, d_model = x.shape
        if context is None:
            q, kv = self.qkv(x).split([d_model, 2 * self.n_heads_kv * self.d_head], dim=-1)
        else:
            q, kv = self.q(x), self.kv(context)
        q = q.view(batch, n_q, self.n_heads, self.d_head).transpose(1, 2)  # (batch, heads, n_q, d_head)
        kv = kv.view(batch, kv.shape[1], 2, self.n_heads_kv, self.d_head)
        group = self.n_heads // self.n_heads_kv
        # (batch, heads, n_kv, d_head): kv head j serves query heads j*group .. (j+1)*group-1
        k, v = (t.transpose(1, 2).repeat_interleave(group, dim=1) for t in kv.unbind(2))
        y = attention(q, k, v, implementation=self.implementation)
        y = y.transpose(1, 2).reshape(batch, n_q, d_model)
        return self.proj(y), ((q, k) if capture_qk else None)


class MLP(nn.Module):
    def __init__(self, d_model: int, ratio: int):
        super().__init__()
        self.fc = nn.Linear(d_model, ratio * d_model)
        self.proj = nn.Linear(ratio * d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(torch.nn.functional.gelu(self.fc(x)))


class Block(nn.Module):
    """simpler_flash's Block at inference, as pre-LayerNorm residuals.

    With a context: x += cross(ln_1(x), context); x += attn(ln_3(x)); x += mlp(ln_2(x)).
    Without: x += attn(ln_1(x)); x += mlp(ln_2(x)) (ln_3 and the cross-attention are unused).
    """

    def __init__(self, d_model, n_heads, n_heads_kv, config: V2Config, d_context=None):
        super().__init__()
        eps = config.layer_norm_eps
        self.ln_1 = nn.LayerNorm(d_model, eps=eps)
        self.attn = Attention(d_model, n_heads, n_heads_kv, config.attention)
        self.ln_2 = nn.LayerNorm(d_model, eps=eps)
        self.mlp = MLP(d_model, config.mlp_ratio)
        if d_context is not None:
            self.cross_attn = Attention(d_model, n_heads, n_heads_kv, config.attention, d_context)
            self.ln_3 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x: Tensor, context: Tensor | None = None, capture_qk: bool = False):
        cross_qk = None
        if context is not None:
            h, cross_qk = self.cross_attn(self.ln_1(x), context, capture_qk)
            x = x + h
            h, self_qk = self.attn(self.ln_3(x), capture_qk=capture_qk)
        else:
            h, self_qk = self.attn(self.ln_1(x), capture_qk=capture_qk)
        x = x + h
        return x + self.mlp(self.ln_2(x)), self_qk, cross_qk


class Transformer(nn.Module):
    """Blocks and a final LayerNorm; returns the output and per-layer self / cross Q-K when asked."""

    def __init__(self, d_model, n_layers, n_heads, n_heads_kv, config: V2Config, d_context):
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, n_heads_kv, config, d_context) for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model, eps=config.layer_norm_eps)

    def forward(self, x: Tensor, context: Tensor | None = None, capture_qk: bool = False):
        self_qk, cross_qk = [], []
        for block in self.blocks:
            x, s, c = block(x, context, capture_qk)
            self_qk.append(s)
            cross_qk.append(c)
        if not capture_qk:
            return self.ln_f(x), None, None
        return self.ln_f(x), tuple(self_qk), (tuple(cross_qk) if context is not None else None)


def _mlp(sizes: list[int], *, final_plain: bool = True) -> nn.Sequential:
    """[Linear, LayerNorm, ReLU, Identity(dropout)] per step (scprint2's layer order and indices)."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(d_in, d_out))
        if not (final_plain and i == len(sizes) - 2):
            layers += [nn.LayerNorm(d_out), nn.ReLU(), nn.Identity()]
    return nn.Sequential(*layers)


class ExpressionEncoder(nn.Module):
    """scprint2's EasyExprGNN (self_dim = 2 d): own count, neighbours' (count, distance), DeepSets-style."""

    def __init__(self, config: V2Config):
        super().__init__()
        d = config.d_model
        self.d = d
        self.self_mlp = _mlp([1, d, d])
        self.neighbor_mlp = _mlp([2, d, d])
        shared: list[nn.Module] = []
        for _ in range(config.expr_encoder_layers - 1):
            shared += [nn.Linear(2 * d, 2 * d), nn.LayerNorm(2 * d), nn.ReLU(), nn.Identity()]
        self.shared_mlp = nn.Sequential(*shared, nn.Linear(2 * d, d))

    def forward(self, log_expr: Tensor, log_neighbors: Tensor | None, distance: Tensor | None, mask=None):
        """log_expr (batch, n_ctx); log_neighbors (batch, n_nb, n_ctx); distance (batch, n_nb)."""
        own = self.self_mlp(log_expr.unsqueeze(-1))  # (batch, n_ctx, d)
        if log_neighbors is None:
            near = own.new_zeros(own.shape)  # scprint2: zeros, not the MLP of zeros
        else:
            n_ctx = log_expr.shape[1]
            pairs = torch.stack(
                [log_neighbors.transpose(1, 2), distance[:, None, :].expand(-1, n_ctx, -1)], dim=-1
            )  # (batch, n_ctx, n_nb, 2)
            near = self.neighbor_mlp(pairs).sum(dim=2)  # (batch, n_ctx, d)
        out = self.shared_mlp(torch.cat([own, near], dim=-1))
        return out.masked_fill(mask.unsqueeze(-1), 0.0) if mask is not None else out


class ExpressionDecoder(nn.Module):
    """scprint2's ExprDecoder with use_depth: the depth input is log2(1 + depth)."""

    def __init__(self, config: V2Config):
        super().__init__()
        d = config.d_model
        self.fc = nn.Sequential(
            nn.Linear(d + 1, d), nn.LayerNorm(d), nn.LeakyReLU(), nn.Identity(),
            nn.Linear(d, d), nn.LayerNorm(d), nn.LeakyReLU(),
        )  # fmt: skip
        self.out = nn.Linear(d, 3)

    def forward(self, gene_hidden: Tensor, depth: Tensor, multiplier: Tensor) -> ZinbParams:
        log_depth = torch.log2(1.0 + depth.float())[:, None, None].expand(-1, gene_hidden.shape[1], 1)
        h = self.fc(torch.cat([gene_hidden, log_depth.to(gene_hidden.dtype)], dim=-1))
        mean_logit, log_theta, zero_logit = self.out(h).float().unbind(-1)
        mean = torch.softmax(mean_logit, dim=-1) * multiplier.float()[:, None]
        return ZinbParams(mean=mean, theta=torch.exp(log_theta.clamp(max=15.0)), zero_logit=zero_logit)


class VAECompressor(nn.Module):
    """scprint2's VAEDecoder (layers [128, dim]) at its mean: returns (decoded mean, mean)."""

    def __init__(self, d_in: int, dim: int, hidden: int = 128):
        super().__init__()
        self.encoder = _mlp([d_in, hidden, dim], final_plain=False)
        self.fc_mu = nn.Linear(dim, dim)
        self.fc_var = nn.Linear(dim, dim)  # loaded, unused: the latent is its mean
        self.decoder = _mlp([dim, hidden, d_in])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu = self.fc_mu(self.encoder(x))
        return self.decoder(mu), mu


class FSQCompressor(nn.Module):
    """scprint2's FSQ with levels [2] * dim: returns (projected-out codes, pre-quantisation projection)."""

    LEVELS, EPS = 2, 1e-3

    def __init__(self, d_in: int, dim: int):
        super().__init__()
        self.project_in = nn.Linear(d_in, dim)
        self.project_out = nn.Linear(dim, d_in)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        small = self.project_in(x)
        half_l = (self.LEVELS - 1) * (1 - self.EPS) / 2
        offset = 0.5 if self.LEVELS % 2 == 0 else 0.0
        bounded = torch.tanh(small + math.tan(offset / half_l)) * half_l - offset
        codes = torch.round(bounded) / (self.LEVELS // 2)
        return self.project_out(codes), small


class Classifier(nn.Module):
    """scprint2's ClsDecoder: hidden [Linear, LayerNorm, ReLU, dropout] layers, then the output layer."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], n_leaves: int):
        super().__init__()
        sizes = [d_in, *hidden]
        self.hidden = _mlp(sizes, final_plain=False) if hidden else nn.Sequential()
        self.out = nn.Linear(sizes[-1], n_leaves)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.hidden(x))


class ScPrint2Model(nn.Module):
    """scPRINT-2 (see the module docstring); ``family`` is ``"scprint2"``.

    Attributes set by the loader: ``organisms`` (NCBITaxon ids, vocabulary order) and
    ``organism_slices`` (organism -> (start, stop) rows of the vocabulary).
    """

    family = FAMILY
    n_special_tokens = 0  # the gene transformer sees gene tokens only

    def __init__(self, config: V2Config):
        super().__init__()
        self.config = config
        d, dc = config.d_model, config.d_model_cell
        self.organisms: list[str] = []
        self.organism_slices: dict[str, tuple[int, int]] = {}
        self.gene_embedding = nn.Embedding(config.n_genes, d)
        self.gene_embedding.weight.requires_grad_(False)
        if config.gene_adapter:
            self.gene_adapter = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        if config.use_locations:
            self.register_buffer("location_encoding", torch.zeros(config.n_genes, d))
        self.expression_encoder = ExpressionEncoder(config)
        self.gene_transformer = Transformer(
            d, config.n_layers, config.n_heads, config.n_heads_kv, config, d_context=dc
        )
        self.cell_token_embedding = nn.Embedding(1 + config.n_classes, dc)
        self.cell_transformer = Transformer(
            dc, config.n_layers_cell, config.n_heads_cell, config.n_heads_kv_cell, config, d_context=d
        )
        self.expression_decoder = ExpressionDecoder(config)
        self.compressors = nn.ModuleDict()
        for c, dim in zip(config.classes, config.compress_dims, strict=False):
            self.compressors[c.name] = FSQCompressor(dc, dim) if dim < FSQ_BELOW else VAECompressor(dc, dim)
        self.label_decoders = nn.ModuleDict(
            {
                c.name: Classifier(config.classifier_input(i), config.classifier_hidden, c.n_leaves)
                for i, c in enumerate(config.classes)
            }
        )
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def device(self) -> torch.device:
        return self.gene_embedding.weight.device

    # --- encoding -------------------------------------------------------------------------------------
    def gene_identity(self, genes: Tensor) -> Tensor:
        """(batch, n_ctx, d): adapter(frozen embedding) + location encoding, no expression."""
        tokens = self.gene_embedding(genes)
        if self.config.gene_adapter:
            tokens = self.gene_adapter(tokens)
        if self.config.use_locations:
            tokens = tokens + self.location_encoding[genes]
        return tokens

    def gene_tokens(self, batch: dict[str, Tensor]) -> Tensor:
        expression = batch[keys.EXPRESSION].float()
        neighbors = batch.get(NEIGHBOR_EXPRESSION)
        distance = batch.get(NEIGHBOR_DISTANCE)
        if (neighbors is None) != (distance is None):
            msg = f"give both {NEIGHBOR_EXPRESSION!r} and {NEIGHBOR_DISTANCE!r}, or neither"
            raise ValueError(msg)
        if neighbors is not None:
            b, n_ctx = expression.shape
            if (
                neighbors.shape[0] != b
                or neighbors.shape[2] != n_ctx
                or distance.shape != neighbors.shape[:2]
            ):
                msg = (
                    f"neighbour tensors {tuple(neighbors.shape)} / {tuple(distance.shape)} do not match "
                    f"(batch, n_neighbors, {n_ctx}) / (batch, n_neighbors) for batch {b}"
                )
                raise ValueError(msg)
            neighbors = torch.log2(1.0 + neighbors.float())
            distance = distance.float()
        encoded = self.expression_encoder(torch.log2(1.0 + expression), neighbors, distance, batch.get(MASK))
        return self.gene_identity(batch[keys.GENES]) + encoded

    def cell_tokens_start(self, batch_size: int) -> Tensor:
        return self.cell_token_embedding.weight[None].expand(batch_size, -1, -1)

    # --- forward --------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Tensor], *, capture_qk: bool = False) -> V2Output:
        """Encode, run both transformers, decode. Batch keys: keys.GENES, keys.EXPRESSION (raw counts),
        keys.DEPTH (cell total counts: the decoder's depth input); optional NEIGHBOR_EXPRESSION and
        NEIGHBOR_DISTANCE, MASK, keys.TARGET_DEPTH (the ZINB mean's total; default: the context's counts).
        """
        genes = batch[keys.GENES]
        if genes.shape[1] > self.config.max_len:
            msg = f"batch has {genes.shape[1]} context genes, more than max_len={self.config.max_len}"
            raise ValueError(msg)
        gene_out, gene_qk, _ = self.gene_transformer(self.gene_tokens(batch), capture_qk=capture_qk)
        start = self.cell_tokens_start(genes.shape[0]).to(gene_out.dtype)
        cells, cell_self_qk, cell_cross_qk = self.cell_transformer(start, gene_out, capture_qk)
        zinb = self.expression_decoder(gene_out, batch[keys.DEPTH], self.target_depth(batch))
        decoded, compressed, logits = self.decode_cells(cells)
        return V2Output(
            zinb=zinb,
            cell_tokens=cells,
            decoded_cell_tokens=decoded,
            compressed=compressed,
            class_logits=logits,
            gene_qk=gene_qk,
            cell_self_qk=cell_self_qk,
            cell_cross_qk=cell_cross_qk,
        )

    def decode_cells(self, cells: Tensor) -> tuple[Tensor, tuple[Tensor, ...], dict[str, Tensor]]:
        """Compress each class token (the cell token stays as is) and classify (scprint2's _cell_decoder)."""
        if not self.config.compress_dims:
            logits = {c.name: self.label_decoders[c.name](cells[:, i + 1]).float()
                      for i, c in enumerate(self.config.classes)}  # fmt: skip
            return cells, (), logits
        decoded, compressed, logits = [cells[:, 0]], [cells[:, 0]], {}
        for i, c in enumerate(self.config.classes):
            out, small = self.compressors[c.name](cells[:, i + 1])
            decoded.append(out)
            compressed.append(small)
            logits[c.name] = self.label_decoders[c.name](small).float()
        return torch.stack(decoded, dim=1), tuple(compressed), logits

    @staticmethod
    def target_depth(batch: dict[str, Tensor]) -> Tensor:
        if keys.TARGET_DEPTH in batch:
            return batch[keys.TARGET_DEPTH]
        return batch[keys.EXPRESSION].float().sum(dim=1)

    def generate(self, cell_tokens: Tensor, batch: dict[str, Tensor]) -> ZinbParams:
        """Expression from cell embeddings alone (scprint2's ``_generate``): gene tokens without expression
        cross-attend to ``cell_tokens`` (batch, 1 + n_classes, d_model_cell), e.g. ``decoded_cell_tokens``."""
        expected = (1 + self.config.n_classes, self.config.d_model_cell)
        if tuple(cell_tokens.shape[1:]) != expected:
            msg = f"cell_tokens has shape {tuple(cell_tokens.shape)}, expected (batch, *{expected})"
            raise ValueError(msg)
        tokens = self.gene_identity(batch[keys.GENES])
        gene_out, _, _ = self.gene_transformer(tokens, cell_tokens.to(tokens.dtype))
        return self.expression_decoder(gene_out, batch[keys.DEPTH], self.target_depth(batch))
