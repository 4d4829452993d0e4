"""The web page's place in the app: the index route "/" and the static files under /static.

The page is server/static/index.html with its assets (vendored JavaScript, no CDN).

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

_GRAPHIQL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scPRINT-graph GraphiQL</title>
<link rel="stylesheet" href="/static/vendor/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/static/graphiql/page.css">
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
    """The web page, server/static/index.html."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def web_routes() -> list[BaseRoute]:
    """Routes of the web page: "/" and the static assets under /static."""
    return [
        Route("/", index, methods=["GET"], name="index"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
