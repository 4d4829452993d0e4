"""A small Python client of a scPRINT-graph server: GraphQL queries, pages followed, answers as DataFrames.

    from scprint_graph.client import Client
    atlas = Client("http://127.0.0.1:8000")
    atlas.regulators("CD3E", tissues=["blood"], max_rank=5000)     # a DataFrame, every page
    atlas.atlas_edges(cell_types=["T cell"], max_rank=100)          # the whole-atlas download (Parquet)

Only the standard library (`urllib`, `json`) and pandas: nothing to install beyond the package. Network
filters are keyword arguments named as `NetworkFilterInput`'s fields in snake case (`cell_types`, `tissues`,
`diseases`, `organisms`, `network_ids`, `keys`, `text`, `exact_terms`, ...); the server checks them, so an
unknown one is the server's clear error. Failures raise `ServerUnreachable` (nothing answers at the URL),
`HTTPStatusError` (a 4xx/5xx, with the server's message) or `GraphQLResponseError` (the errors of a 200).
"""

import http.client
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 200  # nodes per page: keeps a page's cost under the server's expensive lane (5,000)
RELEASE_HEADER = "x-scprint-graph-release"
COPY_CHUNK = 1 << 20


class ClientError(Exception):
    """Anything that kept the client from an answer."""


class ServerUnreachable(ClientError, ConnectionError):
    """Nothing answered at the server's URL (refused, unknown host, timed out)."""


class HTTPStatusError(ClientError):
    """The server answered with an HTTP error status; `message` is what it said."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {message}")
        self.status, self.message, self.url = status, message, url


class GraphQLResponseError(ClientError):
    """The server answered, with GraphQL errors: `errors` as sent, `data` whatever part did answer."""

    def __init__(self, errors: list[dict], data: dict | None) -> None:
        messages = "; ".join(str(e.get("message", e)) for e in errors)
        super().__init__(f"the query failed: {messages}")
        self.errors, self.data = errors, data


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def network_filter(filters: dict[str, Any]) -> dict[str, Any] | None:
    """A `NetworkFilterInput` from snake-case keyword arguments; a lone string is a one-value list."""
    if not filters:
        return None
    return {
        _camel(name): [value] if isinstance(value, str) and name != "text" else value
        for name, value in filters.items()
        if value is not None
    }


def _server_message(body: bytes) -> str:
    """The message of an error body: GraphQL's `{"errors": [...]}` or plain text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        errors = json.loads(text)["errors"]
        return "; ".join(str(e.get("message", e)) for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        return text[:500] or "(no message)"


class Client:
    """A scPRINT-graph server at `url` (its root, e.g. http://127.0.0.1:8000).

    `page_size` is the `first` of each page `paginate` asks for; `timeout` the seconds one request may
    take to answer (a download's reading is not bounded by it, only each wait for bytes).
    """

    def __init__(self, url: str, *, page_size: int = DEFAULT_PAGE_SIZE, timeout: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            msg = f"the server URL must start with http:// or https://, got {url!r}"
            raise ValueError(msg)
        self.url = url.rstrip("/")
        self.page_size = page_size
        self.timeout = timeout

    # -- transport -------------------------------------------------------------------------------------

    def _fetch(self, request: urllib.request.Request, read: Callable[[Any], T]) -> T:
        """`read(response)` of the answer to `request`, or the client's error for whatever went wrong."""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return read(response)
        except urllib.error.HTTPError as error:
            with error:
                raise HTTPStatusError(error.code, _server_message(error.read()), request.full_url) from None
        except urllib.error.URLError as error:
            msg = f"cannot reach the scPRINT-graph server at {self.url}: {error.reason}"
            raise ServerUnreachable(msg) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            msg = f"the answer from {request.full_url} was cut short (timeout {self.timeout} s): {error!r}"
            raise ClientError(msg) from None

    def query(self, document: str, variables: dict | None = None) -> dict:
        """The `data` of one GraphQL operation; `GraphQLResponseError` if the answer has errors."""
        body = json.dumps({"query": document, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=body,
            headers={"content-type": "application/json", "accept": "application/json"},
            method="POST",
        )
        answer = self._fetch(request, lambda response: json.loads(response.read()))
        if answer.get("errors"):
            raise GraphQLResponseError(answer["errors"], answer.get("data"))
        return answer["data"]

    def paginate(
        self,
        document: str,
        variables: dict | None = None,
        path: str | Sequence[str] = (),
        *,
        unknown: list[str] | None = None,
    ) -> Iterator[dict]:
        """Every node of the connection at `path` (e.g. "gene.regulators"), one page after the other.

        The document declares `$first: Int` and `$after: String` and passes them to that connection,
        which selects `nodes { ... }` and `pageInfo { endCursor hasNextPage }`. `LookupError` if a field
        on the way is null (e.g. an unknown gene). When `unknown` is a list, the connection's
        `unknownGenes` of the first page are appended to it.
        """
        keys = path.split(".") if isinstance(path, str) else list(path)
        if not keys:
            msg = "paginate needs the path of the connection in the answer, e.g. 'gene.regulators'"
            raise ValueError(msg)
        after = None
        while True:
            connection: Any = self.query(
                document, {**(variables or {}), "first": self.page_size, "after": after}
            )
            for depth, key in enumerate(keys):
                connection = connection[key]
                if connection is None:
                    msg = f"{'.'.join(keys[: depth + 1])} is null in the answer (nothing by that name?)"
                    raise LookupError(msg)
            if unknown is not None and after is None:
                unknown += connection.get("unknownGenes") or []
            yield from connection["nodes"]
            info = connection["pageInfo"]
            if not info["hasNextPage"]:
                return
            after = info["endCursor"]

    # -- the README's questions as DataFrames ------------------------------------------------------------

    def networks(self, **filters: Any) -> pd.DataFrame:
        """The networks matching the filter, one row each (labels with their ontology term ids)."""
        document = (
            "query($filter: NetworkFilterInput, $first: Int, $after: String) {"
            " networks(filter: $filter, first: $first, after: $after) {"
            f" nodes {{ id key modelFamily {_TERMS} nCells nGenes nEdges }}"
            " pageInfo { endCursor hasNextPage } } }"
        )
        nodes = self.paginate(document, {"filter": network_filter(filters)}, "networks")
        return _frame(nodes, NETWORK_COLUMNS)

    def regulators(self, genes: str | Sequence[str], **options: Any) -> pd.DataFrame:
        """The regulators of a gene or a gene list in every matching network, by gene, network and rank.

        `options`: `min_weight`, `max_rank`, `known_only`, `novel_only`, `transcription_factors_only` and
        the network filter's fields (`tissues=["blood"]`). Names the atlas does not know are in
        `frame.attrs["unknown_genes"]`; a single unknown gene is a `LookupError`.
        """
        return self._regulations("regulators", genes, options)

    def targets(self, genes: str | Sequence[str], **options: Any) -> pd.DataFrame:
        """The targets of a gene or a gene list in every matching network (options as `regulators`)."""
        return self._regulations("targets", genes, options)

    def _regulations(self, field: str, genes: str | Sequence[str], options: dict) -> pd.DataFrame:
        names = [genes] if isinstance(genes, str) else list(genes)
        edge_options = {name: options.pop(name) for name in EDGE_OPTIONS if name in options}
        document = (
            "query($genes: [String!]!, $filter: NetworkFilterInput, $minWeight: Float, $maxRank: Int,"
            " $knownOnly: Boolean! = false, $novelOnly: Boolean! = false, $tfs: Boolean! = false,"
            " $first: Int, $after: String) {"
            f" {field}(genes: $genes, filter: $filter, minWeight: $minWeight, maxRank: $maxRank,"
            " knownOnly: $knownOnly, novelOnly: $novelOnly, transcriptionFactorsOnly: $tfs, first: $first,"
            " after: $after) {"
            " nodes { networkId weight rank cellType tissue disease organism"
            " regulator { symbol ensemblId isTranscriptionFactor }"
            " target { symbol ensemblId isTranscriptionFactor } }"
            " unknownGenes pageInfo { endCursor hasNextPage } } }"
        )
        variables = {
            "genes": names,
            "filter": network_filter(options),
            "minWeight": edge_options.get("min_weight"),
            "maxRank": edge_options.get("max_rank"),
            "knownOnly": bool(edge_options.get("known_only", False)),
            "novelOnly": bool(edge_options.get("novel_only", False)),
            "tfs": bool(edge_options.get("transcription_factors_only", False)),
        }
        unknown: list[str] = []
        nodes = list(self.paginate(document, variables, field, unknown=unknown))
        if isinstance(genes, str) and unknown:
            msg = f"unknown gene {genes!r}: no gene of the atlas has this symbol, synonym or Ensembl id"
            raise LookupError(msg)
        sides = " ".join(
            f"{s}_symbol {s}_ensembl_id {s}_is_transcription_factor" for s in ("regulator", "target")
        )
        frame = _frame(nodes, f"network_id {sides} weight rank cell_type tissue disease organism")
        frame.attrs["unknown_genes"] = unknown
        return frame

    def edges(
        self,
        network_id: int,
        *,
        min_weight: float | None = None,
        regulator: str | None = None,
        target: str | None = None,
    ) -> pd.DataFrame:
        """The edges of one network by rank (all of them: for a whole network the TSV export is faster)."""
        document = (
            "query($id: Int!, $minWeight: Float, $regulator: String, $target: String, $first: Int,"
            " $after: String) { network(id: $id) {"
            " edges(minWeight: $minWeight, regulator: $regulator, target: $target, first: $first,"
            " after: $after)"
            " { nodes { weight rank regulator { symbol ensemblId } target { symbol ensemblId } }"
            " pageInfo { endCursor hasNextPage } } } }"
        )
        variables = {"id": network_id, "minWeight": min_weight, "regulator": regulator, "target": target}
        try:
            nodes = list(self.paginate(document, variables, ("network", "edges")))
        except LookupError:
            msg = f"unknown network id {network_id}"
            raise LookupError(msg) from None
        return _frame(nodes, EDGE_COLUMNS)

    def enrichment(
        self,
        genes: Sequence[str],
        *,
        collections: Sequence[str] | None = None,
        background: Sequence[str] | None = None,
        min_set_size: int = 5,
        first: int | None = None,
    ) -> pd.DataFrame:
        """Gene sets over-represented in `genes` (hypergeometric, BH FDR), most significant first."""
        document = (
            "query($genes: [String!], $collections: [String!], $background: [String!], $minSetSize: Int!,"
            " $first: Int) { enrichment(genes: $genes, collections: $collections, background: $background,"
            " minSetSize: $minSetSize, first: $first) {"
            " results { geneSet collection overlap querySize setSize universeSize pValue oddsRatio fdr"
            " overlapGenes { symbol } } } }"
        )
        variables = {
            "genes": list(genes),
            "collections": collections,
            "background": background,
            "minSetSize": min_set_size,
            "first": first,
        }
        results = self.query(document, variables)["enrichment"]["results"]
        return _frame(results, ENRICHMENT_COLUMNS)

    def enriched_regulators(
        self,
        genes: Sequence[str],
        *,
        min_targets: int = 5,
        min_overlap: int = 2,
        first: int | None = None,
        **filters: Any,
    ) -> pd.DataFrame:
        """Regulators whose targets are enriched in `genes`, per matching network, most significant first."""
        document = (
            "query($genes: [String!]!, $filter: NetworkFilterInput, $minTargets: Int!, $minOverlap: Int!,"
            " $first: Int) { enrichedRegulators(genes: $genes, filter: $filter, minTargets: $minTargets,"
            " minOverlap: $minOverlap, first: $first) {"
            " results { networkId overlap targetCount pValue oddsRatio fdr regulator { symbol }"
            " network { cellType { label } tissue { label } disease { label } } } } }"
        )
        variables = {
            "genes": list(genes),
            "filter": network_filter(filters),
            "minTargets": min_targets,
            "minOverlap": min_overlap,
            "first": first,
        }
        results = self.query(document, variables)["enrichedRegulators"]["results"]
        return _frame(results, REGULATOR_ENRICHMENT_COLUMNS)

    # -- the whole-atlas download ------------------------------------------------------------------------

    def download_atlas(
        self,
        path: str | Path,
        *,
        format: str = "parquet",
        min_weight: float | None = None,
        max_rank: int | None = None,
        **filters: Any,
    ) -> str:
        """Stream GET /atlas/edges.{format} (parquet or tsv) into `path`; returns the release id."""
        if format not in ("parquet", "tsv"):
            msg = f"format must be 'parquet' or 'tsv', got {format!r}"
            raise ValueError(msg)
        params = {"minWeight": min_weight, "maxRank": max_rank, **(network_filter(filters) or {})}
        query = urllib.parse.urlencode(
            [
                (name, _parameter(value))
                for name, values in params.items()
                if values is not None
                for value in (values if isinstance(values, list | tuple) else [values])
            ]
        )
        url = f"{self.url}/atlas/edges.{format}" + (f"?{query}" if query else "")

        def save(response) -> str:
            with open(path, "wb") as sink:
                shutil.copyfileobj(response, sink, COPY_CHUNK)
            if response.length:  # short of its Content-Length (a cut chunked body raises by itself)
                raise http.client.IncompleteRead(b"", response.length)
            return response.headers.get(RELEASE_HEADER, "")

        return self._fetch(urllib.request.Request(url), save)

    def atlas_edges(
        self, *, min_weight: float | None = None, max_rank: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """The atlas's edges with their networks' metadata as one DataFrame (read from the Parquet download).

        Everything matching is held in memory: filter, or use `download_atlas` and read the file with
        DuckDB or polars, for a large atlas. The release id is in `frame.attrs["release"]`.
        """
        with tempfile.TemporaryDirectory(prefix="scprint-graph-") as folder:
            path = Path(folder) / "edges.parquet"
            release = self.download_atlas(path, min_weight=min_weight, max_rank=max_rank, **filters)
            frame = pd.read_parquet(path)
        frame.attrs["release"] = release
        return frame


_TERMS = " ".join(f"{name} {{ label termId }}" for name in ("cellType", "tissue", "disease", "organism"))
# the columns of each frame, space-separated (they are there even when no row is)
NETWORK_COLUMNS = (
    "id key model_family cell_type cell_type_term_id tissue tissue_term_id disease disease_term_id organism"
    " organism_term_id n_cells n_genes n_edges"
)
EDGE_OPTIONS = ("min_weight", "max_rank", "known_only", "novel_only", "transcription_factors_only")
EDGE_COLUMNS = "regulator_symbol regulator_ensembl_id target_symbol target_ensembl_id weight rank"
ENRICHMENT_COLUMNS = (
    "gene_set collection overlap query_size set_size universe_size p_value odds_ratio fdr overlap_genes"
)
REGULATOR_ENRICHMENT_COLUMNS = (
    "network_id regulator_symbol network_cell_type network_tissue network_disease overlap target_count"
    " p_value odds_ratio fdr"
)


def _snake_name(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _flatten(value: dict, prefix: str = "") -> dict:
    """A GraphQL object as one flat row of snake-case names: nested fields joined by "_"
    (`regulator { ensemblId }` -> regulator_ensembl_id), an ontology term's `label` under its field's own
    name (`cellType { label termId }` -> cell_type, cell_type_term_id), a list of objects as a list of
    their one field (`overlapGenes { symbol }` -> a list of symbols)."""
    row: dict = {}
    for key, item in value.items():
        name = "_".join(part for part in (prefix, "" if key == "label" else _snake_name(key)) if part)
        if isinstance(item, dict):
            row.update(_flatten(item, name))
        elif isinstance(item, list):
            row[name] = [next(iter(x.values())) if isinstance(x, dict) else x for x in item]
        else:
            row[name] = item
    return row


def _parameter(value: Any) -> str:
    """A query-string value as the download reads it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _frame(nodes, columns: str) -> pd.DataFrame:
    """GraphQL objects, flattened, in `columns` (space-separated names; there even when no row is)."""
    return pd.DataFrame([_flatten(node) for node in nodes], columns=columns.split())
