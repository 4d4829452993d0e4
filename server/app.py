"""The starlette application: GraphQL (+ GraphiQL) at /graphql, exports, /healthz and the web page.

    create_app(ServerConfig(db="atlas/"))  ->  an ASGI app for uvicorn or an in-process httpx client.

Requests that read data lease the current release in `ReleaseMiddleware` (the one place that does), so a
publish during a request never changes what that request reads, and new requests see the new release.
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from schema.release import NoReleaseError, SchemaVersionError, Store
from server.api import build_schema
from server.config import Limits, ServerConfig
from server.context import Context
from server.exports import export_routes
from server.releases import Releases
from server.web import graphiql_page, web_routes

log = logging.getLogger(__name__)

LEASED_PREFIXES = ("/graphql", "/networks/")


class GraphQLApp(GraphQL):
    """strawberry's ASGI view with our typed per-request context."""

    def __init__(self, limits: Limits, *, graphiql: bool) -> None:
        super().__init__(build_schema(limits), graphql_ide="graphiql" if graphiql else None)
        self.limits = limits

    async def get_context(self, request: Request, response: Response) -> Context:
        return Context(request=request, release=request.state.release, limits=self.limits)

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our self-hosted GraphiQL in place of strawberry's, which loads React and GraphiQL from unpkg."""
        return graphiql_page()


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


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
            await _send_json(send, 413, {"errors": [{"message": message}]})
            return
        async with AsyncExitStack() as stack:
            try:
                release = await stack.enter_async_context(self.releases.lease())
            except (NoReleaseError, SchemaVersionError) as error:
                await _send_json(send, 503, {"errors": [{"message": str(error)}]})
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
                    raise HTTPException(status_code=413, detail=detail)
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
        *web_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(ReleaseMiddleware, releases=releases, limits=config.limits)
    app.state.limits = config.limits
    app.state.releases = releases
    return app
