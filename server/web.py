"""The web page's place in the app: the index route "/" and the static files under /static.

The page itself (server/static/index.html and its assets) is built separately; until it exists "/" answers
with a short page that points to GraphiQL and the exports.

GraphiQL (GET /graphql from a browser) is rendered here too, from the bundles vendored under
server/static/vendor/graphiql/ (scripts/vendor_js.sh), in place of strawberry's page, which loads them
from a CDN.
"""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"

_PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scPRINT-graph</title></head>
<body><h1>scPRINT-graph</h1>
<p>Gene networks from the scPRINT foundation model. Query them over GraphQL at <a href="/graphql">/graphql</a>
(GraphiQL in a browser); download one network as <code>/networks/{id}/edges.tsv</code>,
<code>/networks/{id}/network.graphml</code> or <code>/networks/{id}/regulons.gmt</code>.</p>
</body></html>
"""


_GRAPHIQL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scPRINT-graph GraphiQL</title>
<link rel="stylesheet" href="/static/vendor/graphiql/graphiql.min.css">
<style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body><div id="graphiql" data-endpoint="/graphql">Loading GraphiQL...</div>
<script src="/static/vendor/graphiql/react.production.min.js"></script>
<script src="/static/vendor/graphiql/react-dom.production.min.js"></script>
<script src="/static/vendor/graphiql/graphiql.min.js"></script>
<script src="/static/graphiql/start.js"></script>
</body></html>
"""


def graphiql_page() -> HTMLResponse:
    """GraphiQL for GET /graphql, self-hosted: every asset is under /static, none from the internet."""
    return HTMLResponse(_GRAPHIQL)


async def index(request: Request) -> Response:
    """Serve server/static/index.html when the page exists, else a pointer to the API."""
    page = STATIC_DIR / "index.html"
    if page.is_file():
        return FileResponse(page, media_type="text/html")
    return HTMLResponse(_PLACEHOLDER)


def web_routes() -> list[BaseRoute]:
    """Routes of the web page: "/" and the static assets under /static."""
    return [
        Route("/", index, methods=["GET"], name="index"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
