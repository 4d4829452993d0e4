"""Known regulator -> target edges to select heads against: the shipped OmniPath ground truth (all, its
CollecTRI or DoRothEA part) or a user's TSV.

A user TSV has one edge per line: ``regulator``, ``target``, then optionally ``sign`` (+1 / -1 / 0, or
``activation`` / ``repression``) and ``source``; a first line starting with ``regulator`` is a header.
Genes are Ensembl ids or symbols (mapped by the caller onto the model's vocabulary).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa

from scprint_graph.grn_metrics import load_ground_truth

GROUND_TRUTH = (
    Path(__file__).resolve().parents[1] / "data" / "ground_truth" / "omnipath_transcriptional.parquet"
)
# name -> OmniPath resources to keep (None: all transcriptional edges)
BUILTIN_PRIORS: dict[str, list[str] | None] = {
    "omnipath": None,
    "collectri": ["CollecTRI"],
    "dorothea": ["DoRothEA"],
}
SIGNS = {"+1": 1, "1": 1, "+": 1, "activation": 1, "-1": -1, "-": -1, "repression": -1, "0": 0, "": 0}
PRIOR_SCHEMA = pa.schema(
    [("regulator", pa.string()), ("target", pa.string()), ("sign", pa.int8()), ("source", pa.string())]
)


def load_prior(spec: str | Path) -> pa.Table:
    """Edges of a built-in prior (``omnipath``, ``collectri``, ``dorothea``) or of a TSV file.

    Returns
    -------
    pyarrow.Table
        ``regulator``, ``target`` (as written), ``sign`` (int8: 1, -1, 0 unknown), ``source``.
    """
    name = str(spec).lower()
    if name in BUILTIN_PRIORS:
        if not GROUND_TRUTH.is_file():
            msg = f"the shipped ground truth {GROUND_TRUTH} is missing (see data/ground_truth/README.md)"
            raise ValueError(msg)
        table = load_ground_truth(GROUND_TRUTH, sources=BUILTIN_PRIORS[name])
        stim = table.column("is_stimulation").to_pylist()
        inhib = table.column("is_inhibition").to_pylist()
        signs = [1 if s and not i else -1 if i and not s else 0 for s, i in zip(stim, inhib, strict=True)]
        return pa.table(
            {
                "regulator": table.column("regulator"),
                "target": table.column("target"),
                "sign": pa.array(signs, pa.int8()),
                "source": pa.array([name] * table.num_rows, pa.string()),
            },
            schema=PRIOR_SCHEMA,
        )
    path = Path(spec)
    if not path.is_file():
        msg = f"prior must be one of {sorted(BUILTIN_PRIORS)} or a TSV file, got {str(spec)!r} (no such file)"
        raise ValueError(msg)
    return _read_tsv(path)


def _read_tsv(path: Path) -> pa.Table:
    columns: dict[str, list] = {"regulator": [], "target": [], "sign": [], "source": []}
    try:
        with path.open(newline="") as f:
            for number, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
                if (
                    not row
                    or row[0].startswith("#")
                    or (number == 1 and row[0].strip().lower() == "regulator")
                ):
                    continue
                if not 2 <= len(row) <= 4 or not row[0].strip() or not row[1].strip():
                    msg = f"{path}:{number}: expected regulator, target[, sign[, source]] separated by tabs"
                    raise ValueError(msg)
                sign = row[2].strip().lower() if len(row) > 2 else ""
                if sign not in SIGNS:
                    msg = f"{path}:{number}: sign must be +1, -1, 0, activation or repression, got {row[2]!r}"
                    raise ValueError(msg)
                columns["regulator"].append(row[0].strip())
                columns["target"].append(row[1].strip())
                columns["sign"].append(SIGNS[sign])
                columns["source"].append(row[3].strip() if len(row) > 3 and row[3].strip() else path.stem)
    except UnicodeDecodeError as err:
        msg = f"{path} is not a text TSV file ({err.reason})"
        raise ValueError(msg) from err
    if not columns["regulator"]:
        msg = f"{path} holds no edges"
        raise ValueError(msg)
    return pa.table({**columns, "sign": pa.array(columns["sign"], pa.int8())}, schema=PRIOR_SCHEMA)
