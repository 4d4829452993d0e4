"""The starlette application: GraphQL (+ GraphiQL) at /graphql, exports, the atlas, /healthz and the page.

    create_app(ServerConfig(db="atlas/"))  ->  an ASGI app for uvicorn or an in-process httpx client.

Requests that read data lease the current release in `ReleaseMiddleware` (the one place that does), so a
publish during a request never changes what that request reads, and new requests see the new release.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL, HTTPException
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from schema.release import NoReleaseError, SchemaVersionError, Store
from server.admission import Admission, BusyError
from server.api import build_schema
from server.atlas import atlas_routes
from server.config import Limits, ServerConfig
from server.context import Context, deadline_message
from server.errors import UserError
from server.exports import export_routes
from server.limits import Prepared, PreparedDocuments, check_cost, check_variables, operation_cost
from server.releases import Releases
from server.web import graphiql_page, web_routes

log = logging.getLogger(__name__)

LEASED_PREFIXES = ("/graphql", "/networks/", "/atlas/")
DEADLINE_GRACE_S = 0.5  # past the deadline, the statement interrupt has this long to end the operation
INLINE_ANALYSIS_BYTES = 4096
"""A request at most this long whose document is prepared already is priced on the event loop: checking its
variables and pricing it take microseconds, the trip to a worker thread about a millisecond of a 10 ms
request (2-core dev box). Longer requests, and documents not yet prepared, are analysed off the loop."""


class BadRequest(Exception):
    """A request body the API cannot read; answered 400 (or `status`) with its message as JSON."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error_body(message: str) -> dict:
    """The one error format of the API: GraphQL's `{"errors": [{"message": ...}]}`."""
    return {"errors": [{"message": message}]}


def read_json_object(data: str | bytes) -> dict:
    """A request's JSON object, or `BadRequest` naming what is wrong (encoding, syntax, nesting, type)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            msg = f"the request body is not valid UTF-8 (byte {error.start})"
            raise BadRequest(msg) from None
    try:
        value = json.loads(data)
    except RecursionError:
        msg = "the request body nests JSON too deeply"
        raise BadRequest(msg) from None
    except json.JSONDecodeError as error:
        msg = f"the request body is not valid JSON: {error.msg} at position {error.pos}"
        raise BadRequest(msg) from None
    if not isinstance(value, dict):
        msg = f"the request body must be a JSON object, got {type(value).__name__}: {data[:40]!r}"
        raise BadRequest(msg)
    return value


class GraphQLApp(GraphQL):
    """strawberry's ASGI view with our typed context, strict bodies and the limits applied off-loop.

    Before strawberry runs an operation, `execute_operation` parses, validates and prices it in a worker
    thread (`server.limits.prepare`, kept per query text in `PreparedDocuments`; a short request with a
    document prepared before is priced on the loop, `INLINE_ANALYSIS_BYTES`), admits it to a lane by its cost
    (`server.admission`) and holds it to the request's deadline; strawberry then executes the prepared
    document (`UsePrepared` in server/api.py) without parsing or validating it again.
    """

    def __init__(self, limits: Limits, *, graphiql: bool) -> None:
        super().__init__(build_schema(limits), graphql_ide="graphiql" if graphiql else None)
        self.limits = limits
        self.admission = Admission(limits)
        self.documents = PreparedDocuments(self.schema._schema, limits)

    async def get_context(self, request: Request, response: Response) -> Context:
        return Context(request=request, release=request.state.release, limits=self.limits)

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our self-hosted GraphiQL in place of strawberry's, which loads React and GraphiQL from unpkg."""
        return graphiql_page()

    def parse_json(self, data: str | bytes) -> dict:
        return read_json_object(data)

    async def run(self, request: Request, context: Any = UNSET, root_value: Any = UNSET) -> Response:
        try:
            return await super().run(request, context=context, root_value=root_value)
        except BadRequest as error:
            return JSONResponse(error_body(str(error)), status_code=error.status)
        except HTTPException as error:  # strawberry's own refusals (no query, bad `variables`...)
            return JSONResponse(error_body(error.reason), status_code=error.status_code)

    def _analyse(self, query: str, operation_name: str | None, variables: dict) -> tuple[Prepared, int]:
        """Prepared document and cost: runs in a worker thread, never on the event loop."""
        prepared = self.documents.prepare(query, operation_name)
        return prepared, self._price(prepared, variables)

    def _price(self, prepared: Prepared, variables: dict) -> int:
        """The operation's cost, after checking the variables; `UserError` past the limits."""
        check_variables(variables)
        cost = operation_cost(self.schema._schema, prepared, variables, self.limits)
        check_cost(cost, self.limits)
        return cost

    def _prepared_before(self, request: Request, query: str, operation_name: str | None) -> Prepared | None:
        """The document, when it was prepared before and the request is short enough to price on the loop."""
        if request.method == "GET":
            size = len(request.scope.get("query_string", b""))
        else:
            length = request.headers.get("content-length")  # absent (chunked): analysed off the loop
            size = int(length) if length is not None and length.isdigit() else INLINE_ANALYSIS_BYTES + 1
        return self.documents.get(query, operation_name) if size <= INLINE_ANALYSIS_BYTES else None

    async def execute_operation(
        self, request, request_adapter, request_data, context, root_value, sub_response
    ) -> Any:
        if isinstance(request_data, list) or not isinstance(request_data.query, str):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        variables = request_data.variables or {}
        query, operation_name = request_data.query, request_data.operation_name
        try:
            prepared = self._prepared_before(request, query, operation_name)
            if prepared is not None:
                context.prepared, cost = prepared, self._price(prepared, variables)
            else:
                context.prepared, cost = await run_in_threadpool(
                    self._analyse, query, operation_name, variables
                )
        except GraphQLError as error:
            return ExecutionResult(data=None, errors=[GraphQLError(error.message)])
        except UserError as error:
            return ExecutionResult(data=None, errors=[GraphQLError(str(error))])
        client = request.client.host if request.client else "unknown"
        remaining = context.deadline - time.monotonic()
        lane = self.admission.lane(cost)
        execute = super().execute_operation

        async def bounded() -> Any:
            operation = execute(request, request_adapter, request_data, context, root_value, sub_response)
            timeout = context.deadline - time.monotonic() + DEADLINE_GRACE_S
            return await asyncio.wait_for(operation, timeout)

        try:
            async with lane.slot(client, remaining):
                if lane is self.admission.expensive:
                    # on an event loop of its own in a worker thread: its resolvers (tens of thousands of
                    # objects) then share the interpreter in 5 ms slices instead of holding the main loop
                    return await run_in_threadpool(asyncio.run, bounded())
                return await bounded()
        except BusyError as error:
            sub_response.status_code = 429
            return ExecutionResult(data=None, errors=[GraphQLError(str(error))])
        except TimeoutError:
            return ExecutionResult(data=None, errors=[GraphQLError(deadline_message(self.limits))])

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """strawberry's response, replaced by an error past `Limits.max_response_bytes`."""
        response = super().create_response(response_data, sub_response)
        if len(response.body) > self.limits.max_response_bytes:
            message = (
                f"the response would be {len(response.body)} bytes, over the limit of "
                f"{self.limits.max_response_bytes}: ask for smaller pages or fewer fields"
            )
            return JSONResponse(error_body(message), status_code=200)
        return response


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


SECURITY_HEADERS = [
    # the page and GraphiQL load only their own, vendored assets; nothing may frame them. Style attributes
    # stay allowed: cytoscape sizes its canvases with them (they cannot run script)
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
        b"img-src 'self' data:; "
        b"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


class ReleaseMiddleware:
    """Leases the current release for data requests and refuses bodies past `Limits.max_body_bytes`."""

    def __init__(self, app: ASGIApp, releases: Releases, limits: Limits) -> None:
        self.app = app
        self.releases = releases
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LEASED_PREFIXES):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limits.max_body_bytes):
            message = f"request body larger than {self.limits.max_body_bytes} bytes"
            await _send_json(send, 413, error_body(message))
            return
        async with AsyncExitStack() as stack:
            try:
                release = await stack.enter_async_context(self.releases.lease())
            except (NoReleaseError, SchemaVersionError) as error:
                await _send_json(send, 503, error_body(str(error)))
                return
            scope.setdefault("state", {})["release"] = release
            await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        """`receive` that refuses a body (e.g. chunked, without Content-Length) past the cap as it arrives."""
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_body_bytes:
                    detail = f"request body larger than {self.limits.max_body_bytes} bytes"
                    raise BadRequest(detail, status=413)
            return message

        return limited


def create_app(config: ServerConfig) -> Starlette:
    """The ASGI application serving the store at `config.db` read-only."""
    store = Store(config.db, threads=config.duckdb_threads)
    releases = Releases(store, pool_size=config.pool_size, check_s=config.release_check_s)

    async def healthz(request: Request) -> JSONResponse:
        """200 with the release id when a release can be served, 503 with the reason otherwise."""
        try:
            async with releases.lease() as release:
                return JSONResponse({"status": "ok", "release": release.release_id})
        except (NoReleaseError, SchemaVersionError) as error:
            return JSONResponse({"status": "unavailable", "reason": str(error)}, status_code=503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        releases.close()

    graphql = GraphQLApp(config.limits, graphiql=config.graphiql)
    routes = [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/graphql", graphql, name="graphql"),
        *export_routes(),
        *atlas_routes(),
        *web_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(ReleaseMiddleware, releases=releases, limits=config.limits)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(config.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["content-type"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(SecurityHeaders)
    app.state.limits = config.limits
    app.state.releases = releases
    return app
