"""Entry point of `scprint-graph`: importing a command module registers its commands on the app."""

import logging
from typing import Annotated

import typer

# One import per command module; importing it registers its commands on `app`.
from cli import grn, ingest, model, priors, serve, store, train  # noqa: F401
from cli.app import app


@app.callback()
def main(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "--debug",
            help="Debug logging, and a traceback with every error (errors are one line without it).",
        ),
    ] = False,
) -> None:
    """Gene networks from the scPRINT single-cell foundation model."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    app()
