"""`scprint-graph store init | info | rollback | compact | load-genesets`: manage a store's releases."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from schema import NoReleaseError, SchemaVersionError, Store, queries
from schema.genesets import read_gmt

logger = logging.getLogger(__name__)

store_app = typer.Typer(help="Create and inspect a network store; roll back releases; load gene sets.")
app.add_typer(store_app, name="store")

RootOption = Annotated[
    Path, typer.Option("--root", "--db", help="Store root: the folder holding releases/ and CURRENT.")
]
KeepOption = Annotated[int, typer.Option(help="Published releases kept on disk for rollback.")]


def _store(root: Path, keep: int = 5) -> Store:
    try:
        return Store(root, keep=keep)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


@store_app.command("init")
def init(root: RootOption) -> None:
    """Create the store with an empty first release (does nothing if it has one)."""
    release = _store(root).init()
    typer.echo(f"store {root}: current release {release}")


@store_app.command("info")
def info(root: RootOption) -> None:
    """Show the current release, its counts and models, and the releases kept for rollback."""
    store = _store(root)
    try:
        with store.open_reader() as reader:
            meta = queries.store_info(reader.con)
            collections = queries.gene_set_collections(reader.con)
    except (NoReleaseError, SchemaVersionError) as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err
    typer.echo(f"release         {meta.release_id} (schema version {meta.schema_version})")
    typer.echo(f"created         {meta.created_at}  {meta.note or ''}".rstrip())
    typer.echo(f"genes           {meta.n_genes:,}")
    typer.echo(f"datasets        {meta.n_datasets:,}")
    typer.echo(f"networks        {meta.n_networks:,}")
    typer.echo(f"edges           {meta.n_edges:,}")
    typer.echo(f"gene sets       {meta.n_gene_sets:,}")
    for c in collections:
        typer.echo(f"  {c.name}: {c.n_sets} sets ({c.license or 'licence not given'})")
    for m in meta.models:
        typer.echo(f"model           {m.id}: {m.name} {m.checkpoint_hash}")
    current = store.current_release()
    for release in store.releases():
        marker = "*" if release == current else " "
        size = store.release_path(release).stat().st_size / 2**20
        base = store.base_of(release)
        layout = "base" if base is None else f"delta on {base}"
        typer.echo(f"{marker} {release}  {size:,.1f} MiB  {layout}")


@store_app.command("rollback")
def rollback(
    root: RootOption,
    to: Annotated[str | None, typer.Option(help="Release id (default: the one before the current).")] = None,
) -> None:
    """Point readers at an earlier release; running servers pick it up without restart."""
    try:
        release = _store(root).rollback(to=to)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--to") from err
    typer.echo(f"current release is now {release}")


@store_app.command("compact")
def compact(root: RootOption, keep: KeepOption = 5) -> None:
    """Merge the current delta release into a new base (writers do it by themselves once a delta passes a
    quarter of its base); the old base and delta stay for rollback until pruned."""
    store = _store(root, keep)
    if store.current_release() is None:
        raise typer.BadParameter(f"no release in {root}; run `scprint-graph store init --root {root}` first")
    with store.new_release(note="compaction", full=True) as w:
        pass
    typer.echo(f"published release {w.release_id}, a base release (made by {w.layout})")


@store_app.command("load-genesets")
def load_genesets(
    root: RootOption,
    files: Annotated[list[Path] | None, typer.Argument(help="GMT files (optionally .gz).")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection name (default: the file name).")] = None,
    organism: Annotated[str, typer.Option(help="NCBITaxon id of the member genes.")] = "NCBITaxon:9606",
    license: Annotated[str | None, typer.Option(help="Licence of the gene sets, shown to users.")] = None,
    bundled: Annotated[
        bool, typer.Option(help="Load the bundled MSigDB collections and mark the Lambert 2018 TFs.")
    ] = False,
    keep: KeepOption = 5,
) -> None:
    """Load gene-set collections into a new release (members are mapped to the store's genes)."""
    files = files or []
    if not files and not bundled:
        raise typer.BadParameter("give GMT files or --bundled")
    if collection and len(files) > 1:
        raise typer.BadParameter(
            "--collection names one file's collection; give one file", param_hint="--collection"
        )
    parsed = {}
    for path in files:
        if not path.is_file():
            raise typer.BadParameter(f"file not found: {path}", param_hint="FILES")
        try:
            parsed[collection or path.name.removesuffix(".gz").removesuffix(".gmt")] = (path, read_gmt(path))
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="FILES") from err
    store = _store(root, keep)
    if store.current_release() is None:
        raise typer.BadParameter(f"no release in {root}; run `scprint-graph store init --root {root}` first")
    with store.new_release(note="gene sets") as w:
        loads = w.load_reference_data(organism=organism) if bundled else {}
        for name, (path, sets) in parsed.items():
            loads[name] = w.load_gene_sets(name, sets, organism=organism, source=path.name, license=license)
    for name, load in loads.items():
        typer.echo(f"{name}: {load.n_sets} sets, {load.n_members} members mapped, {load.n_unmapped} unmapped")
    typer.echo(f"published release {w.release_id}")
