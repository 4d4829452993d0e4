"""The console entry point documents itself and shows expected errors as one line (exit 1) in one place."""

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from cli.app import CommandGroup
from cli.main import app
from scprint_graph.errors import InputError


def test_help_lists_the_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Gene networks from the scPRINT" in result.output


def _app_raising(error: Exception) -> typer.Typer:
    """An app built like the real one whose only command raises ``error``."""
    app = typer.Typer(cls=CommandGroup)

    @app.callback()
    def main(verbose: Annotated[bool, typer.Option("--verbose", "--debug")] = False) -> None:
        pass

    @app.command()
    def run() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "error",
    [
        InputError("x.h5ad is empty (0 bytes)"),
        ValueError("bad\nvalue"),
        FileNotFoundError(2, "No such file", "f"),
    ],
)
def test_expected_errors_are_one_line_with_exit_1_and_a_traceback_only_when_verbose(error):
    runner = CliRunner()
    result = runner.invoke(_app_raising(error), ["run"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == "Error: " + " ".join(str(error).split())
    for flag in ("--verbose", "--debug"):
        result = runner.invoke(_app_raising(error), [flag, "run"])
        assert result.exception is error  # propagates, with its traceback


def test_unexpected_errors_are_not_hidden():
    result = CliRunner().invoke(_app_raising(KeyError("bug")), ["run"])
    assert isinstance(result.exception, KeyError)
