"""The root typer application that every command module registers on."""

import typer

app = typer.Typer(
    name="scprint-graph",
    help="Gene networks from the scPRINT single-cell foundation model: pretrain, extract, ingest, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
