"""`scprint-graph store ...` end to end on a temporary store."""

from typer.testing import CliRunner

from cli.main import app
from schema import Store, queries
from schema.synthetic import gene_table


def run(*args):
    return CliRunner().invoke(app, ["store", *map(str, args)])


def test_init_info_load_genesets_rollback(tmp_path):
    root = tmp_path / "store"
    result = run("info", "--root", root)
    assert result.exit_code == 1 and "store init" in result.output
    assert run("init", "--root", root).exit_code == 0
    with Store(root).new_release() as w:
        w.upsert_genes(gene_table(20))
    gmt = tmp_path / "mine.gmt"
    gmt.write_text("MY_SET\tmine\tG1\tG2\tG3\tUNKNOWN\nOTHER\tx\tG4\tG5\n")
    result = run("load-genesets", gmt, "--root", root, "--license", "CC0")
    assert result.exit_code == 0, result.output
    assert "mine: 2 sets, 5 members mapped, 1 unmapped" in result.output
    info = run("info", "--root", root)
    assert info.exit_code == 0
    assert "genes           20" in info.output and "mine: 2 sets (CC0)" in info.output
    assert info.output.count("r20") >= 3  # current release plus the releases kept for rollback
    result = run("rollback", "--root", root)
    assert result.exit_code == 0
    with Store(root).open_reader() as r:
        assert queries.gene_set_collections(r.con) == []


def test_expected_mistakes_are_clear_messages(tmp_path):
    root = tmp_path / "store"
    run("init", "--root", root)
    result = run("load-genesets", tmp_path / "missing.gmt", "--root", root)
    assert result.exit_code == 2 and "file not found" in result.output
    result = run("load-genesets", "--root", root)
    assert result.exit_code == 2 and "--bundled" in result.output
    result = run("rollback", "--root", root)
    assert result.exit_code == 2 and "no release older" in result.output
    assert "Traceback" not in result.output


def test_info_shows_deltas_and_compact_makes_a_base(tmp_path):
    root = tmp_path / "store"
    run("init", "--root", root)
    base = Store(root).current_release()
    with Store(root, delta_min_bytes=0).new_release() as w:  # a delta on the empty first release
        w.upsert_genes(gene_table(20))
    info = run("info", "--root", root)
    assert info.exit_code == 0
    assert f"* {w.release_id}" in info.output and f"delta on {base}" in info.output
    result = run("compact", "--root", root)
    assert result.exit_code == 0, result.output
    assert "a base release (made by compaction)" in result.output
    current = Store(root).current_release()
    assert current != w.release_id and Store(root).base_of(current) is None
    with Store(root).open_reader() as r:
        assert queries.store_info(r.con).n_genes == 20
    assert run("compact", "--root", tmp_path / "empty").exit_code == 2
