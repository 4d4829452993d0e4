"""`scprint-graph store load-priors | rescore`: known regulator -> target edges and network quality.

Registered on the `store` command group; loading priors re-scores the release's networks against them
from the stored edges (no model run).
"""

from pathlib import Path
from typing import Annotated

import typer

from cli.store import KeepOption, RootOption, _store, store_app
from schema import quality
from schema.priors import (
    BUNDLED_LICENSE,
    BUNDLED_OMNIPATH,
    BUNDLED_ORIGIN,
    BUNDLED_SPLITS,
    load_priors,
    prior_table_from_ground_truth,
    read_prior_tsv,
)
from scprint_graph import grn_metrics


@store_app.command("load-priors")
def load_priors_command(
    root: RootOption,
    bundled: Annotated[
        bool,
        typer.Option(help="Load the shipped OmniPath transcriptional edges: OmniPath, CollecTRI, DoRothEA."),
    ] = False,
    tsv: Annotated[
        Path | None, typer.Option(help="Tab-separated file: header regulator, target[, sign][, level].")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the prior source loaded from --tsv.")] = None,
    organism: Annotated[str, typer.Option(help="NCBITaxon id of the genes.")] = "NCBITaxon:9606",
    license: Annotated[str | None, typer.Option(help="Licence of the --tsv edges, shown to users.")] = None,
    keep: KeepOption = 5,
) -> None:
    """Load prior knowledge into a new release and re-score every network against it."""
    if bundled == (tsv is not None):
        raise typer.BadParameter("give either --bundled or --tsv FILE --name NAME")
    tables = {}
    if tsv is not None:
        if not name:
            raise typer.BadParameter("--tsv needs --name (the prior source's name)", param_hint="--name")
        try:
            tables[name] = (read_prior_tsv(tsv), str(tsv.name), license)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--tsv") from err
    else:
        if not BUNDLED_OMNIPATH.is_file():
            raise typer.BadParameter(f"{BUNDLED_OMNIPATH} not found (it ships with the source tree)")
        for source, split in BUNDLED_SPLITS.items():
            truth = grn_metrics.load_ground_truth(BUNDLED_OMNIPATH, sources=split)
            tables[source] = (prior_table_from_ground_truth(truth), BUNDLED_ORIGIN, BUNDLED_LICENSE)
    store = _store(root, keep)
    if store.current_release() is None:
        raise typer.BadParameter(f"no release in {root}; run `scprint-graph store init --root {root}` first")
    # Every network is re-scored: a full release (a delta holds only its own networks' rows).
    with store.new_release(note=f"priors: {', '.join(tables)}", full=True) as w:
        loads = [
            load_priors(w.con, source, table, organism=organism, origin=origin, license=text)
            for source, (table, origin, text) in tables.items()
        ]
        n_networks = quality.rescore_release(
            w.con, metrics=grn_metrics, source_ids=[load.source_id for load in loads]
        )
    for load in loads:
        typer.echo(
            f"{load.name}: {load.n_edges:,} edges stored from {load.n_input:,} rows"
            f" ({load.n_unmapped:,} name a gene unknown to the store, {load.n_self:,} self-edges)"
        )
    typer.echo(f"re-scored {n_networks:,} networks; published release {w.release_id}")


@store_app.command("rescore")
def rescore_command(root: RootOption, keep: KeepOption = 5) -> None:
    """Re-score every network against the loaded priors from its stored edges, into a new release."""
    store = _store(root, keep)
    if store.current_release() is None:
        raise typer.BadParameter(f"no release in {root}; run `scprint-graph store init --root {root}` first")
    with store.new_release(note="quality re-scored", full=True) as w:
        n_networks = quality.rescore_release(w.con, metrics=grn_metrics)
    typer.echo(f"re-scored {n_networks:,} networks; published release {w.release_id}")
