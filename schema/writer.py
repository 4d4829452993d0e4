"""The release writer: bulk Arrow -> DuckDB writes into a new release, published when the block exits cleanly.

The new release starts as ``schema.layout`` chooses: a new delta on the current base, a copy of the current
delta (both share the base), a copy of a small base, or a compaction of delta and base into a new base.

Edges of a network arrive in one ``add_edges`` call, are mapped from Ensembl ids to gene ids (looked up in
the genes, read once), ranked, and appended sorted by (network, regulator), with their node statistics;
``edges_by_target`` receives them in runs sorted by (target, network) (see ``schema.edgeload``). When the
block exits, the buffers are flushed, the file is checkpointed and closed, renamed and published, and old
releases pruned.
"""

import json
import logging
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schema.edgeload import EdgeBuffer, EnsemblIdMap, map_edges
from schema.genesets import GeneSetLoad, GmtSet, load_gene_sets, read_gmt
from schema.identity import network_key
from schema.labels import LABEL_NAMES
from schema.layout import RUNS_KEY, choose_layout, compact, start_delta
from schema.quality import QualityMetrics, rescore_release
from schema.queries._common import optional_filters
from schema.reference import BUNDLED_GENE_SETS, BUNDLED_SOURCE, MSIGDB_LICENSE, gene_synonyms, lambert_tfs
from schema.release import PARTIAL, SUFFIX, WRITER_CATALOG, Store, check_schema_version, set_meta, sql_path
from schema.rows import NetworkMeta
from schema.tables import PER_NETWORK_TABLES, SCHEMA_VERSION, create_tables, schema_fingerprint

log = logging.getLogger(__name__)

# Results are read with fetchall(): DuckDB refuses register() on a connection whose last result was not read
# to its end, which fetchone() leaves.

COMMIT_EDGES = 5_000_000
"""Edges appended between commits. Nothing is visible before the publish anyway, but DuckDB holds about 70
bytes per edge appended in an open transaction (measured: 24 GB at 310 M edges in one transaction)."""

ROW_GROUP_ROWS = 122_880
"""Rows per row group in release files (DuckDB's default, chosen over 4x by a billion-edge run of each on one
workload, DESIGN.md). DuckDB takes it per ATTACH, not from the file: every writer passes it."""

GENE_COLUMNS = {
    "ensembl_id": pa.string(),
    "symbol": pa.string(),
    "organism": pa.string(),
    "chromosome": pa.string(),
    "start": pa.int32(),
    "is_tf": pa.bool_(),
}


@dataclass(frozen=True)
class DatasetUpsert:
    id: int
    created: bool
    changed: bool  # created, or its content hash / version differ from the stored ones


@dataclass(frozen=True)
class EdgeLoad:
    n_edges: int  # edges stored
    n_unmapped: int  # input edges dropped because the regulator or target is not a known gene


@dataclass
class NetworkIds:
    """The release's network keys and ids, read once when the first network is added."""

    by_key: dict[str, int]  # every key of the store's lineage (``network_keys``)
    live: set[int] = field(default_factory=set)  # ids of the networks in this release

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> "NetworkIds":
        by_key = dict(con.execute("SELECT key, id FROM network_keys").fetchall())
        return cls(by_key, {row[0] for row in con.execute("SELECT id FROM networks").fetchall()})


class ReleaseWriter:
    """Builds one new release; obtain it from ``Store.new_release`` and use it as a context manager."""

    def __init__(
        self,
        store: Store,
        *,
        note: str | None = None,
        empty: bool = False,
        full: bool = False,
        quality_metrics: QualityMetrics | None = None,
    ):
        self.store = store
        self.full = full  # write a base, not a delta
        self.quality_metrics = quality_metrics  # scores new networks against the loaded priors when given
        self.note = note
        self.empty = empty
        self.release_id: str | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self._lock = store.writer_lock()
        self._new_networks: list[int] = []
        self._with_edges: set[int] = set()
        self._edges = EdgeBuffer()
        self._genes: EnsemblIdMap | None = None  # read on the first add_edges, again after upsert_genes
        self.timings: dict[str, float] = {}  # seconds per publish step, filled when the block exits
        self._parent: str | None = None
        self.base: str | None = None  # the base release this one is a delta on (None: it is a base)
        self.layout: str | None = None  # how the release started: new, copy, delta, compaction
        self._models: set[int] = set()  # model ids checked or created here
        self._datasets: dict[int, tuple[str, str]] = {}  # dataset id -> (source, source id), as read
        self._ids: NetworkIds | None = None
        self._uncommitted = 0  # edges added since the last commit

    # -- lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> "ReleaseWriter":
        self._lock.acquire()
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            log.error("release %s discarded: %s", self.release_id, exc)
            self._discard()
            return False
        try:
            self._finish()
        except BaseException:
            self._discard()
            raise
        return False

    @property
    def partial_path(self):
        return self.store.releases_dir / f"{self.release_id}{SUFFIX}{PARTIAL}"

    def _open(self) -> None:
        self.store.releases_dir.mkdir(parents=True, exist_ok=True)
        self.store.remove_partials()
        self.release_id = self.store.new_release_id()
        self._parent = None if self.empty else self.store.current_release()
        layout = choose_layout(self.store, self._parent, full=self.full)
        self.layout, self.base = layout.kind, layout.base
        start = time.perf_counter()
        if self.layout == "new":
            create_tables(str(self.partial_path))
        elif self.layout == "copy":
            shutil.copyfile(self.store.release_path(self._parent), self.partial_path)
        self.con = duckdb.connect(config=self.store.config.duckdb_config())
        self.con.execute(
            f"ATTACH {sql_path(self.partial_path)} AS {WRITER_CATALOG} (ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
        self.con.execute(f"USE {WRITER_CATALOG}")
        if self.base is not None:  # read by a delta's start and by delete_networks
            base_path = self.store.release_path(self.base)
            self.con.execute(f"ATTACH {sql_path(base_path)} AS base (READ_ONLY)")
            check_schema_version(self.con, base_path, "base")
        if self.layout == "new":
            set_meta(
                self.con,
                {"schema_version": SCHEMA_VERSION, "schema_fingerprint": schema_fingerprint(), RUNS_KEY: 0},
            )
        elif self.layout == "delta":
            start_delta(self.con, self.base)
        elif self.layout == "compaction":
            paths = self.store.release_path(self._parent), self.store.release_path(layout.merged_base)
            compact(self.con, *paths)
        check_schema_version(self.con, self.partial_path)
        self.timings["start"] = time.perf_counter() - start
        # Transactions of COMMIT_EDGES edges: nothing is durable before the publish anyway (a failed release
        # is deleted), and autocommit would sync the WAL after every small statement.
        self.con.execute("BEGIN TRANSACTION")
        log.info(
            "writing release %s (%s of %s, base %s)", self.release_id, self.layout, self._parent, self.base
        )

    def _discard(self) -> None:
        if self.con is not None:
            self._edges.close()
            self.con.close()
            self.con = None
        if self.release_id is not None:
            for path in (self.partial_path, self.partial_path.with_name(self.partial_path.name + ".wal")):
                path.unlink(missing_ok=True)
        self._lock.release()

    def _finish(self) -> None:
        con = self.con
        steps = [
            ("edges", lambda: self._edges.flush(con)),
            ("edge writer", self._edges.close),
            ("edges_by_target", self._update_target_layout),
        ]
        if self._new_networks:
            steps.append(("network sizes", self._set_sizes))
        if self._new_networks and self.quality_metrics is not None:
            steps.append(("quality", self._score_new_networks))
        steps += [
            ("meta", self._write_release_meta),
            ("commit", lambda: con.execute("COMMIT")),
            ("checkpoint", lambda: con.execute("CHECKPOINT")),
        ]
        for name, step in steps:
            start = time.perf_counter()
            step()
            self.timings[name] = time.perf_counter() - start
            log.info("release %s: %s took %.2f s", self.release_id, name, self.timings[name])
        con.close()
        self.con = None
        self.partial_path.rename(self.store.release_path(self.release_id))
        self.store.publish(self.release_id)
        self.store.prune()
        self._lock.release()

    def _score_new_networks(self) -> None:
        """Every new network's quality against the priors the release holds (schema/quality.py)."""
        rescore_release(self.con, metrics=self.quality_metrics, network_ids=self._new_networks)

    def _write_release_meta(self) -> None:
        set_meta(
            self.con,
            {
                "release_id": self.release_id,
                "parent_release": self._parent or "",
                "created_at": datetime.now(UTC).isoformat(),
                "note": self.note or "",
            },
        )

    def _update_target_layout(self) -> None:
        """Count the sorted runs appended to ``edges_by_target``; past ``max_target_runs``, re-sort it."""
        con = self.con
        runs = int(con.execute("SELECT value FROM store_meta WHERE key = ?", [RUNS_KEY]).fetchall()[0][0])
        runs += self._edges.runs_written
        if runs > self.store.config.max_target_runs:
            log.info("re-sorting edges_by_target (%d sorted runs)", runs)
            con.execute("DELETE FROM edges_by_target")
            con.execute(
                "INSERT INTO edges_by_target SELECT * FROM edges ORDER BY target_id, network_id, regulator_id"
            )
            runs = 0
        set_meta(self.con, {RUNS_KEY: runs})

    def _set_sizes(self) -> None:
        """Store n_genes and n_edges of the networks added by this release."""
        self.con.execute(
            """
            UPDATE networks SET n_genes = s.n_genes, n_edges = s.n_edges
            FROM (SELECT network_id, count(*) AS n_genes, sum(out_degree) AS n_edges FROM node_stats
                  WHERE network_id IN (SELECT unnest(?::INTEGER[])) GROUP BY ALL) s
            WHERE networks.id = s.network_id
            """,
            [self._new_networks],
        )

    # -- genes ---------------------------------------------------------------------------------------
    def upsert_genes(self, genes: pa.Table) -> int:
        """Insert or update genes keyed by Ensembl id; absent or null columns keep their stored values.

        Columns: ensembl_id and organism (required), symbol, chromosome, start, is_tf (optional).
        Returns the number of input rows.
        """
        missing = {"ensembl_id", "organism"} - set(genes.column_names)
        if missing:
            msg = f"genes table lacks required columns {sorted(missing)}; it has {genes.column_names}"
            raise ValueError(msg)
        if pc.count_distinct(genes["ensembl_id"]).as_py() != genes.num_rows:
            msg = "genes table has duplicate ensembl_id values"
            raise ValueError(msg)
        columns = {
            name: (genes[name].cast(kind) if name in genes.column_names else pa.nulls(genes.num_rows, kind))
            for name, kind in GENE_COLUMNS.items()
        }
        self._genes = None
        self.con.register("_genes_in", pa.table(columns))
        # Update known genes, then insert new ones: ON CONFLICT would burn a sequence value per known gene.
        self.con.execute(
            """
            UPDATE genes SET
                symbol = coalesce(n.symbol, genes.symbol),
                organism = n.organism,
                chromosome = coalesce(n.chromosome, genes.chromosome),
                start = coalesce(n.start, genes.start),
                is_tf = coalesce(n.is_tf, false) OR genes.is_tf
            FROM _genes_in n WHERE genes.ensembl_id = n.ensembl_id
            """
        )
        self.con.execute(
            """
            INSERT INTO genes (ensembl_id, symbol, organism, chromosome, start, is_tf)
            SELECT ensembl_id, symbol, organism, chromosome, start, coalesce(is_tf, false) FROM _genes_in
            WHERE ensembl_id NOT IN (SELECT ensembl_id FROM genes)
            ORDER BY ensembl_id
            """
        )
        self.con.unregister("_genes_in")
        return genes.num_rows

    def set_gene_synonyms(self, synonyms: pa.Table) -> int:
        """Replace the gene synonyms by ``synonyms`` (columns synonym, ensembl_id); returns the rows stored.

        Keyed by Ensembl id, not gene id: genes upserted later find their synonyms without a reload.
        """
        self._replace_rows("gene_synonyms", synonyms, ["synonym", "ensembl_id"], "gene synonym")
        return self.con.execute("SELECT count(*) FROM gene_synonyms").fetchall()[0][0]

    def _replace_rows(self, table: str, rows: pa.Table, columns: list[str], what: str) -> None:
        """Replace every row of ``table`` by the distinct rows of ``rows`` (columns exactly ``columns``)."""
        if rows.column_names != columns:
            msg = f"{what} columns must be {columns}, got {rows.column_names}"
            raise ValueError(msg)
        self.con.execute(f"DELETE FROM {table}")
        self.con.register("_replacing", rows)
        self.con.execute(f"INSERT INTO {table} SELECT DISTINCT {', '.join(columns)} FROM _replacing")
        self.con.unregister("_replacing")

    def mark_tfs(self, identifiers: Iterable[str], *, organism: str | None = None) -> tuple[int, int]:
        """Flag genes named by symbol or Ensembl id as transcription factors; return (matched, unmatched)."""
        names = sorted(set(identifiers))
        self.con.register("_tf_names", pa.table({"name": pa.array(names, pa.string())}))
        of_organism, params = optional_filters(("organism = ?", organism))
        matched = self.con.execute(
            f"""
            SELECT count(*) FROM _tf_names n
            WHERE n.name IN (SELECT ensembl_id FROM genes WHERE TRUE{of_organism})
               OR upper(n.name) IN (SELECT upper(symbol) FROM genes WHERE TRUE{of_organism})
            """,
            params * 2,
        ).fetchall()[0][0]
        self.con.execute(
            f"""
            UPDATE genes SET is_tf = true
            WHERE (ensembl_id IN (SELECT name FROM _tf_names)
                   OR upper(symbol) IN (SELECT upper(name) FROM _tf_names)){of_organism}
            """,
            params,
        )
        self.con.unregister("_tf_names")
        return matched, len(names) - matched

    # -- models and datasets -------------------------------------------------------------------------
    def add_model(self, checkpoint_hash: str, name: str, config: Mapping) -> int:
        """The id of the model with this checkpoint hash, registering it if new."""
        rows = self.con.execute(
            "SELECT id FROM models WHERE checkpoint_hash = ?", [checkpoint_hash]
        ).fetchall()
        if rows:
            return rows[0][0]
        return self.con.execute(
            "INSERT INTO models (checkpoint_hash, name, config, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            [checkpoint_hash, name, json.dumps(dict(config), sort_keys=True, default=str), _now()],
        ).fetchall()[0][0]

    def upsert_dataset(
        self,
        *,
        source: str,
        source_id: str,
        version: str | None = None,
        title: str | None = None,
        collection: str | None = None,
        content_hash: str | None = None,
    ) -> DatasetUpsert:
        """Insert or update a dataset keyed by (source, source_id); say whether its content changed."""
        rows = self.con.execute(
            "SELECT id, version, content_hash FROM datasets WHERE source = ? AND source_id = ?",
            [source, source_id],
        ).fetchall()
        row = rows[0] if rows else None
        if row is None:
            new_id = self.con.execute(
                "INSERT INTO datasets (source, source_id, version, title, collection, content_hash,"
                " updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [source, source_id, version, title, collection, content_hash, _now()],
            ).fetchall()[0][0]
            return DatasetUpsert(id=new_id, created=True, changed=True)
        dataset_id, old_version, old_hash = row
        changed = (old_version, old_hash) != (version, content_hash)
        self.con.execute(
            "UPDATE datasets SET version = ?, title = coalesce(?, title),"
            " collection = coalesce(?, collection),"
            " content_hash = ?, updated_at = ? WHERE id = ?",
            [version, title, collection, content_hash, _now(), dataset_id],
        )
        return DatasetUpsert(id=dataset_id, created=False, changed=changed)

    # -- networks and edges --------------------------------------------------------------------------
    def delete_networks(self, network_ids: Iterable[int]) -> int:
        """Delete networks with their edges and node statistics; return how many existed.

        A delta deletes its own rows and records the base's networks among them as superseded.
        """
        ids = sorted(set(int(i) for i in network_ids))
        if not ids:
            return 0
        self._edges.flush(self.con)
        self.con.register("_doomed", pa.table({"id": pa.array(ids, pa.int32())}))
        n = self.con.execute("SELECT count(*) FROM networks WHERE id IN (SELECT id FROM _doomed)").fetchall()[
            0
        ][0]
        for table in PER_NETWORK_TABLES:
            self.con.execute(f"DELETE FROM {table} WHERE network_id IN (SELECT id FROM _doomed)")
        self.con.execute("DELETE FROM networks WHERE id IN (SELECT id FROM _doomed)")
        if self.base is not None:
            self.con.execute(
                "INSERT INTO superseded_networks SELECT id FROM _doomed"
                " WHERE id IN (SELECT id FROM base.networks)"
                " AND id NOT IN (SELECT network_id FROM superseded_networks)"
            )
        self.con.unregister("_doomed")
        self._new_networks = [i for i in self._new_networks if i not in set(ids)]
        if self._ids is not None:
            self._ids.live -= set(ids)
        return n

    def replace_networks(self, dataset_id: int) -> int:
        """Delete every network of a dataset (before adding its new ones); return how many were deleted."""
        rows = self.con.execute("SELECT id FROM networks WHERE dataset_id = ?", [dataset_id]).fetchall()
        return self.delete_networks(r[0] for r in rows)

    def add_network(self, meta: NetworkMeta) -> int:
        """Register a network; its edges follow with ``add_edges``. Returns the network's id.

        The id is the one its group (``schema.identity.network_key``) had in any earlier release, else a new
        one. A release holds one network per group: replace a dataset's networks with ``replace_networks``
        before adding their new versions.
        """
        source = self._dataset_source(meta.dataset_id)
        if meta.model_id is not None and meta.model_id not in self._models:
            found = self.con.execute("SELECT count(*) FROM models WHERE id = ?", [meta.model_id]).fetchall()
            if not found[0][0]:
                msg = f"unknown model_id {meta.model_id}; register the model with add_model first"
                raise ValueError(msg)
            self._models.add(meta.model_id)
        if self._ids is None:
            self._ids = NetworkIds.read(self.con)
        labels = {
            f"{name}{end}": getattr(meta, f"{name}{end}")
            for name in LABEL_NAMES
            for end in ("", "_ontology_term_id")
        }
        key = network_key(*source, labels, meta.model_family)
        network_id = self._ids.by_key.get(key)
        if network_id is None:
            network_id = self.con.execute("SELECT nextval('network_id_seq')").fetchall()[0][0]
            self.con.execute("INSERT INTO network_keys (key, id) VALUES (?, ?)", [key, network_id])
            self._ids.by_key[key] = network_id
        elif network_id in self._ids.live:
            shown = ", ".join(f"{name}={labels[name]!r}" for name in LABEL_NAMES)
            msg = (
                f"dataset {meta.dataset_id} already has network {network_id} for the group {shown} "
                f"(model family {meta.model_family!r}); a release holds one network per group"
            )
            raise ValueError(msg)
        values = {f.name: getattr(meta, f.name) for f in fields(NetworkMeta)}
        values["parameters"] = json.dumps(dict(meta.parameters or {}), sort_keys=True, default=str)
        values.update(id=network_id, key=key, created_at=_now())
        self.con.execute(
            f"INSERT INTO networks ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
        self._ids.live.add(network_id)
        self._new_networks.append(network_id)
        return network_id

    def _dataset_source(self, dataset_id: int) -> tuple[str, str]:
        """(source, source id) of a dataset of this release; ValueError if there is none with this id."""
        if dataset_id not in self._datasets:
            rows = self.con.execute(
                "SELECT source, source_id FROM datasets WHERE id = ?", [dataset_id]
            ).fetchall()
            if not rows:
                msg = f"unknown dataset_id {dataset_id}; register the dataset with upsert_dataset first"
                raise ValueError(msg)
            self._datasets[dataset_id] = rows[0]
        return self._datasets[dataset_id]

    def add_edges(self, network_id: int, edges: pa.Table) -> EdgeLoad:
        """Store all edges of a network added in this release, in one call.

        ``edges`` has columns regulator and target (Ensembl id strings) and weight (float), one row per
        (regulator, target). Genes are mapped to ids by their Ensembl ids; rows naming unknown genes are
        dropped and counted. Rank 1 is the largest weight (ties broken by regulator id, then target id).
        Edges are buffered and appended in batches, prepared by a background thread (see
        ``schema.edgeload``); an error there is raised by a later ``add_edges`` or the block's exit.
        """
        if network_id not in self._new_networks:
            msg = f"network {network_id} was not added in this release; call add_network first"
            raise ValueError(msg)
        if network_id in self._with_edges:
            msg = f"network {network_id} already has edges; give all edges of a network in one call"
            raise ValueError(msg)
        if self._genes is None:
            self._genes = EnsemblIdMap.read(self.con)
        mapped = map_edges(self._genes, network_id, edges)
        self._edges.add(self.con, mapped)
        self._uncommitted += mapped.regulator_id.size
        if self._uncommitted >= COMMIT_EDGES:
            self.con.execute("COMMIT")
            self.con.execute("BEGIN TRANSACTION")
            self._uncommitted = 0
        self._with_edges.add(network_id)
        n_stored, n_unmapped = mapped.regulator_id.size, mapped.n_unmapped
        if n_unmapped:
            log.warning(
                "network %d: %d of %d edges name unknown genes", network_id, n_unmapped, edges.num_rows
            )
        return EdgeLoad(n_edges=n_stored, n_unmapped=n_unmapped)

    # -- reference data ------------------------------------------------------------------------------
    def load_gene_sets(
        self,
        collection: str,
        sets: "str | Path | list[GmtSet]",
        *,
        organism: str = "NCBITaxon:9606",
        source: str | None = None,
        license: str | None = None,
    ) -> GeneSetLoad:
        """Store a gene-set collection (a GMT path or parsed sets), replacing one of the same name.

        Members are mapped to the genes present now: load gene sets after ``upsert_genes``.
        """
        if isinstance(sets, str | Path):
            source = source or Path(sets).name
            sets = read_gmt(sets)
        return load_gene_sets(self.con, collection, sets, organism=organism, source=source, license=license)

    def load_reference_data(self, *, organism: str = "NCBITaxon:9606") -> dict[str, GeneSetLoad]:
        """Mark the Lambert 2018 TFs, store the HGNC / MGI gene synonyms and load the bundled MSigDB
        collections (human; see schema/data)."""
        matched, unmatched = self.mark_tfs(lambert_tfs(), organism=organism)
        log.info("transcription factors: %d matched, %d not in the store", matched, unmatched)
        log.info("gene synonyms: %d stored", self.set_gene_synonyms(gene_synonyms()))
        return {
            name: self.load_gene_sets(
                name, path, organism=organism, source=BUNDLED_SOURCE, license=MSIGDB_LICENSE
            )
            for name, path in BUNDLED_GENE_SETS.items()
        }

    # -- runs ----------------------------------------------------------------------------------------
    # --- ontology closure (analysis): ingestion computes it, schema/ reads no ontology itself ---
    def network_terms(self) -> list[str]:
        """Every label term id the release's networks carry (to compute their closure for)."""
        columns = " UNION ".join(
            f"SELECT {name}_ontology_term_id FROM networks WHERE {name}_ontology_term_id IS NOT NULL"
            for name in LABEL_NAMES
        )
        return sorted(row[0] for row in self.con.execute(columns).fetchall())

    def set_term_closure(self, closure: pa.Table, ontology_version: str) -> int:
        """Replace ``term_ancestors`` by ``closure`` (term_id, ancestor_id, ancestor_name, ontology) and
        record the ontologies' version in the release metadata; returns the rows written."""
        columns = ["term_id", "ancestor_id", "ancestor_name", "ontology"]
        self._replace_rows("term_ancestors", closure, columns, "term closure")
        set_meta(self.con, {"ontology_version": ontology_version})
        return closure.num_rows

    def record_run(
        self,
        *,
        status: str,
        started_at: datetime,
        finished_at: datetime | None = None,
        n_networks: int = 0,
        n_edges: int = 0,
        note: str | None = None,
        details: Mapping | None = None,
    ) -> int:
        """Record an ingestion run in this release; returns the run id."""
        return self.con.execute(
            "INSERT INTO ingest_runs (release_id, status, started_at, finished_at, n_networks, n_edges, note,"
            " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                self.release_id,
                status,
                started_at,
                finished_at or _now(),
                n_networks,
                n_edges,
                note,
                json.dumps(dict(details or {}), sort_keys=True, default=str),
            ],
        ).fetchall()[0][0]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
