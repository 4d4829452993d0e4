"""Fixtures of the store tests: a small synthetic atlas with a gene-set collection, built once per session."""

import numpy as np
import pandas as pd
import pytest

from schema import Store
from schema.genesets import GmtSet
from schema.synthetic import build_synthetic_atlas

N_NETWORKS, N_EDGES, N_GENES = 14, 600, 120


@pytest.fixture(scope="session")
def atlas_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas")
    build_synthetic_atlas(
        root, n_networks=N_NETWORKS, n_edges=N_EDGES, n_genes=N_GENES, networks_per_dataset=5
    )
    rng = np.random.default_rng(7)
    sets = [
        GmtSet(
            f"SET_{i}", f"set {i}", tuple(f"G{g}" for g in rng.choice(N_GENES, size=8 + 3 * i, replace=False))
        )
        for i in range(12)
    ]
    sets.append(
        GmtSet("SET_WITH_UNKNOWN", "has unknown genes", ("G1", "G2", "G3", "G4", "G5", "NOPE1", "NOPE2"))
    )
    with Store(root).new_release(note="gene sets") as w:
        w.load_gene_sets("test sets", sets, source="tests", license="CC0")
    return root


@pytest.fixture
def reader(atlas_root):
    with Store(atlas_root).open_reader() as r:
        yield r


@pytest.fixture(scope="session")
def frames(atlas_root):
    """Every table of the atlas as pandas frames, for brute-force reference answers."""
    with Store(atlas_root).open_reader() as r:
        return {
            t: r.con.execute(f"SELECT * FROM {t}").df()
            for t in (
                "edges",
                "edges_by_target",
                "networks",
                "genes",
                "node_stats",
                "gene_sets",
                "gene_set_members",
            )
        }


def edges_with_context(frames) -> pd.DataFrame:
    return frames["edges"].merge(frames["networks"], left_on="network_id", right_on="id")
