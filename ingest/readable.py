"""Is a file a readable AnnData (``.h5ad``), and what would reading it allocate? Answered from HDF5 metadata.

anndata trusts a file: it reserves whatever the declared shapes ask for (a 19 KB file can declare a dense
matrix of terabytes) and reports a damaged file with a library traceback. ``open_h5ad`` first looks at the
file itself (empty, text, compressed, a folder, unreadable), then at the HDF5 metadata: the AnnData layout
(X, obs, var), every matrix's shape against obs and var, a sparse matrix's structure (indptr length,
monotonicity and end, indices in range, read in bounded chunks) and the total bytes the arrays declare,
which must stay under a bound. Only then is the file opened with anndata (backed). Every problem is an
``UnreadableFile`` whose message is one line naming the file and what is wrong with it.
"""

import errno
import math
import os
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np

from scprint_graph.errors import InputError

MAX_DATASET_BYTES = 32 << 30
"""Default bound on the bytes one dataset's arrays may declare (uncompressed): 32 GiB.

It is an upper bound of what reading the dataset can allocate (X, layers, raw, obs, var, obsm, ...), so a
file declaring more is refused before anything is read. Set ``[validation] max_dataset_bytes`` to change it.
"""

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_COMPRESSED = (
    (b"\x1f\x8b", "gzip-compressed: decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive: unzip it first"),
    (b"BZh", "bzip2-compressed: decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it first (unxz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it first (unzstd)"),
)
_ZARR_MARKERS = (".zgroup", ".zattrs", "zarr.json")
_SPARSE = {"csr_matrix": 0, "csc_matrix": 1}  # encoding -> axis indexed by indptr
_CHUNK = 1 << 20  # index entries read at a time (8 MiB of int64)


class UnreadableFile(InputError):
    """A file that cannot be ingested as AnnData; the message is ``<path> <what is wrong>``."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path} {problem}")


@dataclass(frozen=True)
class H5adLayout:
    """What an ``.h5ad`` file declares: its size in cells and genes, and the bytes its arrays would take."""

    n_obs: int
    n_vars: int
    nbytes: int
    largest: str  # the largest array, ``name (shape dtype)``, for messages


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``"36.4 TiB"``)."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"


def is_zarr_store(path: Path) -> bool:
    """Whether ``path`` is a folder holding a zarr store (AnnData's other on-disk format)."""
    return path.is_dir() and any((path / marker).exists() for marker in _ZARR_MARKERS)


def check_file(path: Path) -> None:
    """Refuse what is not an HDF5 file before HDF5 sees it: missing, a folder, empty, text, compressed."""
    try:
        stat = path.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnreadableFile(path, "is a symbolic link loop") from err
        if err.errno == errno.ENOENT:
            what = "is a broken symbolic link" if path.is_symlink() else "does not exist"
            raise UnreadableFile(path, what) from err
        raise UnreadableFile(path, f"cannot be read: {err.strerror}") from err
    if path.is_dir():
        if is_zarr_store(path):
            msg = "is a zarr store (a folder), not an .h5ad file: convert it (anndata read_zarr, write_h5ad)"
            raise UnreadableFile(path, msg)
        raise UnreadableFile(path, "is a folder, not an .h5ad file")
    if not path.is_file():
        raise UnreadableFile(path, "is not a regular file")
    if stat.st_size == 0:
        raise UnreadableFile(path, "is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as err:
        raise UnreadableFile(path, f"cannot be read: {err.strerror or err}") from err
    if head.startswith(HDF5_SIGNATURE) or h5py.is_hdf5(path):
        return
    for magic, what in _COMPRESSED:
        if head.startswith(magic):
            raise UnreadableFile(path, f"is {what}")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        start = " ".join(text.split())[:40]
        raise UnreadableFile(path, f"is a text file, not HDF5 (it starts with {start!r})")
    raise UnreadableFile(path, "is not an HDF5 file (an .h5ad file starts with the HDF5 signature)")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _declared_bytes(f: h5py.File) -> tuple[int, str]:
    """Total bytes of every array in the file, as declared (uncompressed), and the largest one."""
    total, largest, largest_bytes = 0, "", -1

    def visit(name: str, obj) -> None:
        nonlocal total, largest, largest_bytes
        if isinstance(obj, h5py.Dataset):
            n = math.prod(obj.shape or ()) * obj.dtype.itemsize
            total += n
            if n > largest_bytes:
                largest, largest_bytes = f"{name} ({'x'.join(map(str, obj.shape))} {obj.dtype})", n

    f.visititems(visit)
    return total, largest


def declared_nbytes(path: Path) -> int:
    """Bytes the file's arrays declare (metadata only): what reading it all into memory would take."""
    with h5py.File(path, "r") as f:
        return _declared_bytes(f)[0]


def _frame_length(path: Path, group, name: str) -> int:
    """Rows of an AnnData dataframe (obs, var), checked against every column's length."""
    if isinstance(group, h5py.Dataset):  # very old anndata: a compound dataset
        return int(group.shape[0]) if group.shape else 0
    index = group.attrs.get("_index")
    if index is None or index not in group:
        raise UnreadableFile(path, f"is AnnData with a damaged {name} (no index)")
    n = int(group[index].shape[0])
    for column, elem in group.items():
        part = elem
        if isinstance(elem, h5py.Group):  # categorical (codes) or nullable (values) column
            part = elem.get("codes", elem.get("values"))
        if isinstance(part, h5py.Dataset) and part.shape and part.shape[0] != n:
            msg = f"is AnnData whose {name} column {column!r} has {part.shape[0]} values for {n} rows"
            raise UnreadableFile(path, msg)
    return n


def _check_indptr(path: Path, name: str, indptr: h5py.Dataset, nnz: int) -> None:
    previous = 0
    for start in range(0, indptr.shape[0], _CHUNK):
        chunk = indptr[start : start + _CHUNK].astype(np.int64)
        if start == 0 and chunk[0] != 0:
            raise UnreadableFile(path, f"has a damaged sparse {name}: indptr starts at {chunk[0]}, not 0")
        if chunk[0] < previous or (len(chunk) > 1 and (np.diff(chunk) < 0).any()):
            raise UnreadableFile(path, f"has a damaged sparse {name}: indptr is not non-decreasing")
        previous = int(chunk[-1])
    if previous != nnz:
        msg = f"has a damaged sparse {name}: indptr ends at {previous} but it stores {nnz} values"
        raise UnreadableFile(path, msg)


def _check_indices(path: Path, name: str, indices: h5py.Dataset, n_minor: int) -> None:
    for start in range(0, indices.shape[0], _CHUNK):
        chunk = indices[start : start + _CHUNK]
        if len(chunk) and (chunk.min() < 0 or chunk.max() >= n_minor):
            bad = chunk.min() if chunk.min() < 0 else chunk.max()
            msg = f"has a damaged sparse {name}: index {bad} outside 0..{n_minor - 1}"
            raise UnreadableFile(path, msg)


def _check_numeric(path: Path, name: str, dtype: np.dtype) -> None:
    if dtype.kind not in "iuf":
        raise UnreadableFile(path, f"has {name} values of dtype {dtype}, not numbers (counts expected)")


def _check_matrix(path: Path, elem, name: str, shape: tuple[int, int]) -> None:
    """A matrix's declared shape against ``shape``, its dtype, and a sparse matrix's structure."""
    if isinstance(elem, h5py.Dataset):
        if elem.shape != shape:
            msg = f"has a dense {name} of shape {elem.shape}, but obs x var is {shape}"
            raise UnreadableFile(path, msg)
        _check_numeric(path, name, elem.dtype)
        return
    encoding = elem.attrs.get("encoding-type", "")
    if encoding not in _SPARSE:
        raise UnreadableFile(path, f"has a {name} in an unknown encoding {encoding!r}")
    parts = {k: elem.get(k) for k in ("data", "indices", "indptr")}
    missing = [k for k, v in parts.items() if not isinstance(v, h5py.Dataset) or len(v.shape) != 1]
    if missing:
        raise UnreadableFile(path, f"has a damaged sparse {name}: no 1-d {', '.join(missing)}")
    declared = tuple(int(v) for v in np.atleast_1d(elem.attrs.get("shape", ())))
    if declared != shape:
        msg = f"has a sparse {name} declaring shape {declared}, but obs x var is {shape}"
        raise UnreadableFile(path, msg)
    data, indices, indptr = parts["data"], parts["indices"], parts["indptr"]
    _check_numeric(path, name, data.dtype)
    for part, dset in (("indices", indices), ("indptr", indptr)):
        if dset.dtype.kind not in "iu":
            raise UnreadableFile(path, f"has a damaged sparse {name}: {part} of {dset.dtype}, not integers")
    axis = _SPARSE[encoding]
    if indptr.shape[0] != shape[axis] + 1:
        msg = f"has a damaged sparse {name}: indptr has {indptr.shape[0]} entries for {shape[axis]} rows"
        raise UnreadableFile(path, msg if axis == 0 else msg.replace("rows", "columns"))
    if data.shape[0] != indices.shape[0]:
        msg = f"has a damaged sparse {name}: {data.shape[0]} values but {indices.shape[0]} indices"
        raise UnreadableFile(path, msg)
    _check_indptr(path, name, indptr, data.shape[0])
    _check_indices(path, name, indices, shape[1 - axis])


def inspect_h5ad(path: str | os.PathLike, *, max_bytes: int = MAX_DATASET_BYTES) -> H5adLayout:
    """Check that ``path`` is sound AnnData within ``max_bytes``, reading only metadata and index arrays.

    Raises
    ------
    UnreadableFile
        The first problem found, as one line naming the file.
    """
    path = Path(path)
    check_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise UnreadableFile(path, f"is truncated or damaged HDF5 ({_first_line(err)})") from err
    try:
        with f:
            return _inspect(path, f, max_bytes)
    except UnreadableFile:
        raise
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as err:  # h5py on damaged metadata
        msg = f"is damaged HDF5 ({type(err).__name__}: {_first_line(err)})"
        raise UnreadableFile(path, msg) from err


def _inspect(path: Path, f: h5py.File, max_bytes: int) -> H5adLayout:
    """The checks of ``inspect_h5ad`` on the open file: layout, lengths, declared bytes, then matrices."""
    keys = list(f.keys())
    if not {"X", "obs", "var"} & set(keys):
        found = ", ".join(keys[:8]) or "nothing"
        msg = f"is HDF5 but not AnnData: its root holds {found} (an .h5ad file holds X, obs and var)"
        raise UnreadableFile(path, msg)
    missing = [k for k in ("X", "obs", "var") if k not in f]
    if missing:  # a backed AnnData without X cannot be read, whatever layer holds the counts
        raise UnreadableFile(path, f"is AnnData without {' and '.join(missing)}")
    n_obs, n_vars = _frame_length(path, f["obs"], "obs"), _frame_length(path, f["var"], "var")
    nbytes, largest = _declared_bytes(f)
    if nbytes > max_bytes:
        msg = (
            f"declares {format_bytes(nbytes)} of arrays (largest {largest}), over the bound of "
            f"{format_bytes(max_bytes)} per dataset; raise [validation] max_dataset_bytes if it is right"
        )
        raise UnreadableFile(path, msg)
    matrices = [("X", f.get("X"), (n_obs, n_vars))]
    layers = f.get("layers")
    if isinstance(layers, h5py.Group):
        matrices += [(f"layer {k!r}", v, (n_obs, n_vars)) for k, v in layers.items()]
    raw = f.get("raw")
    if isinstance(raw, h5py.Group) and "X" in raw and "var" in raw:
        matrices.append(("raw.X", raw["X"], (n_obs, _frame_length(path, raw["var"], "raw.var"))))
    for name, elem, shape in matrices:
        if elem is not None:
            _check_matrix(path, elem, name, shape)
    return H5adLayout(n_obs=n_obs, n_vars=n_vars, nbytes=nbytes, largest=largest)


def open_h5ad(path: str | os.PathLike, *, max_bytes: int = MAX_DATASET_BYTES) -> ad.AnnData:
    """The file as a backed (read-only) AnnData, after ``inspect_h5ad`` found it sound and within bounds."""
    inspect_h5ad(path, max_bytes=max_bytes)
    try:
        return ad.read_h5ad(path, backed="r")
    except Exception as err:  # anndata's own refusal, whatever its type, is about this file
        msg = f"cannot be read as AnnData ({type(err).__name__}: {_first_line(err)})"
        raise UnreadableFile(path, msg) from err
