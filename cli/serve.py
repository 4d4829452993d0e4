"""`scprint-graph serve` and `scprint-graph export-schema`: the GraphQL API over a store, and its SDL."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app

log = logging.getLogger(__name__)


@app.command()
def serve(
    db: Annotated[Path, typer.Option("--db", help="Store root: the folder holding releases/ and CURRENT.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_depth: Annotated[int, typer.Option(help="Deepest selection nesting allowed.")] = 10,
    max_cost: Annotated[
        int, typer.Option(help="Largest estimated query cost (first x child cost).")
    ] = 100_000,
    max_page_size: Annotated[int, typer.Option(help="Cap on any `first` argument.")] = 1000,
    no_graphiql: Annotated[bool, typer.Option("--no-graphiql", help="Do not serve GraphiQL.")] = False,
    duckdb_threads: Annotated[
        int | None, typer.Option(help="DuckDB threads per release (default: one per core).")
    ] = None,
    deadline_s: Annotated[
        float, typer.Option(help="Seconds one request may run before its query is interrupted.")
    ] = 10.0,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Origin allowed to call the API from a browser (repeat; default: any, '*')."),
    ] = None,
) -> None:
    """Serve the store read-only over GraphQL (GraphiQL at /graphql), exports and /healthz."""
    import uvicorn

    from schema.release import Store
    from server.app import create_app
    from server.config import Limits, ServerConfig

    if not db.is_dir():
        msg = f"{db} is not a store folder (create one with the store or ingest commands)"
        raise typer.BadParameter(msg, param_hint="--db")
    if Store(db).current_release() is None:
        log.warning("%s has no published release yet: /healthz answers 503 until one is published", db)
    try:
        limits = Limits(
            max_depth=max_depth, max_cost=max_cost, max_page_size=max_page_size, deadline_s=deadline_s
        )
        config = ServerConfig(
            db=db,
            limits=limits,
            graphiql=not no_graphiql,
            duckdb_threads=duckdb_threads,
            cors_origins=tuple(cors_origin) if cors_origin else ("*",),
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    log.info("serving %s on http://%s:%d/graphql", db, host, port)
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


@app.command("export-schema")
def export_schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the SDL to this file (default: standard output).")
    ] = None,
) -> None:
    """Write the GraphQL schema (SDL) of the API, with every description."""
    from server.api import build_schema
    from server.config import Limits

    sdl = build_schema(Limits()).as_str() + "\n"
    if out is None:
        typer.echo(sdl, nl=False)
    else:
        out.write_text(sdl)
        log.info("wrote the schema to %s", out)
