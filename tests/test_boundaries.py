"""The package boundaries of DESIGN.md: what each package may import."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scprint_graph", "schema", "ingest", "server", "cli")

# Third-party roots each package may import (besides the standard library and itself).
ALLOWED = {
    "scprint_graph": {
        "torch",
        "numpy",
        "scipy",
        "anndata",
        "pyarrow",
        "tqdm",
        "pandas",
        "h5py",
        "cellxgene_ontology_guide",
    },
    "schema": {
        "sqlalchemy",
        "duckdb",
        "duckdb_engine",
        "pyarrow",
        "numpy",
        "scipy",
        "networkx",
        "pandas",
        "filelock",
    },
    "ingest": {
        "scprint_graph",
        "schema",
        "anndata",
        "lamindb",
        "cellxgene_census",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "torch",
        "tqdm",
        "apscheduler",
        "filelock",
        "ray",
        "h5py",
    },
    "server": {
        "schema",
        "strawberry",
        "starlette",
        "uvicorn",
        "graphql",
        "networkx",
        "anyio",
        "pyarrow",
        "numpy",
    },
    "cli": None,  # the command may import everything
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", [p for p in PACKAGES if ALLOWED[p] is not None])
def test_package_imports_only_what_design_allows(package):
    allowed = ALLOWED[package] | {package} | set(sys.stdlib_module_names)
    offences = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_roots(path) - allowed
        if bad:
            offences[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offences, f"imports outside the boundaries of DESIGN.md: {offences}"


def test_server_never_imports_torch_or_anndata():
    for path in (ROOT / "server").rglob("*.py"):
        roots = imported_roots(path)
        assert not roots & {"torch", "anndata", "scprint_graph", "ingest"}, path
