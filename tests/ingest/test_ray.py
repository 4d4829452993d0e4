"""The Ray executor (a local Ray instance) gives the same networks as the local executor (~25 s)."""

import numpy as np

from ingest.config import ExecutorSpec
from ingest.pipeline import run_ingest
from schema import Store
from tests.ingest.test_pipeline import h5ad_source, make_config

try:
    import ray  # noqa: F401
except ImportError as err:  # installed by `make install` (the ray extra): a missing Ray is a failure
    msg = "the Ray executor test needs ray: pip install 'scprint-graph[ray]' (make install does)"
    raise ImportError(msg) from err


def edges(store: Store):
    with store.open_reader() as reader:
        return reader.con.execute(
            "SELECT n.tissue, n.disease, n.cell_type, e.regulator_id, e.target_id, e.weight FROM edges e"
            " JOIN networks n ON n.id = e.network_id ORDER BY ALL"
        ).fetchall()


def test_ray_executor_matches_local(tmp_path, checkpoint, make_adata):
    data = tmp_path / "data"
    data.mkdir()
    make_adata(seed=0).write_h5ad(data / "a.h5ad")
    local = make_config(tmp_path / "local", checkpoint, h5ad_source(data))
    on_ray = make_config(tmp_path / "ray", checkpoint, h5ad_source(data))
    on_ray = type(on_ray)(
        **{**on_ray.__dict__, "executor": ExecutorSpec(kind="ray", actors=2, gpus_per_actor=0)}
    )
    first = run_ingest(local, progress=False)
    second = run_ingest(on_ray, progress=False)
    assert first.counts()["added"] == second.counts()["added"] == 1
    assert second.outcomes[0].n_networks == 12
    here, there = edges(Store(local.store)), edges(Store(on_ray.store))
    assert [row[:5] for row in here] == [row[:5] for row in there] and here
    np.testing.assert_allclose([row[5] for row in here], [row[5] for row in there], rtol=1e-5)
