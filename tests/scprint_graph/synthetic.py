"""A tiny CELLxGENE-like AnnData with raw counts, for tests across packages.

``synthetic_adata()`` is deterministic: 60 cells x 200 human protein-coding genes (real Ensembl ids from the
vocabulary, var indexed by id with ``feature_name`` symbols), CSR float32 integer counts drawn from a
negative binomial whose means depend on the cell type (each type has 20 marker genes at 8x), obs columns
cell_type / tissue / disease / organism / assay with their ``*_ontology_term_id`` columns. A few cells have
``"unknown"`` cell type. Import it anywhere (``from tests.scprint_graph.synthetic import synthetic_adata``);
the scprint_graph conftest wraps it in fixtures.
"""

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scprint_graph.genes import GeneVocabulary

CELL_TYPES = {"T cell": "CL:0000084", "B cell": "CL:0000236", "monocyte": "CL:0000576"}
TISSUES = {"blood": "UBERON:0000178", "lung": "UBERON:0002048"}
DISEASES = {"normal": "PATO:0000461", "COVID-19": "MONDO:0100096"}
ORGANISM = ("Homo sapiens", "NCBITaxon:9606")
ASSAY = ("10x 3' v3", "EFO:0009922")
N_MARKERS = 20


def synthetic_genes(
    n_genes: int = 200, *, seed: int = 0, vocab: GeneVocabulary | None = None
) -> pd.DataFrame:
    """``n_genes`` random human protein-coding genes (ensembl_id, symbol), in reference order."""
    vocab = vocab or GeneVocabulary.load(organisms=("human",), biotypes=("protein_coding",))
    coding = np.flatnonzero((vocab.biotype == "protein_coding") & (vocab.organism == "human"))
    pick = np.sort(np.random.default_rng(seed).choice(coding, n_genes, replace=False))
    return pd.DataFrame({"ensembl_id": vocab.ensembl_ids[pick], "symbol": vocab.symbols[pick]})


def synthetic_adata(
    n_cells: int = 60,
    n_genes: int = 200,
    *,
    seed: int = 0,
    n_unknown_cell_type: int = 3,
    vocab: GeneVocabulary | None = None,
) -> ad.AnnData:
    """The tiny raw-count AnnData described in the module docstring."""
    rng = np.random.default_rng(seed)
    genes = synthetic_genes(n_genes, seed=seed, vocab=vocab)
    type_names = list(CELL_TYPES)
    cell_type = np.array([type_names[i % len(type_names)] for i in range(n_cells)], dtype=object)
    base = rng.gamma(0.6, 1.5, size=n_genes)  # per-gene mean expression
    means = np.tile(base, (n_cells, 1))  # (cells, genes)
    for t in range(len(type_names)):
        markers = np.arange(t * N_MARKERS, (t + 1) * N_MARKERS) % n_genes
        rows = np.flatnonzero(cell_type == type_names[t])
        means[np.ix_(rows, markers)] *= 8.0
    means *= rng.lognormal(0.0, 0.3, size=(n_cells, 1))  # library-size variation
    dispersion = 2.0
    counts = rng.negative_binomial(dispersion, dispersion / (dispersion + means)).astype(np.float32)
    cell_type[rng.choice(n_cells, n_unknown_cell_type, replace=False)] = "unknown"
    tissue = np.where(np.arange(n_cells) % 2 == 0, "blood", "lung")
    disease = np.where(np.arange(n_cells) < n_cells // 2, "normal", "COVID-19")
    obs = pd.DataFrame(
        {
            "cell_type": cell_type,
            "cell_type_ontology_term_id": [CELL_TYPES.get(c, "unknown") for c in cell_type],
            "tissue": tissue,
            "tissue_ontology_term_id": [TISSUES[t] for t in tissue],
            "disease": disease,
            "disease_ontology_term_id": [DISEASES[d] for d in disease],
            "organism": ORGANISM[0],
            "organism_ontology_term_id": ORGANISM[1],
            "assay": ASSAY[0],
            "assay_ontology_term_id": ASSAY[1],
        },
        index=pd.Index([f"cell{i:03d}" for i in range(n_cells)], name="cell_id"),
    )
    for column in obs.columns:
        obs[column] = obs[column].astype("category")
    var = pd.DataFrame(
        {"feature_name": genes["symbol"].to_numpy()},
        index=pd.Index(genes["ensembl_id"].to_numpy(), name="ensembl_id"),
    )
    return ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
