// Cell types: the overview (each cell type with its networks per tissue and disease) and one cell type's
// networks, narrowed by tissue and disease, with two of them picked for a comparison.

import { exportUrl, gql } from "../api.js";
import { chip, fmt, h, href, networkLabel, put, seg, table, termKey, termText } from "../dom.js";

const PAGE = 1000; // networks per request of the overview (cost-limited by the API)
const MAX_PAGES = 20;

const OVERVIEW = `query Overview($after: String) {
  networks(first: ${PAGE}, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { cellType { label termId } tissue { label termId } disease { label termId } }
  }
}`;

/** Count networks per cell type, and within each per tissue and per disease. */
function crossTab(nodes) {
  const byCellType = new Map();
  const bump = (map, term) => {
    const key = termKey(term) ?? "";
    const entry = map.get(key) ?? { term, count: 0 };
    entry.count += 1;
    map.set(key, entry);
  };
  for (const n of nodes) {
    const key = termKey(n.cellType) ?? "";
    if (!byCellType.has(key)) byCellType.set(key, { term: n.cellType, count: 0, tissues: new Map(), diseases: new Map() });
    const entry = byCellType.get(key);
    entry.count += 1;
    bump(entry.tissues, n.tissue);
    bump(entry.diseases, n.disease);
  }
  const sorted = (map) => [...map.values()].sort((a, b) => b.count - a.count || termText(a.term).localeCompare(termText(b.term)));
  return sorted(byCellType).map((e) => ({ ...e, tissues: sorted(e.tissues), diseases: sorted(e.diseases) }));
}

export async function renderOverview(root, { isCurrent }) {
  const nodes = [];
  let after = null;
  let total = 0;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const { networks } = await gql(OVERVIEW, { after });
    nodes.push(...networks.nodes);
    total = networks.totalCount;
    if (!networks.pageInfo.hasNextPage) break;
    after = networks.pageInfo.endCursor;
  }
  if (!isCurrent()) return;
  const groups = crossTab(nodes);
  const filter = h("input", { type: "search", placeholder: "Filter cell types", "aria-label": "Filter cell types" });
  const cards = groups.map((g) => {
    const key = termKey(g.term);
    const link = key == null ? null : (params) => href(`/cell-type/${seg(key)}`, params);
    const card = h("div", { class: "card celltype", dataset: { name: termText(g.term).toLowerCase() } },
      h("h3", {}, link ? h("a", { href: link() }, termText(g.term)) : termText(g.term), " ",
        h("span", { class: "muted" }, `${fmt(g.count)} network${g.count === 1 ? "" : "s"}`)),
      h("div", { class: "label" }, "Tissues"),
      h("div", { class: "chips" }, g.tissues.map((t) => chip(termText(t.term), t.count, link?.({ tissue: termKey(t.term) })))),
      h("div", { class: "label" }, "Diseases"),
      h("div", { class: "chips" }, g.diseases.map((d) => chip(termText(d.term), d.count, link?.({ disease: termKey(d.term) })))));
    return card;
  });
  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    for (const card of cards) card.hidden = text !== "" && !card.dataset.name.includes(text);
  });
  const shown = nodes.length < total ? ` (counts over the first ${fmt(nodes.length)})` : "";
  put(root,
    h("h1", {}, "Cell types"),
    h("p", { class: "muted" }, `${fmt(total)} networks across ${fmt(groups.length)} cell types${shown}. `,
      "Pick a cell type to see its networks."),
    h("div", { class: "toolbar" }, filter),
    groups.length ? h("div", { class: "grid" }, cards) : h("p", {}, "The release holds no networks yet."),
  );
}

const CELL_TYPE = `query CellType($cellType: [String!], $filter: NetworkFilterInput, $after: String) {
  all: networks(filter: {cellTypes: $cellType}, first: 1) {
    totalCount
    facets {
      cellType { term { label termId } count }
      tissue { term { label termId } count }
      disease { term { label termId } count }
    }
  }
  list: networks(filter: $filter, first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id tissue { label termId } disease { label termId } nCells nGenes nEdges
      provenance { dataset { title } }
    }
  }
}`;

export async function renderCellType(root, { args, params, isCurrent }) {
  const [key] = args;
  const tissue = params.get("tissue");
  const disease = params.get("disease");
  const after = params.get("after");
  const filter = { cellTypes: [key], tissues: tissue ? [tissue] : null, diseases: disease ? [disease] : null };
  const data = await gql(CELL_TYPE, { cellType: [key], filter, after });
  if (!isCurrent()) return;
  const { all, list } = data;
  const name = termText(all.facets.cellType[0]?.term) || key;
  put(root, h("p", {}, h("a", { href: "#/" }, "Cell types"), " › ", name));
  if (all.totalCount === 0) {
    put(root, h("h1", {}, key), h("p", {}, "No network of this cell type in the release."));
    return;
  }
  const term = all.facets.cellType[0]?.term;
  const here = (extra) => href(`/cell-type/${seg(key)}`, { tissue, disease, ...extra });
  const facetChips = (facet, current, param) => facet.map((f) => {
    const value = termKey(f.term);
    const selected = current != null && value === current;
    return chip(termText(f.term), f.count, here({ [param]: selected ? null : value, after: null }), selected);
  });
  const rows = list.nodes.map((n) => h("tr", {},
    h("td", {}, h("a", { href: href(`/network/${n.id}`) }, `#${n.id}`)),
    h("td", {}, termText(n.tissue)), h("td", {}, termText(n.disease)),
    h("td", { class: "num" }, fmt(n.nCells)), h("td", { class: "num" }, fmt(n.nGenes)),
    h("td", { class: "num" }, fmt(n.nEdges)), h("td", {}, n.provenance.dataset?.title ?? "–"),
    h("td", {}, h("a", { href: exportUrl(n.id, "edges.tsv"), download: "" }, "TSV"), " ",
      h("a", { href: exportUrl(n.id, "network.graphml"), download: "" }, "GraphML"))));
  put(root,
    h("h1", {}, name, " ", h("span", { class: "muted" }, term?.termId ?? "")),
    h("p", { class: "muted" }, `${fmt(all.totalCount)} networks; click a tissue or disease to narrow the list.`),
    h("div", { class: "cols" },
      h("div", { class: "card" }, h("div", { class: "label" }, "Tissues"), h("div", { class: "chips", id: "tissues" }, facetChips(all.facets.tissue, tissue, "tissue"))),
      h("div", { class: "card" }, h("div", { class: "label" }, "Diseases"), h("div", { class: "chips", id: "diseases" }, facetChips(all.facets.disease, disease, "disease")))),
    h("h2", {}, `Networks (${fmt(list.totalCount)})`),
    table(["Network", "Tissue", "Disease", h("th", { class: "num" }, "Cells"), h("th", { class: "num" }, "Genes"),
      h("th", { class: "num" }, "Edges"), "Dataset", "Download"], rows),
    list.pageInfo.hasNextPage
      ? h("p", {}, h("a", { href: here({ after: list.pageInfo.endCursor }) }, "Next page ›"))
      : null,
    comparePicker(list.nodes),
    h("p", {}, h("a", { href: href("/enrich", { cellType: key }) }, `Enrichment within ${name} networks ›`)),
  );
}

/** Two selects over the listed networks and a button opening their comparison (#/compare/<a>/<b>). */
function comparePicker(nodes) {
  if (nodes.length < 2) return null;
  const select = (label, chosen) => h("select", { "aria-label": label, name: label },
    nodes.map((n) => h("option", { value: n.id, selected: n.id === chosen }, networkLabel(n))));
  const a = select("Network A", nodes[0].id);
  const b = select("Network B", nodes[1].id);
  const form = h("form", { class: "toolbar", id: "compare-form" }, h("label", {}, "A ", a), h("label", {}, "B ", b),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = href(`/compare/${a.value}/${b.value}`);
  });
  return h("div", { class: "card" }, h("h3", {}, "Compare two networks"),
    h("p", { class: "muted" }, "The edges they share, those only B has (gained) and those only A has (lost)."), form);
}
