"""A battery of malformed inputs, written here: each is refused with one line naming the file and the problem,
the published release stays exactly as it was, and refusing a file that declares a huge matrix allocates
nothing of it."""

import bz2
import gzip
import json
import lzma
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from cli.main import app
from ingest.columns import ColumnMap
from ingest.config import IngestConfig, SourceSpec
from ingest.pipeline import load_if_small, run_ingest
from ingest.readable import inspect_h5ad, open_h5ad
from ingest.validate import ValidationOptions, validate_dataset
from schema import Store
from scprint_graph.checkpoint import file_sha256
from scprint_graph.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
MIN_CELLS = 15


def _good(make_adata) -> ad.AnnData:
    return make_adata()


def _write(adata: ad.AnnData, path: Path) -> Path:
    adata.write_h5ad(path)
    return path


def _edit(make_adata, path: Path, edit: Callable[[h5py.File], None]) -> Path:
    """A good file, then ``edit`` on its HDF5 groups (how damaged files are made)."""
    _write(_good(make_adata), path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _replace(f: h5py.File, name: str, values) -> None:
    del f[name]
    f[name] = values


def _huge_dense(path: Path, n_obs: int, n_vars: int, dtype="f8") -> Path:
    """A tiny file declaring a dense X of ``n_obs x n_vars`` (chunked, compressed, never written)."""
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
        for name, n in (("obs", n_obs), ("var", n_vars)):
            group = f.create_group(name)
            group.attrs.update(
                {"_index": "_index", "encoding-type": "dataframe", "encoding-version": "0.2.0"}
            )
            group.attrs["column-order"] = np.array([], dtype=h5py.string_dtype())
            group.create_dataset(
                "_index", shape=(n,), dtype=h5py.string_dtype(), chunks=True, compression="gzip"
            )
        f.create_dataset("X", shape=(n_obs, n_vars), dtype=dtype, chunks=(256, 256), compression="gzip")
    return path


def _counts(make_adata, path: Path, change: Callable[[np.ndarray], np.ndarray], **obs) -> Path:
    adata = _good(make_adata)
    adata.X = sp.csr_matrix(change(adata.X.toarray()))
    for column, value in obs.items():
        adata.obs[column] = value
    return _write(adata, path)


def _zip(make_adata, path: Path) -> Path:
    inner = _write(_good(make_adata), path.with_suffix(".inner"))
    with zipfile.ZipFile(path, "w") as z:
        z.write(inner, "x.h5ad")
    inner.unlink()
    return path


def _compressed(make_adata, path: Path, opener) -> Path:
    raw = _write(_good(make_adata), path.with_suffix(".raw")).read_bytes()
    path.with_suffix(".raw").unlink()
    with opener(path, "wb") as fh:
        fh.write(raw)
    return path


def _truncated(make_adata, path: Path) -> Path:
    raw = _write(_good(make_adata), path).read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _not_anndata(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f["matrix"] = np.zeros((3, 3))
    return path


def _zarr(make_adata, path: Path) -> Path:
    _good(make_adata).write_zarr(path)
    return path


def _loop(path: Path) -> Path:
    other = path.parent.parent / "other.h5ad"  # outside the folder: one loop in it, not two
    os.symlink(other, path)
    os.symlink(path, other)
    return path


def _single_gene(make_adata, path: Path) -> Path:
    return _write(_good(make_adata)[:, :1].copy(), path)


def _one_gene_with_counts(make_adata, path: Path) -> Path:
    def keep_one(x):
        out = np.zeros_like(x)
        out[:, 0] = 3
        return out

    return _counts(make_adata, path, keep_one)


def _dup_obs(make_adata, path: Path) -> Path:
    adata = _good(make_adata)
    adata.obs_names = ["cell"] * adata.n_obs
    return _write(adata, path)


def _dup_var(make_adata, path: Path) -> Path:
    adata = _good(make_adata)
    names = list(adata.var_names)
    names[1] = names[0]
    adata.var_names = names
    return _write(adata, path)


def _nan(x):
    x[0, 0] = np.nan
    return x


def _inf(x):
    x[1, 1] = np.inf
    return x


def _negative(x):
    x[2, 2] = -4
    return x


def _fraction(x):
    return np.log1p(x)


# name -> (writer(make_adata, path) -> path, expected message)
FILES = {
    "empty": (lambda m, p: (p.write_bytes(b""), p)[1], r"is empty \(0 bytes\)"),
    "text": (lambda m, p: (p.write_text("cell,gene,count\nc1,g1,3\n"), p)[1], "is a text file, not HDF5"),
    "binary": (lambda m, p: (p.write_bytes(bytes(range(256)) * 4), p)[1], "is not an HDF5 file"),
    "gzip": (lambda m, p: _compressed(m, p, gzip.open), "is gzip-compressed: decompress it first"),
    "bzip2": (lambda m, p: _compressed(m, p, bz2.open), "is bzip2-compressed: decompress it first"),
    "xz": (lambda m, p: _compressed(m, p, lzma.open), "is xz-compressed: decompress it first"),
    "zip": (_zip, "is a zip archive: unzip it first"),
    "truncated": (_truncated, "is truncated or damaged HDF5"),
    "hdf5 not anndata": (lambda m, p: _not_anndata(p), "is HDF5 but not AnnData: its root holds matrix"),
    "no obs": (lambda m, p: _edit(m, p, lambda f: f.__delitem__("obs")), "is AnnData without obs"),
    "no var": (lambda m, p: _edit(m, p, lambda f: f.__delitem__("var")), "is AnnData without var"),
    "no X": (lambda m, p: _edit(m, p, lambda f: f.__delitem__("X")), "is AnnData without X"),
    "zarr store": (_zarr, "is a zarr store"),
    "symlink loop": (lambda m, p: _loop(p), "is a symbolic link loop"),
    "broken symlink": (lambda m, p: (os.symlink("gone.h5ad", p), p)[1], "is a broken symbolic link"),
    "huge dense shape": (
        lambda m, p: _huge_dense(p, 2_000_000, 2_000_000),
        r"declares 29\.1 TiB of arrays \(largest X \(2000000x2000000 float64\)\), over the bound of 32\.0 G",
    ),
    "sparse shape not obs x var": (
        lambda m, p: _edit(m, p, lambda f: f["X"].attrs.__setitem__("shape", [10**9, 200])),
        r"sparse X declaring shape \(1000000000, 200\), but obs x var is \(240, 200\)",
    ),
    "indptr too short": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/indptr", f["X/indptr"][:100])),
        "indptr has 100 entries for 240 rows",
    ),
    "indptr decreasing": (
        lambda m, p: _edit(
            m, p, lambda f: _replace(f, "X/indptr", f["X/indptr"][()][[0, 5, *range(2, 241)]])
        ),
        "indptr is not non-decreasing",
    ),
    "indptr end not nnz": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/indptr", np.minimum(f["X/indptr"][()], 100))),
        "indptr ends at 100 but it stores",
    ),
    "indices out of range": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/indices", f["X/indices"][()] + 150)),
        r"index \d+ outside 0\.\.199",
    ),
    "data and indices differ": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/data", f["X/data"][:-3])),
        "values but .* indices",
    ),
    "float indices": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/indices", f["X/indices"][()].astype("f4"))),
        "indices of float32, not integers",
    ),
    "string counts": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/data", f["X/data"][()].astype("S4"))),
        r"has X values of dtype \|S4, not numbers",
    ),
    "bool counts": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "X/data", f["X/data"][()] > 0)),
        "has X values of dtype bool, not numbers",
    ),
    "dense X of the wrong shape": (
        lambda m, p: _edit(m, p, lambda f: (f.__delitem__("X"), f.__setitem__("X", np.zeros((240, 7))))),
        r"dense X of shape \(240, 7\), but obs x var is \(240, 200\)",
    ),
    "layer of the wrong shape": (
        lambda m, p: _edit(m, p, lambda f: f["layers"].__setitem__("counts", np.zeros((3, 200)))),
        r"has a dense layer 'counts' of shape \(3, 200\)",
    ),
    "unknown X encoding": (
        lambda m, p: _edit(m, p, lambda f: f["X"].attrs.__setitem__("encoding-type", "coo_matrix")),
        "X in an unknown encoding 'coo_matrix'",
    ),
    "obs column too short": (
        lambda m, p: _edit(m, p, lambda f: _replace(f, "obs/cell_type/codes", f["obs/cell_type/codes"][:9])),
        "obs column 'cell_type' has 9 values for 240 rows",
    ),
    "all-zero counts": (lambda m, p: _counts(m, p, np.zeros_like), "no cell has a positive count"),
    "one gene with counts": (_one_gene_with_counts, r"only 1 gene\(s\) with counts"),
    "single gene": (_single_gene, r"only 1 gene\(s\): a network needs at least 2"),
    "no cells": (lambda m, p: _write(_good(m)[:0].copy(), p), "no cells"),
    "all cell types missing": (
        lambda m, p: _counts(m, p, lambda x: x, cell_type=np.nan),
        "the cell_type column 'cell_type' holds no label",
    ),
    "all cell types 'unknown'": (
        lambda m, p: _counts(m, p, lambda x: x, cell_type="unknown"),
        "the cell_type column 'cell_type' holds no label",
    ),
    "NaN counts": (lambda m, p: _counts(m, p, _nan), "1 NaN or infinite values"),
    "inf counts": (lambda m, p: _counts(m, p, _inf), "1 NaN or infinite values"),
    "negative counts": (lambda m, p: _counts(m, p, _negative), "1 negative values"),
    "non-integer counts": (lambda m, p: _counts(m, p, _fraction), "non-integer values in the counts"),
    "duplicated cell names": (_dup_obs, "1 duplicated cell names"),
    "duplicated gene names": (_dup_var, "1 duplicated genes"),
}


def _config(store: Path, checkpoint: Path, path: Path, **validation) -> IngestConfig:
    return IngestConfig(
        sources=(SourceSpec(kind="h5ad", options={"path": str(path), "name": "lab"}),),
        store=store,
        checkpoint=checkpoint,
        params={"n_genes": 16, "max_cells": 8},
        min_cells=MIN_CELLS,
        device="cpu",
        validation=ValidationOptions(**validation),
    )


def _release_state(store: Path) -> tuple[str, str]:
    current = Store(store).current_release()
    return current, file_sha256(Store(store).release_path(current))


@pytest.fixture(scope="module")
def published(tmp_path_factory, checkpoint, make_adata) -> Path:
    """A store whose current release holds the networks of one good dataset."""
    root = tmp_path_factory.mktemp("published")
    good = _write(_good(make_adata), root / "good.h5ad")
    report = run_ingest(_config(root / "store", checkpoint, good), progress=False)
    assert report.ok and report.n_networks == 12
    return root / "store"


def _refusal(report) -> str:
    """The one error of a run over one bad file: a source error or the failed dataset's error."""
    errors = list(report.source_errors.values()) + [o.error for o in report.outcomes if o.status == "failed"]
    assert not report.ok and len(errors) == 1, report.to_dict()
    return errors[0]


def _file_name(case: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-") + ".h5ad"


def test_every_malformed_file_in_a_folder_is_refused_in_one_line(
    tmp_path, published, checkpoint, make_adata, caplog
):
    """One run over a folder holding the whole battery: each file fails with its own one-line reason."""
    folder = tmp_path / "data"
    folder.mkdir()
    for case, (write, _) in FILES.items():
        write(make_adata, folder / _file_name(case))
    before = _release_state(published)
    report = run_ingest(_config(published, checkpoint, folder), progress=False)
    errors = {o.key.rsplit("/", 1)[-1]: o.error for o in report.outcomes if o.status == "failed"}
    assert sorted(errors) == sorted(_file_name(case) for case in FILES) and not report.source_errors
    for case, (_, expected) in FILES.items():
        error = errors[_file_name(case)]
        assert "\n" not in error and re_search(expected, error), (case, error)
    assert "Traceback" not in caplog.text
    assert report.release_id is None and _release_state(published) == before


NAMED = (
    "empty",
    "text",
    "gzip",
    "zip",
    "truncated",
    "zarr store",
    "symlink loop",
    "broken symlink",
    "no obs",
)


@pytest.mark.parametrize("case", NAMED)
def test_a_malformed_file_named_as_the_source_is_refused_in_one_line(
    case, tmp_path, published, checkpoint, make_adata, caplog
):
    write, expected = FILES[case]
    (tmp_path / "data").mkdir()
    path = write(make_adata, tmp_path / "data" / "x.h5ad")
    before = _release_state(published)
    error = _refusal(run_ingest(_config(published, checkpoint, path), progress=False))
    assert "\n" not in error and re_search(expected, error) and str(path) in error, error
    assert "Traceback" not in caplog.text and _release_state(published) == before


def re_search(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def test_unreadable_permissions(tmp_path, published, checkpoint, make_adata, monkeypatch):
    path = _write(_good(make_adata), tmp_path / "x.h5ad")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make the read fail as it would for a user
        real_open = open

        def denied(file, mode="r", *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr("builtins.open", denied)
    before = _release_state(published)
    report = run_ingest(_config(published, checkpoint, tmp_path), progress=False)
    assert _refusal(report) == f"{path} cannot be read: Permission denied"
    assert _release_state(published) == before


def test_folder_without_h5ad_and_the_bound_is_configurable(tmp_path, published, checkpoint, make_adata):
    (tmp_path / "notes.txt").write_text("no data here")
    report = run_ingest(_config(published, checkpoint, tmp_path), progress=False)
    assert _refusal(report) == f"{tmp_path} holds no file matching '*.h5ad'"
    path = _write(_good(make_adata), tmp_path / "x.h5ad")
    report = run_ingest(_config(published, checkpoint, path, max_dataset_bytes=10_000), progress=False)
    assert re_search(r"x\.h5ad declares .* KiB of arrays .* over the bound of 9\.8 KiB", _refusal(report))
    assert inspect_h5ad(path).n_obs == 240  # the default bound lets it through
    with pytest.raises(ValueError, match="max_dataset_bytes must be a positive integer"):
        ValidationOptions(max_dataset_bytes=0)


def test_one_bad_file_spares_the_good_ones(tmp_path, published, checkpoint, make_adata):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(make_adata(seed=4), folder / "fresh.h5ad")
    FILES["gzip"][0](make_adata, folder / "zipped.h5ad")
    report = run_ingest(_config(tmp_path / "store", checkpoint, folder), progress=False)
    assert report.counts()["added"] == 1 and report.counts()["failed"] == 1 and report.release_id


def test_cli_sample_exits_1_with_the_reason_and_no_traceback(tmp_path, published, checkpoint, make_adata):
    """In process (the real command in a subprocess is the slow test below): ingest and another command."""
    runner = CliRunner()
    args = ["--store", str(published), "--checkpoint", str(checkpoint), "--no-progress", "--device", "cpu"]
    before = _release_state(published)
    for case in ("gzip", "indptr decreasing", "all-zero counts"):
        write, expected = FILES[case]
        path = write(make_adata, tmp_path / _file_name(case))
        result = runner.invoke(app, ["ingest", str(path), *args])
        assert result.exit_code == 1 and re_search(expected, result.output), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
    assert _release_state(published) == before
    gz = tmp_path / _file_name("gzip")
    result = runner.invoke(app, ["embed", "--ckpt", str(checkpoint), "--h5ad", str(gz), "--out", "o.h5ad"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"Error: {gz} is gzip-compressed: decompress it first (gunzip)" in result.output


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_refuses_in_one_line_exit_1_and_traceback_only_when_verbose(
    tmp_path, published, checkpoint, make_adata
):
    """Through the real command: a sample of the battery, each one line on stderr and exit status 1."""
    args = ["--store", str(published), "--checkpoint", str(checkpoint), "--no-progress", "--device", "cpu"]
    before = _release_state(published)
    for case in ("gzip", "truncated", "huge dense shape", "all-zero counts"):
        write, expected = FILES[case]
        path = write(make_adata, tmp_path / f"{case.replace(' ', '-')}.h5ad")
        done = _cli("ingest", str(path), *args, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        lines = [line for line in done.stderr.splitlines() if " ERROR " in line]
        assert len(lines) == 1 and re_search(expected, lines[0]) and str(path.name) in lines[0], done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert _release_state(published) == before
    done = _cli("--verbose", "ingest", str(path), *args, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr
    # another command's expected error is rendered in the same place: one line, exit status 1
    gz = tmp_path / "gzip.h5ad"
    done = _cli("embed", "--ckpt", str(checkpoint), "--h5ad", str(gz), "--out", "o.h5ad", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"Error: {gz} is gzip-compressed: decompress it first" in done.stderr


def test_refusing_a_declared_huge_matrix_allocates_nothing_of_it(tmp_path, checkpoint):
    """In a fresh process: peak RSS grows by far less than the 1 GiB the file declares (it is never read)."""
    path = _huge_dense(tmp_path / "x.h5ad", 16_384, 16_384, dtype="f4")  # 1 GiB declared, a few KiB on disk
    assert path.stat().st_size < 100_000
    script = f"""
import json, resource
from pathlib import Path
from tests.ingest.test_malformed import _config
from ingest.pipeline import run_ingest
config = _config(Path({str(tmp_path / "store")!r}), Path({str(checkpoint)!r}), Path({str(path)!r}),
                 max_dataset_bytes=64 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = run_ingest(config, progress=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"delta_kib": after - before, "errors": [o.error for o in report.outcomes]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert re_search("declares 1.0 GiB of arrays .* over the bound of 64.0 MiB", result["errors"][0])
    print(f"peak RSS delta {result['delta_kib'] / 1024:.1f} MiB")
    assert result["delta_kib"] < 128 << 10  # 128 MiB: the model and the store, not the matrix


def test_bit_flipped_files_are_either_sound_or_refused_as_input_errors(tmp_path, make_adata):
    """Seeded fuzz: random bytes of a good file overwritten; nothing but an InputError may escape."""
    raw = bytearray(_write(_good(make_adata)[:60].copy(), tmp_path / "good.h5ad").read_bytes())
    rng = np.random.default_rng(0)
    outcomes = {"sound": 0, "refused": 0}
    for i in range(80):
        data = bytearray(raw)
        for at in rng.integers(0, len(data), size=rng.choice([1, 4, 16])):
            data[at] = int(rng.integers(0, 256))
        path = tmp_path / f"flipped-{i}.h5ad"
        path.write_bytes(bytes(data))
        try:
            backed = open_h5ad(path)
            try:
                validate_dataset(load_if_small(backed), ColumnMap(), name=path.name)
            finally:
                backed.file.close()
            outcomes["sound"] += 1
        except InputError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 40, outcomes  # most flips hit metadata, indices or labels
