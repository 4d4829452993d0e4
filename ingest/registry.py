"""The kinds of source a config may name (``[[sources]] kind = "..."``): one line each.

A new kind of source is one module (a class with ``name`` and ``datasets()``, and its ``SourceKind`` entry:
name, accepted options, a build function) plus one line here; its options are documented in
``examples/sources.toml`` (a test checks). The kind's name is what the store keeps as a dataset's ``source``
and what the API reports.
"""

from ingest.census import CENSUS
from ingest.lamin import LAMINDB
from ingest.sources import H5AD, SourceKind

SOURCE_KINDS: dict[str, SourceKind] = {kind.name: kind for kind in (H5AD, LAMINDB, CENSUS)}
