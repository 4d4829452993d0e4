"""`scprint-graph ingest` and `schedule`: paths with column options, config files, clear errors."""

import json
import re

from filelock import FileLock
from typer.testing import CliRunner

from cli.main import app
from ingest.schedule import lock_path
from schema import Store

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    """Exit code and output with rich's boxes and line wrapping removed."""
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


FAST = ["--min-cells", "15", "--device", "cpu", "--no-progress"]


def test_ingest_paths_with_column_options(tmp_path, checkpoint, make_adata):
    adata = make_adata()
    adata.obs = adata.obs.rename(columns={"cell_type": "annotation"}).drop(columns=["tissue", "disease"])
    path = tmp_path / "lab.h5ad"
    adata.write_h5ad(path)
    store = tmp_path / "atlas"
    args = ["ingest", str(path), "--store", str(store), "--checkpoint", str(checkpoint), *FAST]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output  # the grouping columns are missing
    assert "missing grouping columns ['annotation'" not in result.output
    assert "missing grouping columns ['tissue', 'disease', 'cell_type']" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["failed"] == 1
    mapped = [*args, "--cell-type-col", "annotation", "--tissue", "lung", "--disease", "normal"]
    result = runner.invoke(app, mapped)
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output
    with Store(store).open_reader() as reader:
        rows = reader.con.execute("SELECT DISTINCT tissue, disease FROM networks").fetchall()
    assert rows == [("lung", "normal")]
    # a second run finds nothing to do
    assert "1 unchanged" in runner.invoke(app, mapped).output


def test_ingest_config_and_lock(tmp_path, checkpoint, make_adata):
    (tmp_path / "data").mkdir()
    make_adata().write_h5ad(tmp_path / "data" / "a.h5ad")
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[store]\nroot = "atlas"\n[model]\ncheckpoint = "{checkpoint}"\n'
        '[params]\nn_genes = 16\nmax_cells = 8\nmin_cells = 15\n[[sources]]\nkind = "h5ad"\npath = "data"\n'
    )
    with FileLock(str(lock_path(tmp_path / "atlas"))):
        result = runner.invoke(app, ["ingest", "--config", str(config), "--no-progress"])
    assert result.exit_code == 2 and "another ingestion run holds" in result.output
    result = runner.invoke(app, ["ingest", "--config", str(config), "--device", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "12 networks" in result.output


def test_clear_errors(tmp_path):
    code, out = invoke("ingest")
    assert code == 2 and "give --config or at least one .h5ad" in out
    code, out = invoke("ingest", str(tmp_path), "--store", "x")
    assert code == 2 and "--store and --checkpoint are required" in out
    code, out = invoke("ingest", "--config", str(tmp_path / "none.toml"))
    assert code == 2 and "config file not found" in out
    bad = tmp_path / "s.toml"
    bad.write_text('[store]\nroot = "a"\n[model]\ncheckpoint = "m"\n[[sources]]\nkind = "h5ad"\npath = "."\n')
    code, out = invoke("schedule", "--config", str(bad))
    assert code == 2 and "has no [schedule] table" in out
    code, out = invoke("schedule", "--config", str(bad), "--cron", "99 * * * *")
    assert code == 2 and "invalid cron expression" in out
    code, out = invoke("ingest", str(tmp_path), "--store", "x", "--checkpoint", "m", "--counts", "norm")
    assert code == 2 and "counts must be" in out
