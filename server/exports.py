"""A network over plain HTTP beside GraphQL: edges as TSV, the graph as GraphML, regulons as GMT.

GET /networks/{id}/edges.tsv | network.graphml | regulons.gmt, with the optional query parameters
`minWeight` and `maxRank`: the names, meanings and formats of the GraphQL arguments. Any other parameter is
refused (a misspelt filter must not return the whole network silently). Each export is one bulk read
(Arrow) in the thread pool, capped at `Limits.max_export_edges` edges: past the cap the client is told to
narrow with maxRank or minWeight. Every format carries the network's metadata (`network_metadata`): TSV
as trailing columns repeated on every row (so exports of several networks concatenate), GraphML as graph
attributes (and a transcription-factor flag per node), GMT in each regulon's description.
"""

import io
import re
from collections.abc import Callable

import networkx as nx
import pyarrow as pa
import pyarrow.csv as pacsv
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from schema.queries.edge_tables import network_edges_table
from schema.queries.evidence import network_quality
from schema.queries.meta import list_models
from schema.queries.networks import networks_by_ids
from schema.rows import NetworkRow
from server.errors import UserError

EDGE_COLUMNS = [
    "regulator_ensembl_id",
    "regulator_symbol",
    "target_ensembl_id",
    "target_symbol",
    "weight",
    "rank",
    "known_in",
]
METADATA = ["network_id", "cell_type", "tissue", "disease", "organism", "model", "release"]
TSV_COLUMNS = EDGE_COLUMNS + METADATA

# ASCII only and nothing Python's int()/float() would also forgive (spaces, '+', '_', other digits)
INTEGER = re.compile(r"[0-9]{1,18}", flags=re.ASCII)
NUMBER = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]{1,3})?", flags=re.ASCII)
PARAMETERS: dict[str, Callable] = {"minWeight": float, "maxRank": int}  # as the GraphQL arguments


def number_parameter(request: Request, name: str, kind: Callable) -> float | int | None:
    """The query parameter `name` as `kind` (int or float), None when absent; `UserError` if malformed."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not (INTEGER if kind is int else NUMBER).fullmatch(raw):
        msg = f"query parameter {name} must be a{'n integer' if kind is int else ' number'}, got {raw[:40]!r}"
        raise UserError(msg)
    return kind(raw)


def check_parameters(request: Request, allowed=PARAMETERS, what: str = "an export") -> None:
    """`UserError` naming any query parameter not in `allowed` (and what `what` takes instead)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        msg = (
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}: {what} takes "
            f"{', '.join(allowed)}, named as the GraphQL arguments"
        )
        raise UserError(msg)


async def network_metadata(request: Request, row: NetworkRow) -> dict:
    """What identifies the network's edges (labels, model, release) and its quality lines."""
    release = request.state.release
    models = {m.id: m.name for m in await release.run(list_models)}
    quality = (await release.run(network_quality, [row.id]))[row.id]
    return {
        "quality": [f"quality vs {q.source} ({q.scope} pairs): {q.badge}" for q in quality],
        "network_id": row.id,
        "cell_type": row.cell_type or "",
        "tissue": row.tissue or "",
        "disease": row.disease or "",
        "organism": row.organism or "",
        "model": models.get(row.model_id, "") if row.model_id is not None else "",
        "release": release.release_id,
    }


async def _edges(request: Request) -> tuple[dict, pa.Table]:
    """The path's network metadata and its edges under the request's filters; `UserError` if unknown."""
    check_parameters(request)
    raw_id = request.path_params["network_id"]
    if not INTEGER.fullmatch(raw_id):
        msg = f"network id must be an integer, got {raw_id[:40]!r}"
        raise UserError(msg)
    network_id = int(raw_id)
    min_weight = number_parameter(request, "minWeight", float)
    max_rank = number_parameter(request, "maxRank", int)
    release = request.state.release
    limit = request.app.state.limits.max_export_edges
    (row,) = await release.run(networks_by_ids, [network_id])
    if row is None:
        msg = f"unknown network id {network_id}"
        raise LookupError(msg)
    table = await release.run(
        network_edges_table, network_id, min_weight=min_weight, max_rank=max_rank, limit=limit + 1
    )
    if table.num_rows > limit:
        msg = f"network {network_id} has over {limit} edges under these filters: set maxRank or minWeight"
        raise UserError(msg)
    return await network_metadata(request, row), table


def _tsv(metadata: dict, table: pa.Table) -> bytes:
    """Tab-separated edges; the network's quality first, as ``#`` lines (``pandas.read_csv(comment="#")``)."""
    for name in METADATA:
        value = metadata[name]
        kind = pa.int64() if isinstance(value, int) else pa.string()
        table = table.append_column(name, pa.array([value] * table.num_rows, type=kind))
    sink = io.BytesIO()
    sink.write("".join(f"# {line}\n" for line in metadata["quality"]).encode())
    sink.write(("\t".join(TSV_COLUMNS) + "\n").encode())
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    pacsv.write_csv(table.select(TSV_COLUMNS), sink, write_options=options)
    return sink.getvalue()


def _graphml(metadata: dict, table: pa.Table) -> bytes:
    graph = nx.DiGraph(
        **{k: v for k, v in metadata.items() if k != "quality"}, quality="; ".join(metadata["quality"])
    )
    columns = table.to_pydict()
    for side in ("regulator", "target"):
        for ensembl, symbol, is_tf in zip(
            columns[f"{side}_ensembl_id"], columns[f"{side}_symbol"], columns[f"{side}_is_tf"], strict=True
        ):
            graph.add_node(ensembl, symbol=symbol or "", is_transcription_factor=bool(is_tf))
    for regulator, target, weight, rank, known in zip(
        columns["regulator_ensembl_id"],
        columns["target_ensembl_id"],
        columns["weight"],
        columns["rank"],
        columns["known_in"],
        strict=True,
    ):
        graph.add_edge(regulator, target, weight=float(weight), rank=int(rank), known_in=known)
    return "\n".join(nx.generate_graphml(graph)).encode()


def _gmt(metadata: dict, table: pa.Table) -> bytes:
    """One line per regulator: `<symbol>_network<id>`, a description, then its targets' symbols by rank."""
    columns = table.to_pydict()
    network_id = metadata["network_id"]
    labels = ", ".join(str(metadata[k]) for k in ("cell_type", "tissue", "disease") if metadata[k])
    regulons: dict[tuple[str, str], list[str]] = {}
    for reg_id, reg_symbol, target_id, target_symbol in zip(
        columns["regulator_ensembl_id"],
        columns["regulator_symbol"],
        columns["target_ensembl_id"],
        columns["target_symbol"],
        strict=True,
    ):
        regulons.setdefault((reg_id, reg_symbol or reg_id), []).append(target_symbol or target_id)
    lines = [
        "\t".join(
            [
                f"{symbol}_network{network_id}",
                f"targets of {symbol} ({ensembl}) in network {network_id} ({labels}; "
                f"model {metadata['model'] or 'unknown'}; release {metadata['release']})",
                *targets,
            ]
        )
        for (ensembl, symbol), targets in regulons.items()
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""


FORMATS = {
    "edges.tsv": ("text/tab-separated-values", _tsv),
    "network.graphml": ("application/graphml+xml", _graphml),
    "regulons.gmt": ("text/plain", _gmt),
}


async def export(request: Request) -> Response:
    """Render one network in the format its path names; errors as plain text with a 4xx status."""
    name = request.path_params["format"]
    if name not in FORMATS:
        return PlainTextResponse(
            f"unknown export {name!r}; choose from {', '.join(FORMATS)}", status_code=404
        )
    media_type, render = FORMATS[name]
    try:
        metadata, table = await _edges(request)
    except UserError as error:
        return PlainTextResponse(str(error), status_code=400)
    except LookupError as error:
        return PlainTextResponse(str(error.args[0]), status_code=404)
    body = await run_in_threadpool(render, metadata, table)
    filename = f"network{metadata['network_id']}_{name}"
    return Response(
        body, media_type=media_type, headers={"content-disposition": f'attachment; filename="{filename}"'}
    )


def export_routes() -> list[Route]:
    """The routes of the exports (they need a release leased in `request.state.release`)."""
    pattern = "{format:str}"
    return [Route(f"/networks/{{network_id}}/{pattern}", export, methods=["GET"], name="export")]
