"""`scprint-graph grn` and `select-heads`: attention gene networks of an .h5ad file, and heads chosen
against known regulation.

`grn` writes one Parquet table with columns ``group`` (str), ``regulator``, ``target`` (Ensembl ids),
``weight`` (float32), and ``layer``/``head`` with ``--head-aggregation none``. The parameters of every
group's network (JSON, as ``GeneNetwork.params`` plus ``group`` and the checkpoint hash) are stored in the
file's schema metadata under the key ``scprint_graph.grn``.

`select-heads` fits scPRINT's head selection on part of the (TF row) pairs a prior labels, reports the
held-out score of the selected heads against the mean of all heads, and writes a heads file that
``grn --heads FILE`` and the ingest config (``[params] heads = "FILE"``) accept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from tqdm.auto import tqdm

from cli.app import app
from cli.inputs import load_inputs
from scprint_graph.checkpoint import checkpoint_vocabulary
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn import extract_network, group_qk
from scprint_graph.grn_core import EDGE_FILTERS, HEAD_AGGREGATIONS
from scprint_graph.grn_params import PRECISIONS, GrnParams, read_heads_file, write_heads_file
from scprint_graph.head_selection import select_heads_against_prior
from scprint_graph.model import resolve_device
from scprint_graph.priors import BUILTIN_PRIORS, load_prior
from scprint_graph.v2.grn import extract_network_v2, group_qk_v2, organism_slice
from scprint_graph.v2.neighbors import neighbor_graph
from scprint_graph.v2.official import family_of

logger = logging.getLogger(__name__)

GENE_CHOICES = {
    "most-variable": "most variable",
    "most-expressed": "most expressed",
    "random-expressed": "random expressed",
}
METADATA_KEY = b"scprint_graph.grn"
_AGGREGATIONS = " | ".join(HEAD_AGGREGATIONS)
_FILTERS = " | ".join(EDGE_FILTERS)


def _parse_heads(text: str | None) -> list[tuple[int, int]] | dict | None:
    """``"0:1,3:0"`` -> [(0, 1), (3, 0)]; a path -> the heads file's content."""
    if not text:
        return None
    if Path(text).is_file():
        try:
            return read_heads_file(text)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--heads") from err
    try:
        return [tuple(int(x) for x in item.split(":")) for item in text.split(",")]
    except ValueError as err:
        msg = f"--heads must be a heads file or layer:head pairs such as 0:1,3:0, got {text!r}"
        raise typer.BadParameter(msg, param_hint="--heads") from err


def _gene_spec(genes: str) -> str | list[str]:
    if genes in GENE_CHOICES:
        return GENE_CHOICES[genes]
    path = Path(genes)
    if not path.is_file():
        msg = f"--genes must be one of {sorted(GENE_CHOICES)} or a text file of gene ids, got {genes!r}"
        raise typer.BadParameter(msg, param_hint="--genes")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        msg = f"gene list {path} is empty"
        raise typer.BadParameter(msg, param_hint="--genes")
    return names


def _params(**values) -> GrnParams:
    try:
        return GrnParams.from_dict(values)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


GenesOption = Annotated[
    str, typer.Option(help="most-variable | most-expressed | random-expressed | FILE of ids (one a line).")
]
NGenesOption = Annotated[int, typer.Option(help="Genes per network (a given list is cut to it).")]
DropOption = Annotated[
    bool, typer.Option(help="Drop given genes that no cell of the group expresses (scPRINT: kept).")
]
MaxCellsOption = Annotated[int, typer.Option(help="Deepest cells kept per group.")]
BatchOption = Annotated[int, typer.Option(help="Cells per forward pass.")]
PrecisionOption = Annotated[
    str, typer.Option(help=f"{' | '.join(PRECISIONS)}: forward precision on CUDA (CPU: fp32).")
]
LayerOption = Annotated[str | None, typer.Option(help="Read counts from this layer instead of X.")]
GeneColumnOption = Annotated[str | None, typer.Option(help="var column with gene ids or symbols.")]
DeviceOption = Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 ... (default: auto).")]
SeedOption = Annotated[int, typer.Option(help="Seed of random gene draws.")]


@app.command("grn")
def grn_command(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Checkpoint: ours or an official scPRINT .ckpt.")],
    h5ad: Annotated[Path, typer.Option("--h5ad", help="Input AnnData with raw counts.")],
    out: Annotated[Path, typer.Option("--out", help="Output Parquet edge table (all groups).")],
    group_by: Annotated[
        str | None, typer.Option(help="obs column: one network per value (all cells if unset).")
    ] = None,
    genes: GenesOption = "most-variable",
    n_genes: NGenesOption = 2000,
    drop_unexpressed: DropOption = False,
    max_cells: MaxCellsOption = 1024,
    min_cells: Annotated[int, typer.Option(help="Skip groups with fewer cells.")] = 10,
    batch_size: BatchOption = 16,
    head_aggregation: Annotated[
        str, typer.Option(help=f"{_AGGREGATIONS} (none: one row per head).")
    ] = "mean",
    heads: Annotated[
        str | None,
        typer.Option(help="Only these heads: a heads file (select-heads) or 0:1,3:0 (layer:head)."),
    ] = None,
    edge_filter: Annotated[str, typer.Option("--filter", help=f"{_FILTERS}.")] = "threshold",
    top_k: Annotated[int | None, typer.Option(help="Regulators kept per target with --filter top_k.")] = None,
    symmetrize: Annotated[bool, typer.Option(help="Average each network with its transpose.")] = False,
    precision: PrecisionOption = "fp32",
    layer: LayerOption = None,
    gene_column: GeneColumnOption = None,
    device: DeviceOption = None,
    seed: SeedOption = 0,
    organism: Annotated[
        str | None,
        typer.Option(
            help="scPRINT-2: the organism of the cells (name or NCBITaxon id; default: the one most genes "
            "match among those the checkpoint knows)."
        ),
    ] = None,
) -> None:
    """Gene networks from attention, one per group (e.g. cell type), written as one edge table."""
    if edge_filter == "top_k" and not top_k:
        msg = "--filter top_k needs --top-k N"
        raise typer.BadParameter(msg, param_hint="--top-k")
    params = _params(
        genes=_gene_spec(genes),
        n_genes=n_genes,
        drop_unexpressed=drop_unexpressed,
        max_cells=max_cells,
        head_aggregation=head_aggregation,
        heads=_parse_heads(heads),
        edge_filter=edge_filter,
        top_k=top_k,
        symmetrize=symmetrize,
        precision=precision,
        seed=seed,
    )
    checkpoint, adata = load_inputs(ckpt, h5ad)
    selected_for = (params.heads_selection or {}).get("checkpoint_sha256")
    if selected_for and selected_for != checkpoint.sha256:
        logger.warning("the heads file was selected on another checkpoint (sha256 %s...)", selected_for[:12])
    if group_by is not None and group_by not in adata.obs.columns:
        msg = f"obs has no column {group_by!r}; columns are {list(adata.obs.columns)}"
        raise typer.BadParameter(msg, param_hint="--group-by")
    vocab = checkpoint_vocabulary(checkpoint)[0]
    labels = adata.obs[group_by].astype(str) if group_by else None
    groups = sorted(labels.unique()) if labels is not None else ["all"]
    extract, v2_options, graph = extract_network, {}, None
    if organism is not None and family_of(checkpoint.model) != "scprint2":
        msg = "--organism is for scPRINT-2 checkpoints (a v1 checkpoint's genes are human or mouse by id)"
        raise typer.BadParameter(msg, param_hint="--organism")
    if family_of(checkpoint.model) == "scprint2":  # one neighbour graph for the file, cut per group
        extract = extract_network_v2
        if organism is not None:
            try:
                organism_slice(checkpoint.model, organism)
            except ValueError as err:
                raise typer.BadParameter(str(err), param_hint="--organism") from err
        try:
            graph = neighbor_graph(adata, layer=layer, seed=seed)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--h5ad") from err
    tables, recorded = [], []
    for group in tqdm(groups, unit="group", desc="networks"):
        in_group = (labels == group).to_numpy() if labels is not None else np.ones(adata.n_obs, bool)
        cells = adata[in_group]
        if cells.n_obs < min_cells:
            logger.warning("group %r has %d cells (< --min-cells %d): skipped", group, cells.n_obs, min_cells)
            continue
        if graph is not None:
            v2_options = {"neighbors": graph.subset(in_group), "organism": organism}
        try:
            net = extract(
                checkpoint.model,
                cells.copy(),
                vocab,
                params,
                batch_size=batch_size,
                device=device or "auto",
                progress=False,
                gene_column=gene_column,
                layer=layer,
                **v2_options,
            )
        except ValueError as err:
            raise typer.BadParameter(f"group {group!r}: {err}") from err
        edges = net.edges
        tables.append(edges.add_column(0, "group", pa.array([group] * edges.num_rows, pa.string())))
        recorded.append({"group": group, "checkpoint_sha256": checkpoint.sha256, **net.params})
        logger.info("%s: %d genes, %d cells, %d edges", group, len(net.genes), net.n_cells, edges.num_rows)
    if not tables:
        msg = "no group had enough cells: nothing written"
        raise typer.BadParameter(msg, param_hint="--min-cells")
    table = pa.concat_tables(tables)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(recorded).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    typer.echo(f"wrote {table.num_rows:,} edges of {len(tables)} networks to {out}")


def _prior_ids(spec: str, vocab: GeneVocabulary) -> tuple[list[str], list[str]]:
    """The prior's (regulator, target) as vocabulary Ensembl ids; names the vocabulary lacks are dropped."""
    try:
        prior = load_prior(spec)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--prior") from err
    regulators, targets = prior.column("regulator").to_pylist(), prior.column("target").to_pylist()
    names = sorted(set(regulators) | set(targets))
    indices = vocab.map_genes(names, source=f"prior {spec}").indices
    ensembl = {n: str(vocab.ensembl_ids[i]) for n, i in zip(names, indices, strict=True) if i >= 0}
    pairs = [
        (ensembl[r], ensembl[t])
        for r, t in zip(regulators, targets, strict=True)
        if r in ensembl and t in ensembl
    ]
    if not pairs:
        msg = f"no edge of prior {spec!r} names two genes of the model's vocabulary"
        raise typer.BadParameter(msg, param_hint="--prior")
    return [r for r, _ in pairs], [t for _, t in pairs]


@app.command("select-heads")
def select_heads_command(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Checkpoint: ours or an official scPRINT .ckpt.")],
    h5ad: Annotated[Path, typer.Option("--h5ad", help="Cells to select on (raw counts).")],
    out: Annotated[Path, typer.Option("--out", help="Heads file to write (JSON).")] = Path("heads.json"),
    prior: Annotated[
        str,
        typer.Option(
            help=f"{' | '.join(BUILTIN_PRIORS)} (shipped) or a TSV: regulator, target[, sign, source]."
        ),
    ] = "omnipath",
    genes: GenesOption = "most-variable",
    n_genes: NGenesOption = 2000,
    drop_unexpressed: DropOption = False,
    max_cells: MaxCellsOption = 1024,
    train_fraction: Annotated[
        float, typer.Option(help="Share of the pairs the selection is fitted on.")
    ] = 0.5,
    batch_size: BatchOption = 16,
    precision: PrecisionOption = "fp32",
    layer: LayerOption = None,
    gene_column: GeneColumnOption = None,
    device: DeviceOption = None,
    seed: SeedOption = 0,
) -> None:
    """Choose the attention heads that agree with known regulation; write them as a heads file."""
    params = _params(
        genes=_gene_spec(genes),
        n_genes=n_genes,
        drop_unexpressed=drop_unexpressed,
        max_cells=max_cells,
        precision=precision,
        seed=seed,
    )
    checkpoint, adata = load_inputs(ckpt, h5ad)
    vocab = checkpoint_vocabulary(checkpoint)[0]
    regulators, targets = _prior_ids(prior, vocab)
    try:
        options = {"batch_size": batch_size, "device": resolve_device(device), "gene_column": gene_column}
        if family_of(checkpoint.model) == "scprint2":  # scPRINT-2's gene transformer, with the cells' kNN
            graph = neighbor_graph(adata, layer=layer, seed=seed)
            group, _, _ = group_qk_v2(
                checkpoint.model, adata, vocab, params, neighbors=graph, layer=layer, **options
            )
        else:
            group = group_qk(checkpoint.model, adata, vocab, params, layer=layer, **options)
        selection = select_heads_against_prior(
            group.q_mean,
            group.k_mean,
            group.n_special,
            group.genes,
            regulators,
            targets,
            train_fraction=train_fraction,
            seed=seed,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    held_out = selection.test_metrics
    config = checkpoint.model.config
    write_heads_file(
        out,
        selection.selected,
        prior=prior if prior.lower() in BUILTIN_PRIORS else Path(prior).name,
        held_out=held_out,
        coefficients={
            f"{layer_}:{head}": float(c)
            for (layer_, head), c in zip(selection.head_ids, selection.coef, strict=True)
        },
        checkpoint_sha256=checkpoint.sha256,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        selected_on={
            "file": h5ad.name,
            "n_cells": group.n_cells,
            "n_genes": len(group.genes),
            **params.to_dict(),
        },
        train_fraction=train_fraction,
        seed=seed,
    )
    sel, mean = held_out["selected"], held_out["all"]
    typer.echo(
        f"selected {len(selection.selected)} of {len(selection.head_ids)} heads against {prior}; held-out "
        f"({held_out['n_test']:,} pairs, {sel['n_true']:,} known): AUPRC {sel['auprc']:.4f} vs "
        f"{mean['auprc']:.4f} for the mean of all heads, EPR {sel['epr']:.2f} vs {mean['epr']:.2f} "
        f"(random AUPRC {sel['random_precision']:.4f}); wrote {out}"
    )
