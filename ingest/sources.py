"""Where datasets come from: one interface over local files, lamindb and the CELLxGENE Census.

A source lists ``Dataset`` objects; each has a stable id (``source``, ``source_id``) and a version (a version
id or a content hash), so the pipeline can tell new, changed and unchanged datasets apart before
touching cells. Opening a dataset gives an AnnData, backed on disk where the format allows it.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anndata as ad

from ingest.columns import ColumnMap
from ingest.readable import MAX_DATASET_BYTES, UnreadableFile, check_file, is_zarr_store, open_h5ad
from scprint_graph.checkpoint import file_sha256

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """One dataset a source offers.

    Attributes
    ----------
    source
        Kind of source: the name of its ``SourceKind`` (``"h5ad"``, ``"lamindb"``, ``"census"``, ...).
    source_id
        Stable id within that kind (relative path, artifact uid, Census dataset id).
    version
        Version id or content hash; a new value means the dataset changed.
    title
        Human-readable name.
    columns
        How its obs columns map onto the grouping keys.
    opener
        ``opener(max_bytes=...)`` returns the AnnData (backed where possible), refusing a file whose arrays
        declare more than ``max_bytes``; called by ``open``.
    collection
        The collection it belongs to, if any.
    content_hash
        sha256 of the file when known.
    """

    source: str
    source_id: str
    version: str
    title: str
    columns: ColumnMap = field(default_factory=ColumnMap)
    opener: Callable[..., ad.AnnData] | None = field(default=None, compare=False, repr=False)
    collection: str | None = None
    content_hash: str | None = None

    def __post_init__(self) -> None:
        for name in ("source", "source_id", "version"):
            if not getattr(self, name):
                msg = f"dataset {name} must be non-empty, got {getattr(self, name)!r}"
                raise ValueError(msg)

    @property
    def key(self) -> str:
        """``source:source_id``, unique across sources."""
        return f"{self.source}:{self.source_id}"

    @contextmanager
    def open(self, *, max_bytes: int = MAX_DATASET_BYTES) -> Iterator[ad.AnnData]:
        """The dataset's AnnData (within ``max_bytes`` declared); a backed file is closed on exit."""
        if self.opener is None:
            msg = f"dataset {self.key} has no opener"
            raise ValueError(msg)
        adata = self.opener(max_bytes=max_bytes)
        try:
            yield adata
        finally:
            if adata.isbacked:
                adata.file.close()


@runtime_checkable
class Source(Protocol):
    """Anything that lists datasets."""

    name: str

    def datasets(self) -> Iterator[Dataset]:
        """Each dataset of the source, with its id and version; no cell is read."""
        ...


@dataclass(frozen=True)
class SourceKind:
    """One kind of source as the config names it: ``kind = "<name>"`` and the options its table accepts.

    ``build(options, columns=..., resolve_path=..., census_module=...)`` makes the source from the table's
    options (already checked against ``options``); ``resolve_path`` takes a relative path from the config's
    folder, ``census_module`` replaces ``cellxgene_census`` (tests). The kind's name is also what the
    store keeps as a dataset's ``source`` and what the API reports.
    """

    name: str
    options: frozenset[str]
    build: Callable[..., Source]


class H5adSource:
    """Local ``.h5ad`` files: one file, or every file under a folder.

    The id of a dataset is ``<name>/<path relative to the folder>``, so moving the folder keeps ids; its
    version is the file's sha256 (computed once per (path, size, mtime) in this process).

    Parameters
    ----------
    path
        A ``.h5ad`` file or a folder.
    name
        Source name, the prefix of dataset ids; defaults to the folder's (or file's parent's) name.
    columns
        Column mapping for every dataset of the source.
    pattern
        Glob for files under a folder (recursive).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        columns: ColumnMap | None = None,
        pattern: str = "*.h5ad",
    ) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_dir() or is_zarr_store(self.path):
            check_file(self.path)  # a compressed or text file, a zarr store, named as such before the suffix
        if not self.path.is_dir() and self.path.suffix != ".h5ad":
            msg = f"h5ad source file must end in .h5ad: {self.path}"
            raise ValueError(msg)
        root = self.path if self.path.is_dir() else self.path.parent
        self.name = name or root.resolve().name or "h5ad"
        self.columns = columns or ColumnMap()
        self.pattern = pattern
        self._hashes: dict[tuple[str, int, int], str] = {}

    def files(self) -> list[Path]:
        """The ``.h5ad`` files of the source, sorted; a broken link or link loop is kept (it fails, named)."""
        if not self.path.is_dir():
            return [self.path]
        found = self.path.rglob(self.pattern)
        return sorted(p for p in found if p.is_file() or p.is_symlink() or is_zarr_store(p))

    def _version(self, path: Path) -> tuple[str, str | None]:
        """``(version, sha256)``; a file that cannot be read gets a version from its link's metadata and no
        hash, so it is still listed and fails, named, when opened."""
        try:
            stat = path.stat()
            memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if memo not in self._hashes:
                self._hashes[memo] = file_sha256(path)
        except OSError:
            stat = path.lstat()
            return f"unreadable:{stat.st_size}:{stat.st_mtime_ns}", None
        return self._hashes[memo], self._hashes[memo]

    def datasets(self) -> Iterator[Dataset]:
        root = self.path if self.path.is_dir() else self.path.parent
        files = self.files()
        if not files:
            msg = f"holds no file matching {self.pattern!r}"
            raise UnreadableFile(self.path, msg)
        for path in files:
            version, digest = self._version(path)
            yield Dataset(
                source=H5AD.name,
                source_id=f"{self.name}/{path.relative_to(root).as_posix()}",
                version=version,
                title=path.stem,
                columns=self.columns,
                opener=_BackedOpener(path),
                collection=self.name,
                content_hash=digest,
            )


@dataclass(frozen=True)
class _BackedOpener:
    """A picklable opener (executors may send datasets to other processes)."""

    path: Path

    def __call__(self, *, max_bytes: int = MAX_DATASET_BYTES) -> ad.AnnData:
        return open_h5ad(self.path, max_bytes=max_bytes)


def _build_h5ad(
    options: dict, *, columns: ColumnMap, resolve_path: Callable[[str], Path], **_: Any
) -> H5adSource:
    options = dict(options)
    if "path" not in options:
        msg = "an h5ad source needs `path`"
        raise ValueError(msg)
    return H5adSource(resolve_path(options.pop("path")), columns=columns, **options)


H5AD = SourceKind("h5ad", frozenset({"path", "name", "pattern"}), _build_h5ad)
