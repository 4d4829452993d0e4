"""The whole atlas over plain HTTP: every edge of the release with its network's metadata, streamed.

GET /atlas/edges.parquet | /atlas/edges.tsv, for users who want everything in pandas, polars or DuckDB
rather than pages of GraphQL. Optional query parameters, named as the GraphQL arguments: `minWeight`,
`maxRank`, and the fields of `NetworkFilterInput` (`cellTypes`, `tissues`, `diseases`, `organisms`,
`datasetIds`, `modelIds`, `networkIds`, `keys`, repeated for several values; `text`; `exactTerms=true`),
ontology-aware as the GraphQL filter is. Any other parameter is refused with 400.

A download can take minutes, so it is bounded differently from a GraphQL operation: at most
`Limits.max_downloads` run at once (then 429, at once, not queued), none has the request deadline, and each
holds one cursor of its release (`Release.cursor`) and the release's lease (`ReleaseMiddleware`) until its
last byte, so a publish meanwhile never closes the file under it. Memory stays at about one batch
(`BATCH_ROWS`): DuckDB produces batches as they are read, each is written as one Parquet row group
(or a TSV chunk) and sent before the next is read, and a slow client slows the reading (no buffering).
A client that disconnects stops the query at the next batch. The release id is in the
`X-Scprint-Graph-Release` header, the file name and the Parquet key-value metadata.
"""

import io
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import fields

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.utils.str_converters import to_camel_case

from schema.queries._common import NetworkFilter
from schema.queries.edge_tables import ATLAS_BATCH_ROWS, atlas_edge_batches
from server.errors import UserError
from server.exports import INTEGER, PARAMETERS, check_parameters, number_parameter
from server.releases import Release, Statement
from server.types.filters import NetworkFilterInput

log = logging.getLogger(__name__)

RELEASE_HEADER = "x-scprint-graph-release"
# cellTypes -> cell_types ...: the filter's fields a query string can spell (not the nested `quality`)
QUERY_STRING_TYPES = (bool, str | None, tuple[int, ...], tuple[str, ...])
FILTER_FIELDS = {to_camel_case(f.name): f for f in fields(NetworkFilter) if f.type in QUERY_STRING_TYPES}
ALLOWED = [*PARAMETERS, *FILTER_FIELDS]
BATCH_ROWS = ATLAS_BATCH_ROWS  # rows read, written and sent at a time (tests set it small)
SINGLE = [*PARAMETERS, *(name for name, f in FILTER_FIELDS.items() if f.type in (bool, str | None))]


def network_filter(request: Request) -> NetworkFilter:
    """The request's network filter, read as `NetworkFilterInput` reads GraphQL's (same names and caps)."""
    values: dict = {}
    for name, f in FILTER_FIELDS.items():
        given = request.query_params.getlist(name)
        if not given:
            continue
        if f.type is bool:
            if given[0] not in ("true", "false"):
                msg = f"query parameter {name} must be true or false, got {given[0][:40]!r}"
                raise UserError(msg)
            values[f.name] = given[0] == "true"
        elif f.type == str | None:
            values[f.name] = given[0]
        elif f.type == tuple[int, ...]:
            bad = [v for v in given if not INTEGER.fullmatch(v)]
            if bad:
                msg = f"query parameter {name} takes integer ids, got {bad[0][:40]!r}"
                raise UserError(msg)
            values[f.name] = [int(v) for v in given]
        else:
            values[f.name] = given
    return NetworkFilterInput(**values).to_store()


def _options(request: Request) -> dict:
    """`atlas_edge_batches` keyword arguments from the query string; `UserError` for anything wrong."""
    check_parameters(request, ALLOWED, "the atlas download")
    repeated = [name for name in SINGLE if len(request.query_params.getlist(name)) > 1]
    if repeated:
        msg = f"query parameter {repeated[0]} is given more than once; it takes one value"
        raise UserError(msg)
    return {
        "where": network_filter(request),
        "min_weight": number_parameter(request, "minWeight", float),
        "max_rank": number_parameter(request, "maxRank", int),
    }


class _Chunks:
    """A write-only file that keeps what was written until `take`: the Parquet writer's sink."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing to flush: `take` hands the bytes on."""

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _parquet(batches: pa.RecordBatchReader, metadata: dict[str, str]) -> Iterator[bytes]:
    """One row group per batch, each yielded once written; the footer (with `metadata`) last."""
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, batches.schema.with_metadata(metadata), compression="zstd")
    for batch in batches:
        writer.write_batch(batch)
        yield sink.take()
    writer.close()
    yield sink.take()


def _tsv(batches: pa.RecordBatchReader, metadata: dict[str, str]) -> Iterator[bytes]:
    """A header line, then each batch's rows (quoted only where a value needs it, nulls empty)."""
    header = ("\t".join(batches.schema.names) + "\n").encode()
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="needed", include_header=False)
    for batch in batches:
        sink = io.BytesIO()
        pacsv.write_csv(batch, sink, write_options=options)
        yield header + sink.getvalue()
        header = b""
    if header:
        yield header  # no edge matched: the header alone


FORMATS: dict[str, tuple[str, Callable]] = {
    "edges.parquet": ("application/vnd.apache.parquet", _parquet),
    "edges.tsv": ("text/tab-separated-values", _tsv),
}


def _stream(
    release: Release, statement: Statement, render: Callable, query: dict, metadata: dict[str, str]
) -> Iterator[bytes]:
    """The download's bytes, read on one cursor of `release` held until the generator ends or is closed."""
    with release.cursor(statement) as cursor:
        yield from render(atlas_edge_batches(cursor, **query, batch_rows=BATCH_ROWS), metadata)


class Slots:
    """How many downloads run now, against `Limits.max_downloads` (event-loop only: no lock needed)."""

    def __init__(self) -> None:
        self.running = 0

    def take(self, limit: int) -> bool:
        if self.running >= limit:
            return False
        self.running += 1
        return True

    def give_back(self) -> None:
        self.running -= 1


class DownloadResponse(StreamingResponse):
    """A streamed download whose `finish` runs however the response ends: done, failed or disconnected."""

    def __init__(self, chunks: Iterator[bytes], finish: Callable[[], None], **kwargs) -> None:
        super().__init__(chunks, **kwargs)
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._finish()


def atlas_routes() -> list[Route]:
    """The download routes, with their own count of running downloads (one per app)."""
    slots = Slots()

    async def download(request: Request) -> Response:
        """Stream the atlas in the format the path names; 400/404/429 as plain text before any byte."""
        name = request.path_params["format"]
        if name not in FORMATS:
            return PlainTextResponse(f"unknown download {name!r}; choose from {', '.join(FORMATS)}", 404)
        media_type, render = FORMATS[name]
        try:
            options = _options(request)
        except UserError as error:
            return PlainTextResponse(str(error), status_code=400)
        release: Release = request.state.release
        filename = f"atlas-{release.release_id}-{name}"
        headers = {
            "content-disposition": f'attachment; filename="{filename}"',
            RELEASE_HEADER: release.release_id,
        }
        if request.method == "HEAD":  # the headers alone: reading the atlas for no body would be a waste
            return Response(media_type=media_type, headers=headers)
        limit = request.app.state.limits.max_downloads
        if not slots.take(limit):
            message = f"{limit} atlas downloads are running, the most at once: retry in a minute"
            return PlainTextResponse(message, status_code=429, headers={"retry-after": "60"})
        filters = {k: request.query_params.getlist(k) for k in request.query_params}
        metadata = {
            "scprint_graph.release": release.release_id,
            "scprint_graph.filters": json.dumps(filters, sort_keys=True),
        }
        statement = Statement()
        chunks = _stream(release, statement, render, options, metadata)
        log.info("atlas download %s of release %s, filters %s", name, release.release_id, filters)

        def finish() -> None:
            statement.interrupt()  # a cursor left mid-result is closed, not pooled; a no-op once done
            chunks.close()
            slots.give_back()

        try:
            first = await run_in_threadpool(next, chunks)  # runs the query: its errors are still a 400
        except BaseException as error:
            finish()
            if isinstance(error, UserError | ValueError):
                return PlainTextResponse(str(error), status_code=400)
            raise
        return DownloadResponse(
            itertools.chain([first], chunks), finish, media_type=media_type, headers=headers
        )

    return [Route("/atlas/{format:str}", download, methods=["GET"], name="atlas")]
