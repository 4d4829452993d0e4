"""The TOML config: the documented example parses, paths resolve, mistakes are named."""

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from ingest.columns import ColumnMap
from ingest.config import TABLE_KEYS, extraction_options, load_config, parse_config
from ingest.registry import SOURCE_KINDS
from ingest.sources import H5adSource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sources.toml"


def test_example_config_parses_and_documents_every_option():
    config = load_config(EXAMPLE)
    assert config.store == ROOT / "atlas"
    assert config.checkpoint == ROOT / "weights" / "demo-tiny.pt" and config.checkpoint.is_file()
    assert config.min_cells == 20 and "min_cells" not in config.params
    assert config.network_params["min_cells"] == 20
    assert config.schedule.cron == "0 3 * * *"
    (source,) = config.build_sources()
    assert isinstance(source, H5adSource) and source.path == ROOT / "data" / "demo" and source.name == "demo"


def test_every_option_is_documented_in_the_example():
    text = EXAMPLE.read_text()
    options = {k for keys in TABLE_KEYS.values() for k in keys} - {"sources"}
    options |= {f.name for f in fields(ColumnMap)} | extraction_options()
    undocumented = sorted(
        o for o in options if not re.search(rf"^#? ?{o} = |^\[{o}\]|^#   .*\b{o}\b", text, re.M)
    )
    assert not undocumented, f"options missing from examples/sources.toml: {undocumented}"


def _config(text: str, tmp_path: Path):
    return parse_config(tomllib.loads(text), base=tmp_path)


BASE = '[store]\nroot = "atlas"\n[model]\ncheckpoint = "m.ckpt"\n'


def test_sources_and_columns(tmp_path):
    (tmp_path / "data").mkdir()
    config = _config(
        BASE
        + '[[sources]]\nkind = "h5ad"\npath = "data"\n'
        + '[sources.columns]\ncell_type_col = "ct"\ntissue = "lung"\n'
        + '[[sources]]\nkind = "census"\norganism = "Mus musculus"\ndataset_ids = ["a"]\n',
        tmp_path,
    )
    h5ad, census = config.build_sources()
    assert h5ad.columns.cell_type_col == "ct" and h5ad.columns.tissue == "lung"
    assert census.organism == "mouse" and census.columns.organism == "mouse"
    assert config.store == tmp_path / "atlas" and config.executor.kind == "local" and config.schedule is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[sources]]\nkind = "ftp"\n', "unknown source kind 'ftp'"),
        ('[[sources]]\npath = "x"\n', "needs `kind`"),
        (
            '[[sources]]\nkind = "h5ad"\npath = "x"\n[sources.columns]\ncelltype = "a"\n',
            "unknown column options",
        ),
        ('[model2]\n[[sources]]\nkind = "h5ad"\npath = "."\n', "unknown keys ['model2']"),
        ('[executor]\nkind = "spark"\n[[sources]]\nkind = "h5ad"\npath = "."\n', "unknown executor 'spark'"),
        (
            '[schedule]\ncron = "* * * * *"\ninterval_minutes = 5\n[[sources]]\nkind = "h5ad"\npath = "."\n',
            "exactly one",
        ),
        (
            '[validation]\nmax_unmapped_fraction = 2\n[[sources]]\nkind = "h5ad"\npath = "."\n',
            "max_unmapped_fraction",
        ),
        ("", "no [[sources]]"),
        (
            '[params]\nhead_aggregation = "none"\n[[sources]]\nkind = "h5ad"\npath = "."\n',
            "one weight per edge",
        ),
        (
            '[params]\nn_gene = 5\n[[sources]]\nkind = "h5ad"\npath = "."\n',
            "unknown keys ['n_gene'] in [params]",
        ),
    ],
)
def test_mistakes_are_named(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        _config(BASE + extra, tmp_path)


def test_bad_source_options_fail_when_built(tmp_path):
    config = _config(BASE + '[[sources]]\nkind = "lamindb"\ncollection = "c"\nkey_prefix = "k"\n', tmp_path)
    with pytest.raises(ValueError, match="exactly one of collection or key_prefix"):
        config.build_sources()
    config = _config(BASE + '[[sources]]\nkind = "h5ad"\npath = "missing"\n', tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        config.build_sources()


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[store\n")
    with pytest.raises(ValueError, match=r"bad\.toml is not valid TOML"):
        load_config(path)
    with pytest.raises(ValueError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_params_heads_file_is_read_and_hashed_by_content(tmp_path):
    from schema import params_hash
    from scprint_graph.grn_params import GrnParams, write_heads_file

    write_heads_file(tmp_path / "heads.json", [(1, 0)], prior="dorothea", held_out={"selected": {"epr": 2.0}})
    text = BASE + '[params]\nheads = "heads.json"\n[[sources]]\nkind = "h5ad"\npath = "."\n'
    config = _config(text, tmp_path)
    grn = GrnParams.from_dict(config.params)  # what ModelWorker builds
    assert grn.heads == ((1, 0),) and grn.heads_selection["prior"] == "dorothea"
    before = params_hash(config.network_params)
    write_heads_file(tmp_path / "heads.json", [(1, 1)], prior="dorothea")
    assert params_hash(_config(text, tmp_path).network_params) != before
    with pytest.raises(ValueError, match="heads file not found"):
        _config(text.replace("heads.json", "nope.json"), tmp_path)


def test_one_name_per_source_kind_in_config_store_and_api(tmp_path, fake_census):
    """The kind a config names is the `source` a dataset is stored with and the value the API describes."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.h5ad").write_bytes(b"")  # listing reads no cell
    config = _config(
        BASE
        + '[[sources]]\nkind = "h5ad"\npath = "data"\n[[sources]]\nkind = "census"\ndataset_ids = ["ds-a"]\n',
        tmp_path,
    )
    for spec in config.sources:
        (dataset, *_) = spec.build(config.base, census_module=fake_census).datasets()
        assert dataset.source == spec.kind == SOURCE_KINDS[spec.kind].name
    from server.types.provenance import Dataset as ApiDataset

    description = next(
        f for f in ApiDataset.__strawberry_definition__.fields if f.name == "source"
    ).description
    named = re.findall(r"'(\w+)'", description)
    assert named and set(named) <= set(SOURCE_KINDS)  # no other name (it once said 'cellxgene')
