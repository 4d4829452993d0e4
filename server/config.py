"""Server settings: the request limits and where the releases live.

Every setting is documented because clients meet the limits as errors and operators set the rest;
`tests/server/test_config.py` fails if a field lacks an entry in the docstring of its class.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Limits that keep one request from monopolising the server.

    Attributes
    ----------
    max_depth
        Deepest nesting of selections in one operation, root fields being depth 0 (introspection excepted).
    max_introspection_depth
        Deepest nesting allowed for introspection (`__schema`, `__type`): GraphiQL's query needs about 13.
    max_aliases
        Most aliased fields in one document (aliases multiply work without adding depth).
    max_fragment_spreads
        Most fragment spreads (`...Name`) in one document.
    max_tokens
        Most lexical tokens in one document (parsing a huge document is itself a denial of service).
    max_page_size
        Hard cap on any `first` / `topK` argument; larger values are an error, not a silent clamp.
    default_page_size
        Page size used when a client leaves `first` out.
    max_cost
        Ceiling on the estimated cost of an operation: each field costs 1, a paginated field costs
        `first` times the cost of its selection (as the Open Targets and gnomAD APIs do), a gene list
        costs per gene, and enrichments and comparisons add a fixed charge (server/limits.py).
    expensive_cost
        Operations estimated at this cost or more run in the expensive lane (see `max_expensive`).
    max_concurrent
        Operations of the cheap lane executing at once; more wait in a queue served fairly by client.
    max_expensive
        Operations of the expensive lane executing at once, so a few costly queries cannot starve the
        cheap ones of threads and cores.
    max_queued_per_client
        Operations one client (IP address) may have waiting in a lane; past it the request is refused
        with 429. Generous, as many users may share one address (a NAT, a proxy, a notebook server).
    deadline_s
        Seconds one request may take, queueing included; past it the running DuckDB statement is
        interrupted and the client gets an error.
    max_response_bytes
        Largest JSON response; a larger one is replaced by an error asking for smaller pages.
    max_gene_list
        Most genes in a user-supplied gene list or background.
    max_export_edges
        Most edges in one plain-HTTP export (TSV, GraphML, GMT) of a network.
    max_downloads
        Whole-atlas downloads (GET /atlas/edges.parquet, /atlas/edges.tsv) streaming at once; one more is
        refused with 429 at once. Each holds a DuckDB cursor and a worker thread while it reads, for minutes
        on a large atlas, and has no deadline (a slow client slows its reading, nothing is buffered).
    max_body_bytes
        Largest request body accepted (a GraphQL document with its variables).
    """

    max_depth: int = 10
    max_introspection_depth: int = 15
    max_aliases: int = 20
    max_fragment_spreads: int = 100
    max_tokens: int = 2_000
    max_page_size: int = 1_000
    default_page_size: int = 50
    max_cost: int = 100_000
    expensive_cost: int = 5_000
    max_concurrent: int = 16
    max_expensive: int = 1
    max_queued_per_client: int = 64
    deadline_s: float = 10.0
    max_gene_list: int = 5_000
    max_export_edges: int = 2_000_000
    max_downloads: int = 2
    max_body_bytes: int = 1_048_576
    max_response_bytes: int = 8_388_608

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "deadline_s":
                if not isinstance(value, int | float) or not 0 < value < 3600:
                    msg = f"Limits.deadline_s must lie in (0, 3600) seconds, got {value!r}"
                    raise ValueError(msg)
            elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                msg = f"Limits.{f.name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        if not 1 <= self.default_page_size <= self.max_page_size:
            msg = (
                f"Limits.default_page_size must lie in [1, max_page_size={self.max_page_size}], "
                f"got {self.default_page_size!r}"
            )
            raise ValueError(msg)


@dataclass(frozen=True)
class ServerConfig:
    """What `create_app` needs.

    Attributes
    ----------
    db
        The store root: the folder holding releases/ and the pointer file CURRENT.
    limits
        Request limits, see `Limits`.
    pool_size
        Idle read-only DuckDB connections kept per release (more are opened under load and closed after).
    release_check_s
        How often, at most, a request checks the pointer file for a newly published release.
    graphiql
        Serve the GraphiQL IDE on GET /graphql.
    duckdb_threads
        DuckDB worker threads per release (None: DuckDB's default, one per core). The server's concurrency
        comes from many small queries at once, so 1 often serves better than intra-query parallelism.
    cors_origins
        Origins whose browser pages may call the API (GET/POST, no credentials); ("*",) (the default)
        allows any, as public read-only APIs do, () none. The API holds no user data and reads no cookies.
    """

    db: Path
    limits: Limits = field(default_factory=Limits)
    pool_size: int = 4
    release_check_s: float = 0.5
    graphiql: bool = True
    duckdb_threads: int | None = None
    cors_origins: tuple[str, ...] = ("*",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "db", Path(self.db))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.pool_size < 1:
            msg = f"ServerConfig.pool_size must be >= 1, got {self.pool_size!r}"
            raise ValueError(msg)
        if self.duckdb_threads is not None and self.duckdb_threads < 1:
            msg = f"ServerConfig.duckdb_threads must be >= 1, got {self.duckdb_threads!r}"
            raise ValueError(msg)
        if self.release_check_s < 0:
            msg = f"ServerConfig.release_check_s must be >= 0, got {self.release_check_s!r}"
            raise ValueError(msg)
