"""Sources list datasets with stable ids and versions: local files, a real local lamindb instance, a
Census-shaped module."""

import anndata as ad
import numpy as np
import pytest

from ingest.census import CensusSource, census_module
from ingest.columns import ColumnMap
from ingest.lamin import LaminSource
from ingest.readable import UnreadableFile
from ingest.sources import Dataset, H5adSource
from scprint_graph.checkpoint import file_sha256


def test_h5ad_folder_ids_are_stable_and_versions_follow_content(make_adata, tmp_path):
    (tmp_path / "sub").mkdir()
    make_adata(seed=0).write_h5ad(tmp_path / "a.h5ad")
    make_adata(seed=1).write_h5ad(tmp_path / "sub" / "b.h5ad")
    (tmp_path / "notes.txt").write_text("not a dataset")
    source = H5adSource(tmp_path, name="lab", columns=ColumnMap(tissue="lung"))
    first = {d.source_id: d for d in source.datasets()}
    assert sorted(first) == ["lab/a.h5ad", "lab/sub/b.h5ad"]
    a = first["lab/a.h5ad"]
    assert a.key == "h5ad:lab/a.h5ad" and a.version == file_sha256(tmp_path / "a.h5ad") == a.content_hash
    assert a.columns.tissue == "lung"
    with a.open() as adata:
        assert adata.isbacked and adata.n_obs == 240
    assert not adata.file.is_open  # closed on exit
    make_adata(seed=2).write_h5ad(tmp_path / "a.h5ad")
    second = {d.source_id: d for d in H5adSource(tmp_path, name="lab").datasets()}
    assert second["lab/a.h5ad"].version != a.version
    assert second["lab/sub/b.h5ad"].version == first["lab/sub/b.h5ad"].version
    # a single file is a source too
    (single,) = H5adSource(tmp_path / "sub" / "b.h5ad").datasets()
    assert single.source_id == "sub/b.h5ad"


def test_h5ad_source_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        H5adSource(tmp_path / "missing")
    ad.AnnData(np.ones((2, 2), dtype=np.float32)).write_h5ad(tmp_path / "x.hdf5")
    with pytest.raises(ValueError, match=r"must end in \.h5ad"):
        H5adSource(tmp_path / "x.hdf5")
    (tmp_path / "x.csv").write_text("gene,count\n")  # what the file is comes before its suffix
    with pytest.raises(UnreadableFile, match=r"x\.csv is a text file, not HDF5 \(it starts with 'gene,count"):
        H5adSource(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableFile, match=r"empty holds no file matching '\*\.h5ad'"):
        list(H5adSource(tmp_path / "empty").datasets())
    with pytest.raises(ValueError, match="source_id must be non-empty"):
        Dataset(source="h5ad", source_id="", version="1", title="t")


def test_lamindb_collection_and_key_prefix(lamin_instance):
    one, two = lamin_instance["artifacts"]
    datasets = list(LaminSource(collection="demo").datasets())
    assert [d.source_id for d in datasets] == [f"default/{one.uid[:16]}", f"default/{two.uid[:16]}"]
    assert [d.version for d in datasets] == [one.hash, two.hash]
    assert [d.title for d in datasets] == ["one", "two"] and datasets[0].collection == "demo"
    assert {d.source for d in datasets} == {"lamindb"}
    with datasets[1].open() as adata:
        assert adata.isbacked and adata.n_obs == 240
        np.testing.assert_array_equal(adata.X[:5].toarray(), ad.read_h5ad(two.cache()).X[:5].toarray())
    (loose,) = LaminSource(key_prefix="loose/").datasets()
    assert loose.title == "loose/three.h5ad"
    with pytest.raises(ValueError, match="no lamindb collection with key or uid 'nope'"):
        list(LaminSource(collection="nope").datasets())


def test_census_by_filter_and_by_ids(fake_census):
    source = CensusSource(census_version="2025-01-30", obs_filter="tissue == 'lung'", module=fake_census)
    datasets = list(source.datasets())
    assert [d.source_id for d in datasets] == ["ds-a", "ds-b"]
    assert datasets[0].version.startswith("v1+filter:") and datasets[1].version.startswith("v7+filter:")
    assert datasets[0].collection == "fake collection" and datasets[0].columns.organism == "human"
    with datasets[1].open() as adata:
        assert adata.n_obs == 120 and set(adata.obs["tissue"]) == {"lung"}
        assert adata.var_names[0].startswith("ENSG")  # feature_id, not the soma_joinid index
    assert fake_census.calls[-1] == (
        "get_anndata",
        "Homo sapiens",
        "dataset_id == 'ds-b' and (tissue == 'lung')",
        "raw",
    )
    # by ids: whole datasets, version = dataset_version_id
    (b,) = CensusSource(dataset_ids=["ds-b"], module=fake_census).datasets()
    assert b.version == "v7"
    with b.open() as adata:
        assert adata.n_obs == 240
    # a filter that changes changes the version (networks see other cells)
    (other,) = CensusSource(
        dataset_ids=["ds-b"], obs_filter="tissue == 'blood'", module=fake_census
    ).datasets()
    assert other.version != datasets[1].version
    with pytest.raises(ValueError, match=r"not in Census stable: \['ds-z'\]"):
        list(CensusSource(dataset_ids=["ds-z"], module=fake_census).datasets())
    with pytest.raises(ValueError, match="obs_filter or dataset_ids"):
        CensusSource(module=fake_census)


def test_census_module_missing_is_a_clear_error():
    try:
        import cellxgene_census  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"scprint-graph\[census\]"):
            census_module()
    else:  # pragma: no cover - the extra is installed
        assert census_module() is not None
