// Cell types: the overview (each cell type with its networks per tissue and disease) and one cell type's
// networks, narrowed by tissue and disease, with two of them picked for a comparison.

import { exportUrl, gql } from "../api.js";
import { chip, fmt, h, href, networkLabel, put, seg, table, termKey, termText } from "../dom.js";

const GROUPS = 100; // cell types per request: the store groups and counts, the page never sees every network
const TERM = "label termId";

const OVERVIEW = `query Overview($search: String, $after: String) {
  meta { counts { networks } }
  networkGroups(groupBy: CELL_TYPE, search: $search, first: ${GROUPS}, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      term { ${TERM} } networkCount
      facets { tissue { term { ${TERM} } count } disease { term { ${TERM} } count } }
    }
  }
}`;

function card(g) {
  const key = termKey(g.term);
  const link = key == null ? null : (params) => href(`/cell-type/${seg(key)}`, params);
  return h("div", { class: "card celltype" },
    h("h3", {}, link ? h("a", { href: link() }, termText(g.term)) : termText(g.term), " ",
      h("span", { class: "muted" }, `${fmt(g.networkCount)} network${g.networkCount === 1 ? "" : "s"}`)),
    h("div", { class: "label" }, "Tissues"),
    h("div", { class: "chips" }, g.facets.tissue.map((t) => chip(termText(t.term), t.count, link?.({ tissue: termKey(t.term) })))),
    h("div", { class: "label" }, "Diseases"),
    h("div", { class: "chips" }, g.facets.disease.map((d) => chip(termText(d.term), d.count, link?.({ disease: termKey(d.term) })))));
}

export async function renderOverview(root, { params, isCurrent }) {
  const search = (params.get("q") ?? "").trim();
  const first = await gql(OVERVIEW, { search: search || null, after: null });
  if (!isCurrent()) return;
  const total = first.meta.counts.networks;
  const grid = h("div", { class: "grid", id: "celltype-grid" });
  const summary = h("p", { class: "muted", id: "celltype-summary" });
  const more = h("button", { type: "button", id: "more-celltypes", hidden: true }, `Show ${GROUPS} more cell types`);
  let after = null;
  let query = search;
  const show = (groups, append) => {
    if (!append) grid.replaceChildren();
    grid.append(...groups.nodes.map(card));
    after = groups.pageInfo.hasNextPage ? groups.pageInfo.endCursor : null;
    more.hidden = after == null;
    const matching = query ? ` matching “${query}”` : "";
    const types = `${fmt(groups.totalCount)} cell type${groups.totalCount === 1 ? "" : "s"}`;
    summary.textContent = `${fmt(total)} networks; ${types}${matching}, ` +
      `${fmt(grid.children.length)} shown. Pick a cell type to see its networks.`;
  };
  // The search runs in the store (label or term id), a little after typing stops; the URL keeps it.
  const filter = h("input", { type: "search", placeholder: "Filter cell types", "aria-label": "Filter cell types",
    value: search });
  let timer = null;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = filter.value.trim();
      const { networkGroups } = await gql(OVERVIEW, { search: text || null, after: null });
      if (filter.value.trim() !== text || !isCurrent()) return; // typing went on, or the view changed
      query = text;
      history.replaceState(null, "", href("/", { q: text || null }));
      show(networkGroups, false);
    }, 250);
  });
  more.addEventListener("click", async () => {
    const { networkGroups } = await gql(OVERVIEW, { search: query || null, after });
    if (isCurrent()) show(networkGroups, true);
  });
  put(root,
    h("h1", {}, "Cell types"),
    summary,
    h("div", { class: "toolbar" }, filter),
    total ? [grid, more] : h("p", {}, "The release holds no networks yet."),
  );
  show(first.networkGroups, false);
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
