"""`scprint-graph grn`: one attention gene network per group of cells of an .h5ad file, as one Parquet table.

The table has columns ``group`` (str), ``regulator``, ``target`` (Ensembl ids), ``weight`` (float32), and
``layer``/``head`` with ``--head-aggregation none``. The parameters of every group's network (JSON, as
``GeneNetwork.params`` plus ``group``, ``n_cells`` and the checkpoint hash) are stored in the file's
schema metadata under the key ``scprint_graph.grn``.
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
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn import EDGE_FILTERS, HEAD_AGGREGATIONS, extract_network
from scprint_graph.v2.grn import extract_network_v2
from scprint_graph.v2.neighbors import neighbor_graph
from scprint_graph.v2.official import family_of

logger = logging.getLogger(__name__)

GENE_CHOICES = {
    "most-variable": "most variable",
    "most-expressed": "most expressed",
    "random-expressed": "random expressed",
}
METADATA_KEY = b"scprint_graph.grn"


def _parse_heads(text: str | None) -> list[tuple[int, int]] | None:
    """``"0:1,3:0"`` -> [(0, 1), (3, 0)]."""
    if not text:
        return None
    try:
        return [tuple(int(x) for x in item.split(":")) for item in text.split(",")]
    except ValueError as err:
        msg = f"--heads must look like 0:1,3:0 (layer:head pairs), got {text!r}"
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


@app.command("grn")
def grn_command(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Checkpoint: ours or an official scPRINT .ckpt.")],
    h5ad: Annotated[Path, typer.Option("--h5ad", help="Input AnnData with raw counts.")],
    out: Annotated[Path, typer.Option("--out", help="Output Parquet edge table (all groups).")],
    group_by: Annotated[
        str | None, typer.Option(help="obs column: one network per value (all cells if unset).")
    ] = None,
    genes: Annotated[
        str, typer.Option(help="most-variable | most-expressed | random-expressed | FILE of ids.")
    ] = ("most-variable"),
    n_genes: Annotated[int, typer.Option(help="Genes per network.")] = 2000,
    max_cells: Annotated[int, typer.Option(help="Deepest cells kept per group.")] = 1024,
    min_cells: Annotated[int, typer.Option(help="Skip groups with fewer cells.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Cells per forward pass.")] = 16,
    head_aggregation: Annotated[str, typer.Option(help="mean | max | none (one row per head).")] = "mean",
    heads: Annotated[str | None, typer.Option(help="Only these heads, e.g. 0:1,3:0 (layer:head).")] = None,
    edge_filter: Annotated[str, typer.Option("--filter", help="threshold | top_k | none.")] = "threshold",
    top_k: Annotated[int | None, typer.Option(help="Regulators kept per target with --filter top_k.")] = None,
    symmetrize: Annotated[bool, typer.Option(help="Average each network with its transpose.")] = False,
    layer: Annotated[str | None, typer.Option(help="Read counts from this layer instead of X.")] = None,
    gene_column: Annotated[str | None, typer.Option(help="var column with gene ids or symbols.")] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: CUDA if present).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of random gene draws.")] = 0,
    drop_unexpressed: Annotated[
        bool, typer.Option(help="scPRINT-2, given genes: drop those no cell of the group expresses.")
    ] = False,
) -> None:
    """Gene networks from attention, one per group (e.g. cell type), written as one edge table."""
    if head_aggregation not in HEAD_AGGREGATIONS:
        msg = f"must be one of {HEAD_AGGREGATIONS}, got {head_aggregation!r}"
        raise typer.BadParameter(msg, param_hint="--head-aggregation")
    if edge_filter not in EDGE_FILTERS:
        msg = f"must be one of {EDGE_FILTERS}, got {edge_filter!r}"
        raise typer.BadParameter(msg, param_hint="--filter")
    if edge_filter == "top_k" and not top_k:
        msg = "--filter top_k needs --top-k N"
        raise typer.BadParameter(msg, param_hint="--top-k")
    gene_spec = _gene_spec(genes)
    head_list = _parse_heads(heads)
    checkpoint, adata = load_inputs(ckpt, h5ad)
    if group_by is not None and group_by not in adata.obs.columns:
        msg = f"obs has no column {group_by!r}; columns are {list(adata.obs.columns)}"
        raise typer.BadParameter(msg, param_hint="--group-by")
    vocab = GeneVocabulary.from_ensembl_ids(checkpoint.genes)
    labels = adata.obs[group_by].astype(str) if group_by else None
    groups = sorted(labels.unique()) if labels is not None else ["all"]
    extract, v2_options, graph = extract_network, {}, None
    if family_of(checkpoint.model) == "scprint2":  # one neighbour graph for the file, cut per group
        extract = extract_network_v2
        try:
            graph = neighbor_graph(adata, layer=layer, seed=seed)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--h5ad") from err
    tables, params = [], []
    for group in tqdm(groups, unit="group", desc="networks"):
        in_group = (labels == group).to_numpy() if labels is not None else np.ones(adata.n_obs, bool)
        cells = adata[in_group]
        if cells.n_obs < min_cells:
            logger.warning("group %r has %d cells (< --min-cells %d): skipped", group, cells.n_obs, min_cells)
            continue
        if graph is not None:
            v2_options = {"neighbors": graph.subset(in_group), "drop_unexpressed": drop_unexpressed}
        try:
            net = extract(
                checkpoint.model,
                cells.copy(),
                vocab,
                genes=gene_spec,
                n_genes=n_genes,
                max_cells=max_cells,
                batch_size=batch_size,
                head_aggregation=head_aggregation,
                heads=head_list,
                edge_filter=edge_filter,
                top_k=top_k,
                symmetrize=symmetrize,
                device=device,
                progress=False,
                seed=seed,
                gene_column=gene_column,
                layer=layer,
                **v2_options,
            )
        except ValueError as err:
            raise typer.BadParameter(f"group {group!r}: {err}") from err
        edges = net.edges
        tables.append(edges.add_column(0, "group", pa.array([group] * edges.num_rows, pa.string())))
        params.append({"group": group, "checkpoint_sha256": checkpoint.sha256, **net.params})
        logger.info("%s: %d genes, %d cells, %d edges", group, len(net.genes), net.n_cells, edges.num_rows)
    if not tables:
        msg = "no group had enough cells: nothing written"
        raise typer.BadParameter(msg, param_hint="--min-cells")
    table = pa.concat_tables(tables)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(params).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    typer.echo(f"wrote {table.num_rows:,} edges of {len(tables)} networks to {out}")
