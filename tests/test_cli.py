"""The console entry point exists and documents itself."""

from typer.testing import CliRunner

from cli.main import app


def test_help_lists_the_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Gene networks from the scPRINT" in result.output
