"""lamindb artifacts and collections as a source: the user's own instance or a public one (e.g. CELLxGENE's).

A dataset's id is the artifact's version-independent uid stem (its first 16 characters), so a new version
of an artifact is seen as a change of the same dataset; its version is the artifact's content hash.
Files are cached locally by lamindb and opened backed; lamindb is imported only when the source is used.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anndata as ad

from ingest.columns import ColumnMap
from ingest.readable import MAX_DATASET_BYTES, open_h5ad
from ingest.sources import Dataset, SourceKind

logger = logging.getLogger(__name__)

_UID_STEM = 16  # lamindb uids: 16-character stem + 4-character version suffix


def _lamindb():
    import lamindb

    return lamindb


@dataclass(frozen=True)
class _ArtifactOpener:
    """Re-finds the artifact by uid, so the opener pickles as plain strings."""

    instance: str | None
    uid: str

    def __call__(self, *, max_bytes: int = MAX_DATASET_BYTES) -> ad.AnnData:
        ln = _lamindb()
        artifact = ln.Artifact.connect(self.instance).get(uid=self.uid)
        return open_h5ad(artifact.cache(), max_bytes=max_bytes)


class LaminSource:
    """Artifacts of a lamindb collection, or artifacts whose key starts with a prefix.

    Parameters
    ----------
    collection
        Key or uid of a collection (its latest version is used).
    key_prefix
        Alternative to ``collection``: every latest ``.h5ad`` artifact whose key starts with this.
    instance
        ``owner/name`` of the lamindb instance; None is the current default instance.
    name
        Source name for logs.
    columns
        Column mapping for every dataset of the source.
    """

    def __init__(
        self,
        *,
        collection: str | None = None,
        key_prefix: str | None = None,
        instance: str | None = None,
        name: str | None = None,
        columns: ColumnMap | None = None,
    ) -> None:
        if (collection is None) == (key_prefix is None):
            msg = f"give exactly one of collection or key_prefix (got {collection!r}, {key_prefix!r})"
            raise ValueError(msg)
        self.collection = collection
        self.key_prefix = key_prefix
        self.instance = instance
        self.name = name or f"lamindb:{instance or 'default'}:{collection or key_prefix}"
        self.columns = columns or ColumnMap()

    def _collection(self, ln):
        query = ln.Collection.connect(self.instance)
        hits = query.filter(key=self.collection, is_latest=True)
        found = hits.first()
        if found is None and len(self.collection) >= _UID_STEM:
            found = query.filter(uid__startswith=self.collection[:_UID_STEM]).order_by("-created_at").first()
        if found is None:
            msg = f"no lamindb collection with key or uid {self.collection!r} in {self.instance or 'default'}"
            raise ValueError(msg)
        return found

    def _artifacts(self, ln) -> tuple[list, str | None]:
        if self.collection is not None:
            coll = self._collection(ln)
            return list(coll.ordered_artifacts.all()), coll.key or coll.uid
        query = ln.Artifact.connect(self.instance)
        found = query.filter(key__startswith=self.key_prefix, is_latest=True).order_by("key")
        return list(found), None

    def datasets(self) -> Iterator[Dataset]:
        ln = _lamindb()
        artifacts, collection = self._artifacts(ln)
        if not artifacts:
            logger.warning("lamindb source %s: no artifact found", self.name)
        for artifact in artifacts:
            if artifact.suffix != ".h5ad":
                logger.warning(
                    "lamindb source %s: skipping artifact %s (%s is not .h5ad)",
                    self.name,
                    artifact.uid,
                    artifact.suffix,
                )
                continue
            instance = self.instance or "default"
            yield Dataset(
                source=LAMINDB.name,
                source_id=f"{instance}/{artifact.uid[:_UID_STEM]}",
                version=artifact.hash or artifact.uid,
                title=artifact.description or artifact.key or artifact.uid,
                columns=self.columns,
                opener=_ArtifactOpener(self.instance, artifact.uid),
                collection=collection,
                content_hash=artifact.hash,
            )


def _build(options: dict, *, columns: ColumnMap, **_: Any) -> LaminSource:
    return LaminSource(columns=columns, **options)


LAMINDB = SourceKind("lamindb", frozenset({"collection", "key_prefix", "instance", "name"}), _build)
