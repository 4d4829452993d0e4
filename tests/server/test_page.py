"""The web page in a real headless Chromium (Debian's package, driven by Playwright) against a real uvicorn
server on loopback, over the hand-made store of conftest.py (networks and edges known, see there).

Chromium is taken from CHROMIUM (default /usr/bin/chromium); Playwright's own browsers are never installed.
Without it the browser tests fail (`make test` installs it first, see scripts/ensure_chromium.sh).
Screenshots go to SCREENSHOT_DIR when set (e.g. out/screenshots), else to a temporary folder.
"""

import re

import pytest

from server.web import STATIC_DIR

# Ready for the URL now in the address bar, not the view being replaced (a hash change routes asynchronously).
READY_HERE = (
    "() => { const v = document.getElementById('view');"
    " return v.dataset.state === 'ready' && v.dataset.route === location.hash; }"
)


def wait_ready(page) -> None:
    page.wait_for_function(READY_HERE)


# --- page assets over HTTP (no browser needed) -----------------------------------------------------------


def test_index_serves_the_page_and_the_bundled_graph_library(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="/static/js/main.js"' in page.text
    library = client.get("/static/vendor/cytoscape.min.js")
    assert library.status_code == 200
    assert "javascript" in library.headers["content-type"]
    assert "Cytoscape Consortium" in library.text[:200]  # the licence header travels with the file
    module = client.get("/static/js/views/network.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]


def test_page_fetches_nothing_from_the_internet():
    """No asset of the page names another host (the vendored library's licence comments excepted)."""
    url = re.compile(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|import\s*\(?\s*["'](?:https?:)?//|fetch\(\s*["']https?:"""
    )
    offenders = [
        str(path.relative_to(STATIC_DIR))
        for path in STATIC_DIR.rglob("*")
        if path.suffix in {".html", ".js", ".css"}
        and "vendor" not in path.relative_to(STATIC_DIR).parts
        and url.search(path.read_text())
    ]
    assert offenders == []
    assert (STATIC_DIR / "vendor" / "cytoscape.LICENSE.txt").is_file()


def open_view(page, hash_route: str):
    page.goto(f"{page.base}/#{hash_route}")
    wait_ready(page)


def rows(scope) -> list[list[str]]:
    """Cell texts of the body rows of the tables under a locator."""
    script = "trs => trs.map(tr => [...tr.cells].map(c => c.innerText.trim()))"
    return scope.locator("tbody tr").evaluate_all(script)


# --- the views ------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_cell_types_with_counts_per_tissue_and_disease(page, screenshots):
    open_view(page, "/")
    script = "cs => cs.map(c => [c.querySelector('h3').innerText, c.querySelectorAll('.chip').length])"
    cards = page.eval_on_selector_all(".card.celltype", script)
    assert cards == [["T cell 2 networks", 3], ["B cell 1 network", 2]]  # T cell: lung, liver; normal
    t_cell = page.locator(".card.celltype", has_text="T cell")
    assert t_cell.locator(".chip", has_text="liver").inner_text() == "liver1"
    assert t_cell.locator(".chip", has_text="normal").inner_text() == "normal2"
    page.screenshot(path=screenshots / "cell-types.png", full_page=True)


@pytest.mark.browser
def test_cell_types_are_searched_on_the_server_and_the_url_keeps_the_search(page):
    open_view(page, "/")
    page.fill("input[aria-label='Filter cell types']", "b ce")
    page.locator(".card.celltype", has_text="T cell").wait_for(state="detached")  # the store answered
    assert re.search(r"q=b(\+|%20)ce", page.url), page.url
    assert page.locator(".card.celltype h3").inner_text() == "B cell 1 network"
    assert "1 cell type matching" in page.locator("#celltype-summary").inner_text()
    page.reload()
    wait_ready(page)
    assert page.locator("input[aria-label='Filter cell types']").input_value() == "b ce"
    assert page.locator(".card.celltype h3").all_inner_texts() == ["B cell 1 network"]
    assert page.locator("#more-celltypes").is_hidden()


@pytest.mark.browser
def test_cell_type_lists_its_networks_and_narrows_by_tissue(page, screenshots):
    open_view(page, "/")
    page.click("text=T cell")
    page.wait_for_url(re.compile(r"#/cell-type/CL%3A0000084$"))
    wait_ready(page)
    assert [r[0] for r in rows(page.locator("main"))] == ["#1", "#3"]
    page.click("#tissues >> text=liver")
    page.wait_for_url(re.compile(r"tissue=UBERON%3A0002107"))
    wait_ready(page)
    assert [r[:3] for r in rows(page.locator("main"))] == [["#3", "liver", "normal"]]
    shared = page.url
    page.reload()  # the URL alone restores the view
    wait_ready(page)
    assert page.url == shared
    assert [r[0] for r in rows(page.locator("main"))] == ["#3"]
    page.screenshot(path=screenshots / "cell-type.png", full_page=True)


@pytest.mark.browser
def test_network_shows_regulators_draws_a_neighbourhood_and_other_contexts(page, screenshots):
    open_view(page, "/network/1")
    assert page.locator("p.quality").inner_text().startswith("Quality: not measured")  # no priors here
    hubs = rows(page.locator("#hubs"))
    assert [h[1] for h in hubs[:2]] == ["TF1", "TF2"]  # out-degree 3 and 2
    assert hubs[0][-1].split() == ["G3", "G4", "G5"]  # TF1's targets, strongest first
    # TF1 (the top hub) is drawn with its three targets, on a canvas
    graph = page.locator("#graph")
    assert graph.get_attribute("data-nodes") == "4" and graph.get_attribute("data-edges") == "3"
    assert page.evaluate("window.scprintGraph.nodes().map(n => n.id()).sort()") == ["G3", "G4", "G5", "TF1"]
    assert graph.locator("canvas").count() > 0
    # the same regulator in T cells of another tissue (liver: TF1 -> G5 .5) and disease
    by_tissue = page.locator("#elsewhere .heatmap").first
    assert by_tissue.locator("th").all_inner_texts()[1:] == ["● lung\n1 net.", "liver\n1 net."]
    assert [r[:3] for r in rows(by_tissue)][:3] == [
        ["G3", "0.90", "·"],
        ["G4", "0.80", "·"],
        ["G5", "0.70", "0.50"],
    ]
    links = page.eval_on_selector_all(".downloads a", "as => as.map(a => a.getAttribute('href'))")
    assert links == ["/networks/1/edges.tsv", "/networks/1/network.graphml", "/networks/1/regulons.gmt"]
    tsv = page.request.get(page.base + links[0])
    assert tsv.ok and tsv.text().splitlines()[1].startswith("ENSG00000000001\tTF1\tENSG00000000003\tG3\t0.9")
    page.screenshot(path=screenshots / "network.png", full_page=True)
    # choosing another regulator redraws and lands in the URL
    page.click("#hubs >> text=TF2")
    page.wait_for_url(re.compile(r"regulator=TF2"))
    wait_ready(page)
    assert page.locator("#graph").get_attribute("data-nodes") == "3"  # TF2 -> G3, G6
    assert page.locator("#hubs tr.selected").get_attribute("data-gene") == "TF2"


@pytest.mark.browser
def test_gene_search_shows_regulators_across_cell_types_and_a_heat_map(page, screenshots):
    open_view(page, "/")
    page.fill("#gene-search-input", "g3")
    page.press("#gene-search-input", "Enter")
    page.wait_for_url(re.compile(r"#/gene/g3$"))
    wait_ready(page)
    assert page.locator("h1").inner_text().startswith("G3")
    partners = page.locator("#partners")
    assert [r[0] for r in rows(partners)] == ["G7 ↗"]  # G3 -> G7 in network 1
    page.click("text=Regulators ←")
    page.wait_for_url(re.compile(r"dir=regulators"))
    wait_ready(page)
    assert [(r[0], r[1], r[3]) for r in rows(partners)] == [("TF1 ↗", "2", "0.950"), ("TF2 ↗", "1", "0.600")]
    assert rows(page.locator("#heatmap")) == [["B cell", "0.95"], ["T cell", "0.90"]]  # columns: lung only
    page.click("text=TF2 >> nth=0")
    page.wait_for_url(re.compile(r"partner=TF2"))
    wait_ready(page)
    assert rows(page.locator("#heatmap")) == [["T cell", "0.60"]]
    page.screenshot(path=screenshots / "gene.png", full_page=True)
    page.fill("input[aria-label='Minimum edge weight']", "0.7")
    page.press("input[aria-label='Minimum edge weight']", "Enter")
    page.wait_for_url(re.compile(r"minWeight=0.7"))
    wait_ready(page)
    assert [r[0] for r in rows(page.locator("#partners"))] == ["TF1 ↗"]  # TF2 -> G3 weighs .6
    assert page.locator("#edge-count").inner_text().startswith("2 edges into G3 across 2 networks")


@pytest.mark.browser
def test_enrichment_finds_regulators_per_cell_type(page, screenshots):
    open_view(page, "/enrich?minTargets=2")
    page.fill("textarea", "G3, G4\nG5 NOPE")
    page.click("text=Find regulators")
    page.wait_for_url(re.compile(r"genes=G3%2CG4%2CG5%2CNOPE"))
    page.wait_for_selector("#enrichment")
    wait_ready(page)
    assert "Unknown: NOPE" in page.locator("#enrichment p").first.inner_text()
    sections = page.locator("#enrichment h2").all_inner_texts()
    assert sections[0].startswith("T cell")
    first = rows(page.locator("#enrichment .overflow").first)[0]
    assert first[:4] == ["TF1", "#1 lung · normal", "3", "3"]
    page.screenshot(path=screenshots / "enrichment.png", full_page=True)


@pytest.mark.browser
def test_genes_by_ensembl_id_and_unknown_things(page):
    open_view(page, "/gene/ENSG00000000001")
    assert page.locator("h1").inner_text().startswith("TF1 ENSG00000000001")
    assert [r[0] for r in rows(page.locator("#partners"))] == ["G3 ↗", "G4 ↗", "G5 ↗"]
    open_view(page, "/network/999")
    assert "No network with this id" in page.locator("main").inner_text()
    open_view(page, "/gene/NOSUCHGENE")
    assert "No gene “NOSUCHGENE”" in page.locator("main").inner_text()
