"""The root typer application that every command module registers on, and where expected errors are shown.

Every command reports bad input by raising: ``typer.BadParameter`` for a wrong option (usage error, exit 2),
and ``ValueError`` (the project's ``scprint_graph.errors.InputError`` is one) or ``OSError`` (a missing or
unreadable file) for anything else a user can fix. ``CommandGroup`` turns the latter into one line on
standard error, ``Error: <message>``, and exit status 1, for every command in one place. With ``--verbose``
(or ``--debug``) the exception propagates with its traceback instead.
"""

import typer
from typer.core import TyperGroup

EXPECTED_ERRORS = (ValueError, OSError)
"""Shown as one line: the project raises ValueError (InputError) for bad input; OSError is about files."""


def _verbose(ctx: typer.Context) -> bool:
    return bool(ctx.find_root().params.get("verbose"))


class CommandGroup(TyperGroup):
    """The root group: runs the command and renders an expected error as one line (exit 1)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as err:
            if _verbose(ctx):
                raise
            message = " ".join(str(err).split()) or type(err).__name__
            typer.echo(f"Error: {message}", err=True)
            raise typer.Exit(code=1) from err


app = typer.Typer(
    name="scprint-graph",
    help="Gene networks from the scPRINT single-cell foundation model: pretrain, extract, ingest, serve.",
    cls=CommandGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
