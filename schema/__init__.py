"""The network store: SQLAlchemy schema, DuckDB releases, bulk writes and read-only queries.

Writing (the ingestion process only)::

    with Store(root).new_release(note="...") as w:
        w.upsert_genes(genes)                      # Arrow: ensembl_id, organism, symbol, ...
        model_id = w.add_model(checkpoint_hash, name, config)
        ds = w.upsert_dataset(source=..., source_id=..., content_hash=...)
        network_id = w.add_network(NetworkMeta(dataset_id=ds.id, n_cells=..., ...))
        w.add_edges(network_id, edges)             # Arrow: regulator, target (Ensembl ids), weight

Layout: ``edges`` sorted by (network, regulator) with ``rank`` 1 = strongest edge of its network;
``edges_by_target`` holds the same rows in runs sorted by (target, network) (re-sorted whole past
``StoreConfig.max_target_runs``); ``node_stats`` per (network, gene), computed when a network is added.

Reading (the server)::

    reader = Store(root).open_reader()             # read-only; reader.is_current() says when to reopen
    page = queries.find_networks(reader.con, queries.NetworkFilter(tissues=("lung",)))
"""

from schema import queries
from schema.identity import idempotency_key, network_key, params_hash, stable_hash
from schema.release import NoReleaseError, Reader, SchemaVersionError, Store, StoreConfig
from schema.rows import NetworkMeta
from schema.tables import SCHEMA_VERSION
from schema.writer import DatasetUpsert, EdgeLoad, ReleaseWriter

__all__ = [
    "SCHEMA_VERSION",
    "DatasetUpsert",
    "EdgeLoad",
    "NetworkMeta",
    "NoReleaseError",
    "Reader",
    "ReleaseWriter",
    "SchemaVersionError",
    "Store",
    "StoreConfig",
    "idempotency_key",
    "network_key",
    "params_hash",
    "queries",
    "stable_hash",
]
