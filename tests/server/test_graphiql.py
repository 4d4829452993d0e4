"""GraphiQL at GET /graphql is self-hosted: its page names only /static assets (vendored by
scripts/vendor_js.sh), each is served, and in a real headless Chromium it renders and runs a query with every
request off loopback aborted (the `browser` and `page` fixtures of conftest.py).
"""

import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest

from server.web import STATIC_DIR

HTML = {"Accept": "text/html"}
QUERY = "{ meta { schemaVersion release counts { networks } } }"
RESULT_PANE = "document.querySelector('.graphiql-response .CodeMirror')"
VENDOR = STATIC_DIR / "vendor" / "graphiql"


class _Assets(HTMLParser):
    """The src/href of the tags that load something (script, link, img, iframe, source)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "link", "img", "iframe", "source"}:
            self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_graphiql_page_names_only_local_static_assets(client):
    page = client.get("/graphql", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.search(r"https?://", page.text) is None  # no other host, not even in a comment
    urls = asset_urls(page.text)
    assert "/static/vendor/graphiql/graphiql.min.js" in urls
    assert "/static/vendor/graphiql/graphiql.min.css" in urls
    assert all(url.startswith("/static/") and not urlsplit(url).netloc for url in urls), urls


def test_every_asset_of_the_graphiql_page_is_served(client):
    urls = asset_urls(client.get("/graphql", headers=HTML).text)
    assert len(urls) == 6  # two stylesheets, React, ReactDOM, GraphiQL and our start script
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
        kind = "css" if url.endswith(".css") else "javascript"
        assert kind in asset.headers["content-type"], url


def test_vendored_graphiql_files_carry_their_licences():
    for name in ("graphiql", "react", "react-dom"):
        licence = (VENDOR / f"{name}.LICENSE.txt").read_text()
        assert "MIT License" in licence and "Permission is hereby granted" in licence, name
    assert "@license React" in (VENDOR / "react-dom.production.min.js").read_text()[:200]


def test_graphiql_leaves_queries_and_json_clients_alone(client):
    """The IDE is for browsers only: a GET with a query, or a JSON client, still gets GraphQL answers."""
    answer = client.get("/graphql", params={"query": "{ meta { schemaVersion } }"}, headers=HTML)
    assert answer.status_code == 200 and answer.json()["data"]["meta"]["schemaVersion"] >= 1
    posted = client.post("/graphql", json={"query": "{ meta { schemaVersion } }"})
    assert posted.json()["data"]["meta"]["schemaVersion"] == answer.json()["data"]["meta"]["schemaVersion"]


# --- in a real browser ----------------------------------------------------------------------------------


def graphiql_result(page) -> dict:
    """The JSON shown in GraphiQL's result pane (CodeMirror 5 keeps the whole document)."""
    text = page.evaluate(f"{RESULT_PANE}.CodeMirror.getValue()")
    return json.loads(text)


@pytest.mark.browser
def test_graphiql_renders_and_runs_a_query_offline(page, screenshots, client):
    expected = client.post("/graphql", json={"query": QUERY}).json()
    assert "errors" not in expected
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(urlsplit(request.url).path))
    page.goto(f"{page.base}/graphql?q={quote(QUERY)}")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    assert "/static/vendor/graphiql/graphiql.min.js" in loaded
    editor = page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
    )
    assert editor == QUERY  # taken from ?q=
    page.click("button.graphiql-execute-button")
    page.wait_for_function(f"() => {RESULT_PANE}?.CodeMirror.getValue().includes('schemaVersion')")
    assert graphiql_result(page) == expected
    page.screenshot(path=screenshots / "graphiql.png")


@pytest.mark.browser
def test_graphiql_loads_the_schema_for_its_docs(page):
    """Introspection runs against our endpoint: the Docs explorer lists the root query type's fields."""
    page.goto(f"{page.base}/graphql")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    page.click("button[aria-label*='Documentation Explorer']")
    page.wait_for_selector(".graphiql-doc-explorer >> text=Query")
    page.click(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name >> text=Query")
    page.wait_for_selector(".graphiql-doc-explorer-field-name >> text=meta")
