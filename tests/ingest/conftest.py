"""Fixtures for the ingestion tests: synthetic raw-count datasets, a tiny random checkpoint, a local lamindb
instance in a temporary folder, and a Census-shaped module backed by in-memory AnnData."""

import os
from contextlib import contextmanager
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from scprint_graph.checkpoint import save_checkpoint
from scprint_graph.config import ModelConfig
from scprint_graph.genes import GeneVocabulary
from scprint_graph.model import ScPrintModel
from tests.scprint_graph.synthetic import synthetic_adata

N_CELLS = 240  # 12 labelled groups of ~20 cells, plus 3 "unknown" cells


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny model's ops are microseconds: on a shared 2-core machine, intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def vocab() -> GeneVocabulary:
    return GeneVocabulary.load(organisms=("human",))


@pytest.fixture(scope="session")
def make_adata(vocab):
    """``make_adata(seed=0, n_cells=N_CELLS)``: a fresh CELLxGENE-style raw-count AnnData (same 200 genes)."""

    def make(seed: int = 0, n_cells: int = N_CELLS) -> ad.AnnData:
        adata = synthetic_adata(n_cells=n_cells, vocab=vocab)
        if seed:  # same genes and labels, different counts
            rng = np.random.default_rng(seed)
            adata.X = adata.X.copy()
            adata.X.data = rng.poisson(adata.X.data + 1).astype(np.float32)
        return adata

    return make


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, vocab, make_adata) -> Path:
    """A tiny random-initialised model over the synthetic genes (plus the next 56 reference genes)."""
    genes = list(make_adata().var_names)
    extra = [g for g in vocab.ensembl_ids[:400] if g not in set(genes)][:56]
    genes = genes + extra
    config = ModelConfig.preset("tiny", n_genes=len(genes), max_len=64, dropout=0.0)
    torch.manual_seed(0)
    sub = vocab.subset(vocab.index_of(genes))
    model = ScPrintModel(config, gene_locations=torch.from_numpy(sub.location_index())).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", model, genes)


@contextmanager
def _environ(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def lamin_instance(tmp_path_factory, make_adata):
    """A real lamindb instance (sqlite, local storage) in a temporary folder, made offline once per session.

    Settings go to the temporary folder (LAMIN_SETTINGS_DIR, HOME), and the instance marker lamindb writes
    into the working directory lands there too. Holds a collection ``demo`` of two h5ad artifacts and an
    artifact under the key prefix ``loose/``.
    """
    root = tmp_path_factory.mktemp("lamin")
    (root / "home").mkdir()
    (root / "work").mkdir()
    cwd = Path.cwd()
    with _environ(LAMIN_SETTINGS_DIR=str(root / "settings"), HOME=str(root / "home")):
        os.chdir(root / "work")
        try:
            import lamindb_setup

            lamindb_setup.init(storage=str(root / "storage"))
            import lamindb as ln

            artifacts = []
            for i, name in enumerate(("one", "two")):
                path = root / "storage" / f"{name}.h5ad"  # inside the storage root: no hub lookup
                make_adata(seed=i).write_h5ad(path)
                artifacts.append(ln.Artifact(str(path), key=f"demo/{name}.h5ad", description=name).save())
            ln.Collection(artifacts, key="demo").save()
            loose = root / "storage" / "loose.h5ad"
            make_adata(seed=5).write_h5ad(loose)
            ln.Artifact(str(loose), key="loose/three.h5ad").save()
        finally:
            os.chdir(cwd)
    # The instance stays loaded in this process; the environment is restored for the other tests.
    return {"root": root, "artifacts": artifacts}


class _Read:
    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def read(self):
        return self

    def concat(self) -> pa.Table:
        return self.table


class FakeCensus:
    """A Census-shaped module: ``open_soma``, ``get_obs``, ``get_anndata`` over in-memory datasets.

    Filters support the SOMA value-filter subset the source writes (``col == 'x'`` joined by ``and``,
    with parentheses). Every call is recorded in ``calls``.
    """

    def __init__(self, datasets: dict[str, tuple[str, ad.AnnData]]) -> None:
        self.datasets = datasets  # dataset_id -> (dataset_version_id, AnnData with raw counts)
        self.calls: list[tuple] = []

    @contextmanager
    def open_soma(self, *, census_version: str):
        self.calls.append(("open_soma", census_version))
        table = pa.table(
            {
                "dataset_id": list(self.datasets),
                "dataset_version_id": [v for v, _ in self.datasets.values()],
                "dataset_title": [f"title of {i}" for i in self.datasets],
                "collection_name": ["fake collection"] * len(self.datasets),
            }
        )
        yield {"census_info": {"datasets": _Read(table)}}

    def _obs(self) -> pd.DataFrame:
        frames = []
        for dataset_id, (_, adata) in self.datasets.items():
            obs = adata.obs.copy()
            obs["dataset_id"] = dataset_id
            frames.append(obs.astype(str))
        return pd.concat(frames)

    @staticmethod
    def _mask(obs: pd.DataFrame, value_filter: str) -> np.ndarray:
        mask = np.ones(len(obs), dtype=bool)
        for clause in value_filter.replace("(", " ").replace(")", " ").split(" and "):
            column, value = (part.strip().strip("'") for part in clause.split("=="))
            mask &= (obs[column] == value).to_numpy()
        return mask

    def get_obs(self, census, organism, *, value_filter=None, column_names=None) -> pd.DataFrame:
        self.calls.append(("get_obs", organism, value_filter))
        obs = self._obs()
        obs = obs[self._mask(obs, value_filter)] if value_filter else obs
        return obs[list(column_names)] if column_names else obs

    def get_anndata(self, census, organism, *, X_name, obs_value_filter, obs_column_names, var_column_names):
        self.calls.append(("get_anndata", organism, obs_value_filter, X_name))
        obs = self._obs()
        keep = self._mask(obs, obs_value_filter)
        dataset_id = obs["dataset_id"][keep].iloc[0]
        adata = self.datasets[dataset_id][1]
        rows = keep[obs["dataset_id"].to_numpy() == dataset_id]
        sub = adata[rows].copy()
        var = pd.DataFrame(
            {"feature_id": sub.var_names.to_numpy(), "feature_name": sub.var["feature_name"].to_numpy()},
            index=pd.Index([str(i) for i in range(sub.n_vars)]),  # the Census indexes var by soma_joinid
        )
        return ad.AnnData(X=sub.X, obs=sub.obs.assign(dataset_id=dataset_id), var=var)


@pytest.fixture
def fake_census(make_adata):
    return FakeCensus({"ds-a": ("v1", make_adata(seed=0)), "ds-b": ("v7", make_adata(seed=3))})
