"""Fixtures for the scprint_graph tests: a tiny config with one hierarchical label class, a random batch."""

import pytest
import torch

from scprint_graph import keys
from scprint_graph.config import LabelClass, ModelConfig
from scprint_graph.model import ScPrintModel

N_GENES = 60


@pytest.fixture
def label_classes():
    cell_type = LabelClass.from_hierarchy(
        "cell_type", ["T cell", "B cell", "monocyte", "neuron"], {"lymphocyte": ["T cell", "B cell"]}
    )
    disease = LabelClass(name="disease", leaves=("normal", "COVID-19"))
    return (cell_type, disease)


@pytest.fixture
def tiny_config(label_classes):
    return ModelConfig.preset("tiny", n_genes=N_GENES, max_len=32, classes=label_classes, dropout=0.0)


@pytest.fixture
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return ScPrintModel(tiny_config, gene_locations=torch.arange(N_GENES) * 7).eval()


def make_batch(n_cells: int = 4, n_ctx: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    genes = torch.stack([torch.randperm(N_GENES, generator=generator)[:n_ctx] for _ in range(n_cells)])
    expression = torch.poisson(torch.rand(n_cells, n_ctx, generator=generator) * 4, generator=generator)
    return {
        keys.GENES: genes,
        keys.EXPRESSION: expression,
        keys.DEPTH: expression.sum(1) * 3 + 10,
        keys.LABELS: torch.tensor([[0, 1], [4, 0], [-1, -1], [3, -1]])[:n_cells],
    }


@pytest.fixture
def batch():
    return make_batch()


# --- synthetic AnnData (data layer; see tests/scprint_graph/synthetic.py) -------------------------------
from scprint_graph.genes import GeneVocabulary  # noqa: E402
from tests.scprint_graph.synthetic import synthetic_adata  # noqa: E402


@pytest.fixture(scope="session")
def human_vocab() -> GeneVocabulary:
    """All human reference genes (GENCODE 48)."""
    return GeneVocabulary.load(organisms=("human",))


@pytest.fixture
def adata(human_vocab):
    """60 cells x 200 real human genes, CSR raw counts, CELLxGENE-style obs (a fresh copy per test)."""
    return synthetic_adata(vocab=human_vocab)


@pytest.fixture
def adata_h5ad(adata, tmp_path):
    """The synthetic AnnData written to an .h5ad file (CSR X); returns the path."""
    path = tmp_path / "synthetic.h5ad"
    adata.write_h5ad(path)
    return path
