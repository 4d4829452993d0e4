"""Prior knowledge: TSV parsing with clear errors, loading into a release, the bundled OmniPath splits."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from cli.main import app
from schema import Store, queries
from schema.priors import (
    BUNDLED_OMNIPATH,
    BUNDLED_SPLITS,
    load_priors,
    prior_table_from_ground_truth,
    read_prior_tsv,
)
from schema.queries import evidence
from schema.synthetic import gene_table
from scprint_graph.grn_metrics import load_ground_truth
from tests.schema.prior_store import build_prior_store


def write(tmp_path, text, name="p.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tsv_reads_symbols_ids_signs_levels_and_skips_comments(tmp_path):
    path = write(
        tmp_path,
        "# my prior\nTarget\tregulator\tsign\tlevel\textra\n"
        "G2\tG1\t+\tA\tx\nENSG00000000005\tENSG00000000004\trepression\t\ty\n\nG9\tG8\t\tc\tz\n",
    )
    table = read_prior_tsv(path)
    assert table.to_pydict() == {
        "regulator": ["G1", "ENSG00000000004", "G8"],
        "target": ["G2", "ENSG00000000005", "G9"],
        "sign": [1, -1, None],
        "level": ["A", None, "C"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source\ttarget\nA\tB\n", "line 1: the header lacks regulator"),
        ("regulator\ttarget\tsign\nA\tB\t+\nA\tC\tup\n", "line 3: sign 'up' is not one of"),
        ("regulator\ttarget\tlevel\n#\nA\tB\tZ\n", "line 3: level 'Z' is not a DoRothEA confidence level"),
        ("regulator\ttarget\nA\tB\nA\n", "line 3: 1 tab-separated field(s)"),
        ("regulator\ttarget\n\tB\n", "line 2: empty regulator or target"),
        ("regulator\ttarget\n", "holds no edges"),
    ],
)
def test_tsv_mistakes_name_the_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=None) as err:
        read_prior_tsv(write(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_tsv_missing_file(tmp_path):
    with pytest.raises(ValueError, match="prior file not found"):
        read_prior_tsv(tmp_path / "nope.tsv")


def _store_with_genes(tmp_path, n=30):
    store = Store(tmp_path / "store")
    store.init()
    with store.new_release() as w:
        w.upsert_genes(gene_table(n))
    return store


def test_load_maps_genes_merges_duplicates_and_replaces_by_name(tmp_path):
    store = _store_with_genes(tmp_path)
    edges = pa.table(
        {
            "regulator": ["G1", "ENSG00000000001", "g1", "G2", "G3", "NOPE", "G4"],
            "target": ["G5", "G6", "ENSG00000000005", "G2", "G7", "G1", "UNKNOWN"],
            "sign": pa.array([1, 1, -1, 1, None, 1, 1], pa.int8()),
            "level": ["B", None, "A", None, None, None, None],
        }
    )
    with store.new_release() as w:
        load = load_priors(w.con, "mine", edges, origin="test", license="CC0")
    assert (load.n_input, load.n_edges, load.n_unmapped, load.n_self) == (7, 3, 2, 1)
    with store.open_reader() as r:
        ids = {s: i for i, s in r.con.execute("SELECT id, symbol FROM genes").fetchall()}
        stored = r.con.execute(
            "SELECT regulator_id, target_id, sign, level FROM prior_edges ORDER BY ALL"
        ).fetchall()
        assert stored == sorted(
            [
                (ids["G1"], ids["G5"], 0, "A"),  # +1 and -1 reported: both; the best level kept
                (ids["G1"], ids["G6"], 1, None),
                (ids["G3"], ids["G7"], None, None),
            ]
        )
        (source,) = evidence.prior_sources(r.con)
        assert (source.name, source.n_edges, source.n_unmapped, source.license) == ("mine", 3, 2, "CC0")
    with store.new_release() as w:
        load_priors(w.con, "mine", edges.slice(0, 1))
    with store.open_reader() as r:
        assert r.con.execute("SELECT count(*) FROM prior_edges").fetchall()[0][0] == 1
        assert [s.n_edges for s in evidence.prior_sources(r.con)] == [1]


def test_load_rejects_a_table_without_regulator(tmp_path):
    store = _store_with_genes(tmp_path)
    with store.new_release() as w, pytest.raises(ValueError, match=r"lack columns \['regulator'\]"):
        load_priors(w.con, "bad", pa.table({"target": ["G1"]}))


def test_ground_truth_signs_follow_stimulation_and_inhibition():
    truth = pa.table(
        {
            "regulator": ["a", "b", "c", "d"],
            "target": ["x", "y", "z", "w"],
            "sources": ["CollecTRI", "DoRothEA", None, "x"],
            "is_stimulation": [True, False, True, False],
            "is_inhibition": [False, True, True, False],
        }
    )
    table = prior_table_from_ground_truth(truth)
    assert table["sign"].to_pylist() == [1, -1, 0, None]
    assert table["resources"].to_pylist() == ["CollecTRI", "DoRothEA", None, "x"]
    assert table["level"].null_count == 4


@pytest.fixture(scope="module")
def omnipath_store(tmp_path_factory):
    """A store whose genes are every gene the bundled OmniPath file names."""
    table = load_ground_truth(BUNDLED_OMNIPATH)
    names = pc.unique(
        pa.concat_arrays([table["regulator"].combine_chunks(), table["target"].combine_chunks()])
    )
    store = Store(tmp_path_factory.mktemp("omnipath"))
    store.init()
    with store.new_release() as w:
        w.upsert_genes(pa.table({"ensembl_id": names, "organism": ["NCBITaxon:9606"] * len(names)}))
    return store


def test_cli_loads_the_bundled_splits_with_their_signs(omnipath_store):
    result = CliRunner().invoke(app, ["store", "load-priors", "--bundled", "--db", str(omnipath_store.root)])
    assert result.exit_code == 0, result.output
    with omnipath_store.open_reader() as r:
        counts = dict(r.con.execute("SELECT name, n_edges FROM prior_sources").fetchall())
        for name, split in BUNDLED_SPLITS.items():
            truth = load_ground_truth(BUNDLED_OMNIPATH, sources=split)
            truth = truth.filter(pc.not_equal(truth["regulator"], truth["target"]))  # self-edges dropped
            assert counts[name] == truth.num_rows  # every gene is known and pairs are distinct
            up = np.asarray(truth["is_stimulation"]) & ~np.asarray(truth["is_inhibition"])
            n_up = r.con.execute(
                "SELECT count(*) FROM prior_edges p JOIN prior_sources s ON s.id = p.source_id"
                " WHERE s.name = ? AND p.sign = 1",
                [name],
            ).fetchall()[0][0]
            assert n_up == int(up.sum())
        assert queries.store_info(r.con).n_genes > 10_000
    assert "CollecTRI: 36,966 edges stored from 36,975 rows" in result.output


def flat(output: str) -> str:
    """CLI output without the error box's borders and line wrapping."""
    return " ".join(output.replace("│", " ").split())


def test_cli_tsv_and_its_mistakes(tmp_path):
    store = _store_with_genes(tmp_path)
    path = write(tmp_path, "regulator\ttarget\tsign\nG1\tG2\t-\nG3\tNOPE\t+\n")
    run = CliRunner().invoke
    result = run(app, ["store", "load-priors", "--db", str(store.root), "--tsv", str(path), "--name", "lab"])
    assert result.exit_code == 0, result.output
    assert "lab: 1 edges stored from 2 rows (1 name a gene unknown to the store" in result.output
    for args, message in (
        (["--tsv", str(path)], "--tsv needs --name"),
        ([], "give either --bundled or --tsv"),
        (["--tsv", str(tmp_path / "none.tsv"), "--name", "x"], "prior file not found"),
    ):
        result = run(app, ["store", "load-priors", "--db", str(store.root), *args])
        assert result.exit_code == 2 and message in flat(result.output) and "Traceback" not in result.output
    bad = write(tmp_path, "regulator\ttarget\tsign\nG1\tG2\tmaybe\n", "bad.tsv")
    result = run(app, ["store", "load-priors", "--db", str(store.root), "--tsv", str(bad), "--name", "x"])
    assert result.exit_code == 2 and "line 2: sign 'maybe'" in flat(result.output)


def test_cli_rescore_scores_networks_added_after_the_priors(tmp_path):
    built = build_prior_store(tmp_path / "store")
    path = tmp_path / "prior.tsv"
    lines = [
        f"{r}\t{t}"
        for r, t in zip(built.prior["regulator"].to_pylist(), built.prior["target"].to_pylist(), strict=True)
    ]
    path.write_text("regulator\ttarget\n" + "\n".join(lines) + "\n")
    run = CliRunner().invoke
    result = run(app, ["store", "load-priors", "--db", str(built.root), "--tsv", str(path), "--name", "lab"])
    assert result.exit_code == 0 and "re-scored 3 networks" in result.output
    with Store(built.root).new_release() as w:
        w.con.execute("DELETE FROM network_quality")
    result = run(app, ["store", "rescore", "--db", str(built.root)])
    assert result.exit_code == 0 and "re-scored 3 networks" in result.output
    with Store(built.root).open_reader() as r:
        assert r.con.execute("SELECT count(*), count(epr) FROM network_quality").fetchall()[0] == (6, 4)
