"""DESIGN.md's rules, read from DESIGN.md itself: what each package may import, the AnnData data layer, the
read-only server and the size of a module."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "DESIGN.md"
PACKAGES = ("scprint_graph", "schema", "ingest", "server", "cli")
MAX_LINES = 600

# What the server may never touch: schema's writing modules and methods (DESIGN.md, "never writes").
WRITING_MODULES = {"schema.writer", "schema.edgeload", "schema.priors", "schema.genesets"}
WRITING_NAMES = {
    "ReleaseWriter",
    "EdgeLoad",
    "new_release",
    "publish",
    "rollback",
    "prune",
    "writer_lock",
    "load_priors",
    "delete_source",
    "load_gene_sets",
    "write_quality",
    "score_network",
    "rescore_release",
}


def design_allowances() -> dict[str, set[str] | None]:
    """The 'may import' column of DESIGN.md's package table (None: everything)."""
    text = DESIGN.read_text()
    table = text[text.index("## Packages and what each may import") :]
    allowed: dict[str, set[str] | None] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            if allowed:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)/?`", cells[0])
        if not match:
            continue
        names = cells[2]
        allowed[match.group(1)] = None if names == "all" else {n.strip() for n in names.split(",")}
    return allowed


def design_data_layer() -> set[str]:
    """The scprint_graph modules DESIGN.md names as the data layer (the only ones that may import anndata)."""
    text = DESIGN.read_text()
    passage = text[text.index("The data layer is exactly:") : text.index("The boundary test refuses")]
    return set(re.findall(r"`((?:v2/)?\w+\.py)`", passage))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


ALLOWED = design_allowances()


def test_design_table_names_every_package():
    assert set(ALLOWED) == set(PACKAGES)


@pytest.mark.parametrize("package", [p for p in PACKAGES if ALLOWED.get(p) is not None])
def test_package_imports_exactly_what_design_allows(package):
    stdlib = set(sys.stdlib_module_names)
    used: set[str] = set()
    offences = {}
    for path in package_files(package):
        third_party = roots(imported_modules(path)) - stdlib - {package}
        used |= third_party
        bad = third_party - ALLOWED[package]
        if bad:
            offences[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offences, f"imports outside the boundaries of DESIGN.md: {offences}"
    unused = ALLOWED[package] - used
    assert not unused, (
        f"DESIGN.md allows {package} imports no module uses (narrow the table): {sorted(unused)}"
    )


def test_only_the_data_layer_imports_anndata():
    data_layer = design_data_layer()
    assert {"cells.py", "grn.py"} <= data_layer  # the passage was found and read
    package = ROOT / "scprint_graph"
    offenders = [
        str(path.relative_to(package))
        for path in package_files("scprint_graph")
        if "anndata" in roots(imported_modules(path)) and str(path.relative_to(package)) not in data_layer
    ]
    assert not offenders, f"AnnData outside the data layer of DESIGN.md: {offenders}"


def test_server_never_imports_the_model_side():
    for path in package_files("server"):
        assert not roots(imported_modules(path)) & {"torch", "anndata", "scprint_graph", "ingest"}, path


def write_offences(path: Path) -> list[str]:
    """Writing modules a file imports and writing names it mentions."""
    modules = imported_modules(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {m.rsplit(".", 1)[-1] for m in modules if m.startswith("schema")}
    return sorted(modules & WRITING_MODULES) + sorted(names & WRITING_NAMES)


def test_server_never_writes():
    offences = {str(p.relative_to(ROOT)): bad for p in package_files("server") if (bad := write_offences(p))}
    assert not offences, f"the server must never write (DESIGN.md): {offences}"


def test_readers_read_every_result_to_its_end():
    """``fetchone()`` leaves a DuckDB result unread, and the connection then refuses ``con.sql()`` and
    ``register()`` (tests/schema/test_queries.py shows the failure): schema and server read with
    ``fetchall()`` or ``fetchnumpy()``."""

    def calls_fetchone(path: Path) -> bool:
        tree = ast.parse(path.read_text())
        return any(isinstance(n, ast.Attribute) and n.attr == "fetchone" for n in ast.walk(tree))

    files = [p for package in ("schema", "server") for p in package_files(package)]
    offences = [str(p.relative_to(ROOT)) for p in files if calls_fetchone(p)]
    assert not offences, f"fetchone() leaves the connection busy: {offences}"


def test_the_write_check_sees_a_writer_import_and_a_publish_call(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("from schema.writer import ReleaseWriter\n\ndef f(store):\n    store.publish('x')\n")
    assert write_offences(sample) == ["schema.writer", "ReleaseWriter", "publish"]
    (tmp_path / "good.py").write_text("from schema.queries import networks\n\ndef f(con):\n    return con\n")
    assert write_offences(tmp_path / "good.py") == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_the_size_design_allows(package):
    long = {
        str(path.relative_to(ROOT)): n
        for path in package_files(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (DESIGN.md): {long}"
