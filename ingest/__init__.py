"""Ingestion: sources -> validation -> group planning -> model -> networks -> a published release.

Public API::

    from ingest import load_config, run_ingest

    config = load_config("examples/sources.toml")   # every option documented there
    report = run_ingest(config)                     # RunReport: per-dataset outcomes, the new release id
    print(report.summary_table())

Modules: ``sources`` (Dataset, SourceKind, H5adSource), ``lamin`` (LaminSource), ``census`` (CensusSource),
``registry`` (the source kinds a config may name), ``readable`` (is a file sound AnnData within the
allocation bound, from HDF5 metadata), ``columns`` (ColumnMap), ``validate``, ``plan`` (groups, idempotency
keys), ``worker`` and ``executor`` (local / Ray), ``pipeline``, ``report``, ``schedule`` (APScheduler + file
lock), ``config`` (the TOML file).
"""

from ingest.config import IngestConfig, load_config
from ingest.pipeline import run_ingest
from ingest.report import RunReport

__all__ = ["IngestConfig", "RunReport", "load_config", "run_ingest"]
