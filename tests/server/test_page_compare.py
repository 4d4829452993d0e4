"""The compare view and the known-edge badges in a real Chromium, over the hand-made store of conftest.py
with two prior sources loaded in a second release (priors below). Expected answers are asked of GraphQL on
the same live server, so the page is checked against the API, not against numbers copied here.
"""

import re

import httpx
import pyarrow as pa
import pytest

from schema import Store
from schema.priors import load_priors
from schema.quality import rescore_release
from scprint_graph import grn_metrics
from server.app import create_app
from server.config import ServerConfig
from tests.server.conftest import ensembl, write_store
from tests.server.live import live_server
from tests.server.test_page import open_view, rows, wait_ready

# (regulator, target, sign, level) per source; TF1->G3 and TF2->G6 are in network 1, TF1->G5 in 1 and 3.
PRIORS = {
    "CollecTRI": [("TF1", "G3", 1, None), ("TF2", "G6", -1, None), ("TF2", "G8", 0, None)],
    "DoRothEA": [("TF1", "G3", 1, "A"), ("TF1", "G5", None, "B")],
}
SIGNS = {"ACTIVATION": "activation", "REPRESSION": "repression", "BOTH": "activation and repression"}
T_CELL_LUNG, T_CELL_LIVER = 1, 3  # the two T cell networks (conftest.NETWORKS)

EDGE = "regulator { symbol } target { symbol } evidence { source sign level }"
COMPARE = f"""query($a: Int!, $b: Int!, $maxRank: Int, $common: Boolean! = false, $offset: Int! = 0) {{
  compareNetworks(a: $a, b: $b, maxRank: $maxRank, commonGenesOnly: $common, first: 50, offset: $offset) {{
    sharedCount gainedCount lostCount
    shared {{ {EDGE} }} gained {{ {EDGE} }} lost {{ {EDGE} }}
  }}
}}"""
EDGES = f"""query($id: Int!, $known: Boolean!) {{
  network(id: $id) {{ edges(first: 25, knownOnly: $known) {{ nodes {{ {EDGE} }} }} }}
}}"""


def prior_table(edges) -> pa.Table:
    return pa.table(
        {
            "regulator": [ensembl(r) for r, _, _, _ in edges],
            "target": [ensembl(t) for _, t, _, _ in edges],
            "sign": pa.array([s for _, _, s, _ in edges], pa.int8()),
            "level": pa.array([level for _, _, _, level in edges], pa.string()),
        }
    )


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    """The hand-made store plus a release loading PRIORS (and the quality against them), served live."""
    root = tmp_path_factory.mktemp("prior-page")
    write_store(root)
    with Store(root).new_release(note="priors") as w:
        for name, edges in PRIORS.items():
            load_priors(w.con, name, prior_table(edges), origin="tests", license="CC0")
        rescore_release(w.con, metrics=grn_metrics)
    with live_server(create_app(ServerConfig(db=root, release_check_s=0.0))) as url:
        yield url


def ask(url: str, query: str, variables: dict) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def badge(evidence: dict) -> str:
    """What the page writes for one source of an edge (the page's evidenceText, restated)."""
    details = [f"level {evidence['level']}" if evidence["level"] else None, SIGNS.get(evidence["sign"])]
    details = [d for d in details if d]
    return f"known: {evidence['source']}" + (f" ({', '.join(details)})" if details else "")


def expected_rows(edges: list[dict]) -> list[tuple[str, str, list[str]]]:
    return [
        (e["regulator"]["symbol"], e["target"]["symbol"], [badge(x) for x in e["evidence"]]) for e in edges
    ]


def shown_rows(section, column: int = 0) -> list[tuple[str, str, list[str]]]:
    """(regulator, target, badge texts) of each body row under `section`; the regulator in cell `column`."""
    script = """(trs, i) => trs.map(tr => [tr.cells[i].innerText.trim(), tr.cells[i + 1].innerText.trim(),
        [...tr.querySelectorAll('td.evidence .known')].map(b => b.innerText.trim())])"""
    found = section.locator("tbody tr").evaluate_all(script, column)
    return [(r, t, b) for r, t, b in found]


def check_comparison(
    page, url: str, a: int, b: int, max_rank: int | None = None, common: bool = False, offset: int = 0
) -> dict:
    variables = {"a": a, "b": b, "maxRank": max_rank, "common": common, "offset": offset}
    expected = ask(url, COMPARE, variables)["compareNetworks"]
    for part in ("shared", "gained", "lost"):
        count = expected[f"{part}Count"]
        assert page.locator(f"#{part}-count").inner_text() == str(count)
        section = page.locator(f"section#{part}")
        assert section.get_attribute("data-count") == str(count)
        assert section.locator("h2").inner_text().endswith(f"({count})")
        assert shown_rows(section) == expected_rows(expected[part])
    return expected


def open_view_at(tab, url: str, hash_route: str) -> None:
    tab.goto(f"{url}/#{hash_route}")
    wait_ready(tab)


@pytest.mark.browser
def test_compare_two_networks_of_a_cell_type_picked_in_the_cell_type_view(page, screenshots):
    open_view(page, "/cell-type/CL%3A0000084")
    picker = page.locator("#compare-form")
    assert picker.locator("select").nth(0).input_value() == str(T_CELL_LUNG)
    assert picker.locator("select").nth(1).input_value() == str(T_CELL_LIVER)
    picker.locator("button", has_text="Compare").click()
    page.wait_for_url(re.compile(rf"#/compare/{T_CELL_LUNG}/{T_CELL_LIVER}$"))
    wait_ready(page)
    expected = check_comparison(page, page.base, T_CELL_LUNG, T_CELL_LIVER)
    # lung vs liver T cells: TF1->G5 and TF2->G6 shared, the other four lung edges lost, nothing gained
    assert (expected["sharedCount"], expected["gainedCount"], expected["lostCount"]) == (2, 0, 4)
    assert page.locator("section#gained").inner_text().endswith("None.")
    assert "CollecTRI, DoRothEA" in page.locator(".evidence-legend").inner_text()
    page.screenshot(path=screenshots / "compare.png", full_page=True)
    # the URL alone restores it, and swapping turns lost into gained
    page.reload()
    wait_ready(page)
    check_comparison(page, page.base, T_CELL_LUNG, T_CELL_LIVER)
    page.click("text=Swap A and B")
    page.wait_for_url(re.compile(rf"#/compare/{T_CELL_LIVER}/{T_CELL_LUNG}$"))
    wait_ready(page)
    swapped = check_comparison(page, page.base, T_CELL_LIVER, T_CELL_LUNG)
    assert swapped["gainedCount"] == expected["lostCount"] and swapped["lostCount"] == expected["gainedCount"]


@pytest.mark.browser
def test_compare_only_the_strongest_edges_and_from_the_network_view(page):
    open_view(page, f"/network/{T_CELL_LUNG}")
    page.click("#compare-with summary")
    link = page.locator("#compare-with a.chip")
    link.first.wait_for()
    assert link.all_inner_texts() == [f"#{T_CELL_LIVER} liver · normal · Test dataset"]
    link.first.click()
    page.wait_for_url(re.compile(rf"#/compare/{T_CELL_LUNG}/{T_CELL_LIVER}$"))
    wait_ready(page)
    cut = page.locator("input[aria-label='Strongest edges only']")
    cut.fill("2")
    cut.press("Enter")
    page.wait_for_url(re.compile(r"maxRank=2$"))
    wait_ready(page)
    expected = check_comparison(page, page.base, T_CELL_LUNG, T_CELL_LIVER, max_rank=2)
    # the two strongest of each: TF1->G3, TF1->G4 against TF1->G5, TF2->G6: nothing shared
    assert (expected["sharedCount"], expected["gainedCount"], expected["lostCount"]) == (0, 2, 2)
    assert "2 of 6 edges compared" in page.locator("#side-a").inner_text()


@pytest.mark.browser
def test_compare_of_unknown_networks_or_of_two_cell_types_says_so(page):
    open_view(page, f"/compare/{T_CELL_LUNG}/999")
    assert "No network #999 in this release." in page.locator("main").inner_text()
    open_view(page, "/compare/998/999")
    assert "No network #998 or #999 in this release." in page.locator("main").inner_text()
    open_view(page, f"/compare/{T_CELL_LUNG}/2")  # T cells against B cells: compared, with a warning
    assert "different cell types (A: T cell, B: B cell)" in page.locator("main p.error").inner_text()
    check_comparison(page, page.base, T_CELL_LUNG, 2)


@pytest.mark.browser
def test_network_edges_marked_known_from_the_loaded_priors(page, screenshots):
    open_view(page, f"/network/{T_CELL_LUNG}")
    edges = page.locator("section#edges")
    expected = ask(page.base, EDGES, {"id": T_CELL_LUNG, "known": False})["network"]["edges"]["nodes"]
    shown = shown_rows(edges, column=1)
    assert shown == expected_rows(expected)
    # both kinds are there: TF1->G3 is in both sources, TF1->G4 in none (novel, unmarked)
    marked = {(r, t): b for r, t, b in shown}
    assert marked[("TF1", "G3")] == ["known: CollecTRI (activation)", "known: DoRothEA (level A, activation)"]
    assert marked[("TF1", "G4")] == []
    assert marked[("TF2", "G6")] == ["known: CollecTRI (repression)"]
    assert "An unmarked edge is novel" in edges.locator(".evidence-legend").inner_text()
    page.screenshot(path=screenshots / "network-known-edges.png", full_page=True)
    page.click("section#edges >> a.chip:text-is('known')")
    page.wait_for_url(re.compile(r"edges=known"))
    wait_ready(page)
    known = ask(page.base, EDGES, {"id": T_CELL_LUNG, "known": True})["network"]["edges"]["nodes"]
    assert shown_rows(page.locator("section#edges"), column=1) == expected_rows(known)
    assert len(known) == 3 and all(b for _, _, b in shown_rows(page.locator("section#edges"), column=1))


@pytest.mark.browser
def test_without_priors_no_edge_is_marked(browser, store_root):
    """The hand-made store alone (no prior loaded): the legend says so and no badge is drawn."""
    with live_server(create_app(ServerConfig(db=store_root, release_check_s=0.0))) as url:
        tab = browser.new_page()
        try:
            open_view_at(tab, url, f"/network/{T_CELL_LUNG}")
            assert "No prior source" in tab.locator("section#edges .evidence-legend").inner_text()
            assert len(rows(tab.locator("section#edges"))) == 6
            assert tab.locator("section#edges .known").count() == 0
        finally:
            tab.close()


@pytest.mark.browser
def test_compare_on_common_genes_and_past_the_strongest_edges(page):
    """The common-genes box and the offset of the lists, each against compareNetworks with those options."""
    a, b = T_CELL_LUNG, 2  # the lung T and B cell networks: G6 only in a, G8 only in b
    open_view_at(page, page.base, f"/compare/{a}/{b}")
    whole = check_comparison(page, page.base, a, b)
    page.locator("#common-genes").check()
    page.wait_for_url(re.compile(r"common=1"))
    wait_ready(page)
    common = check_comparison(page, page.base, a, b, common=True)
    assert common["lostCount"] < whole["lostCount"], "TF2->G6 is lost only because b lacks G6"
    open_view_at(page, page.base, f"/compare/{a}/{b}?offset=1")
    paged = check_comparison(page, page.base, a, b, offset=1)
    assert paged["lost"] == whole["lost"][1:] and paged["lostCount"] == whole["lostCount"]
