// A gene across the atlas: its regulators or targets in every cell type as a table, and a heat map
// (cell types x tissues) of edge weight, for all partners or one chosen partner.

import { gql } from "../api.js";
import { chip, fmt, geneLink, geneName, h, href, seg, shade, table, put } from "../dom.js";
import { geneArgument } from "./network.js";

const PAGE = 1000; // edges per request (the API's page-size cap)
const MAX_PAGES = 5; // past 5,000 edges the view says it is partial and offers a weight cut
const TABLE_ROWS = 50;
const GENE = "symbol ensemblId isTranscriptionFactor";
const DIRECTIONS = {
  targets: { field: "targets", partner: "target", title: "Targets", arrow: "→" },
  regulators: { field: "regulators", partner: "regulator", title: "Regulators", arrow: "←" },
};

function geneQuery(name, dir) {
  const d = DIRECTIONS[dir];
  return `query Gene($name: String!, $after: String, $minWeight: Float) {
  gene(${geneArgument(name)}: $name) {
    ${GENE} organism chromosome start
    edges: ${d.field}(first: ${PAGE}, after: $after, minWeight: $minWeight) {
      pageInfo { hasNextPage endCursor }
      nodes { networkId weight rank cellType tissue disease partner: ${d.partner} { ${GENE} } }
    }
  }
}`;
}

const SEARCH = "query Search($q: String!) { genes(search: $q, first: 20) { symbol ensemblId isTranscriptionFactor chromosome } }";

export async function render(root, { args, params, isCurrent }) {
  const [name] = args;
  if (!name) return renderSearch(root, params.get("q") ?? "", isCurrent);
  const dir = params.get("dir") === "regulators" ? "regulators" : "targets";
  const partner = params.get("partner");
  const minWeight = Number.parseFloat(params.get("minWeight")) || null;
  const { gene, edges, partial } = await readEdges(name, dir, minWeight);
  if (!isCurrent()) return;
  if (!gene) {
    put(root, h("h1", {}, name), h("p", {}, `No gene “${name}” in this release.`));
    return renderMatches(root, name, isCurrent);
  }
  const d = DIRECTIONS[dir];
  const here = (extra) => href(`/gene/${seg(name)}`, { dir: dir === "targets" ? null : dir, partner, minWeight, ...extra });
  const cut = h("input", { type: "number", min: 0, step: 0.05, value: minWeight ?? "", placeholder: "any",
    style: "width:5rem", "aria-label": "Minimum edge weight" });
  cut.addEventListener("change", () => { location.hash = here({ minWeight: cut.value }); });
  const networks = new Set(edges.map((e) => e.networkId)).size;
  put(root,
    h("h1", {}, geneName(gene), " ", h("span", { class: "muted" }, gene.ensemblId), " ",
      gene.isTranscriptionFactor ? h("span", { class: "chip" }, "transcription factor") : null),
    h("p", { class: "muted" }, `${gene.organism}${gene.chromosome ? ` · ${gene.chromosome}:${fmt(gene.start)}` : ""}`),
    h("div", { class: "toolbar" }, Object.entries(DIRECTIONS).map(([key, x]) =>
      chip(`${x.title} ${x.arrow}`, null, here({ dir: key === "targets" ? null : key, partner: null }), key === dir)),
    h("label", {}, "edge weight ≥ ", cut)),
    h("p", { class: partial ? "error" : "muted", id: "edge-count" },
      `${fmt(edges.length)} edges ${dir === "targets" ? "out of" : "into"} ${geneName(gene)} across ${networks} networks`,
      partial ? ` (the first ${fmt(edges.length)} by network id only: raise the minimum weight to see every network).` : "."),
  );
  if (!edges.length) return;
  const chosen = partner ? edges.filter((e) => geneName(e.partner) === partner) : edges;
  put(root,
    h("h2", {}, partner ? `${geneName(gene)} ${d.arrow} ${partner}: weight per cell type and tissue`
      : `Strongest ${d.title.toLowerCase().slice(0, -1)} edge per cell type and tissue`),
    partner ? h("p", {}, h("a", { href: here({ partner: null }) }, "‹ all partners")) : null,
    heatmap(chosen),
    h("h2", {}, `${d.title} across cell types`),
    h("p", { class: "muted" }, "Click a partner to draw its edge in the heat map."),
    ...partnerTable(edges, partner, here),
  );
}

/** The gene and its edges in one direction, a page at a time (one request after another), up to MAX_PAGES. */
async function readEdges(name, dir, minWeight) {
  const edges = [];
  let after = null;
  for (let page = 1; ; page += 1) {
    const { gene } = await gql(geneQuery(name, dir), { name, after, minWeight });
    if (!gene) return { gene: null, edges, partial: false };
    edges.push(...gene.edges.nodes);
    if (!gene.edges.pageInfo.hasNextPage) return { gene, edges, partial: false };
    if (page === MAX_PAGES) return { gene, edges, partial: true };
    after = gene.edges.pageInfo.endCursor;
  }
}

/** Max weight per (cell type, tissue): rows are cell types, columns tissues. */
function heatmap(edges) {
  if (!edges.length) return h("p", { class: "muted", id: "heatmap" }, "No edge under these filters.");
  const cell = new Map();
  const cellTypes = new Set();
  const tissues = new Set();
  for (const e of edges) {
    const ct = e.cellType ?? "–";
    const ti = e.tissue ?? "–";
    cellTypes.add(ct);
    tissues.add(ti);
    const key = `${ct}\u0000${ti}`;
    const entry = cell.get(key) ?? { weight: -Infinity, networks: new Set() };
    entry.weight = Math.max(entry.weight, e.weight);
    entry.networks.add(e.networkId);
    cell.set(key, entry);
  }
  const rows = [...cellTypes].sort();
  const cols = [...tissues].sort();
  const high = Math.max(...[...cell.values()].map((c) => c.weight), 1e-9);
  const header = h("tr", {}, h("th", {}, "cell type \\ tissue"), cols.map((t) => h("th", { class: "num" }, t)));
  const body = rows.map((ct) => h("tr", {}, h("th", { class: "row" }, ct), cols.map((ti) => {
    const c = cell.get(`${ct}\u0000${ti}`);
    if (!c) return h("td", { class: "cell empty" }, "·");
    const link = href(`/cell-type/${seg(ct)}`, { tissue: ti });
    return h("td", { class: "cell", style: shade(c.weight / high), title: `max weight ${fmt(c.weight)} over ${c.networks.size} network(s)` },
      h("a", { href: link }, fmt(c.weight, 2)));
  })));
  return h("div", { class: "overflow heatmap", id: "heatmap" },
    h("table", {}, h("thead", {}, header), h("tbody", {}, body)),
    h("p", { class: "legend" }, "0 ", h("span", { class: "scale" }), ` ${fmt(high, 2)} (max edge weight; · no edge)`));
}

/** One row per partner gene: networks, cell types, strongest weight and best rank. */
function partnerTable(edges, selected, here) {
  const partners = new Map();
  for (const e of edges) {
    const name = geneName(e.partner);
    const p = partners.get(name) ?? { gene: e.partner, networks: new Set(), cellTypes: new Map(), max: 0, rank: Infinity };
    p.networks.add(e.networkId);
    p.cellTypes.set(e.cellType ?? "–", (p.cellTypes.get(e.cellType ?? "–") ?? 0) + 1);
    p.max = Math.max(p.max, e.weight);
    p.rank = Math.min(p.rank, e.rank);
    partners.set(name, p);
  }
  const sorted = [...partners.entries()].sort((a, b) => b[1].networks.size - a[1].networks.size || b[1].max - a[1].max);
  const rows = sorted.slice(0, TABLE_ROWS).map(([name, p]) => h("tr", { class: name === selected ? "selected" : null },
    h("td", {}, h("a", { href: here({ partner: name }), class: p.gene.isTranscriptionFactor ? "tf" : null }, name), " ",
      h("a", { href: href(`/gene/${seg(name)}`), class: "muted", title: `${name}'s own page` }, "↗")),
    h("td", { class: "num" }, p.networks.size),
    h("td", {}, h("div", { class: "chips" }, [...p.cellTypes.entries()].map(([ct, n]) => chip(ct, n, null)))),
    h("td", { class: "num" }, fmt(p.max)), h("td", { class: "num" }, p.rank)));
  const note = sorted.length > TABLE_ROWS ? h("p", { class: "muted" }, `${TABLE_ROWS} of ${sorted.length} partners shown.`) : "";
  return [h("div", { id: "partners" }, table(["Gene", h("th", { class: "num" }, "Networks"), "Cell types (networks)", h("th", { class: "num" }, "Max weight"),
    h("th", { class: "num" }, "Best rank")], rows)), note];
}

async function renderSearch(root, text, isCurrent) {
  const input = h("input", { name: "q", type: "search", value: text, placeholder: "e.g. TP53 or ENSG00000141510", "aria-label": "Gene" });
  const form = h("form", { class: "toolbar" }, input, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = href("/gene", { q: input.value.trim() });
  });
  put(root, h("h1", {}, "Genes"), h("p", { class: "muted" }, "Find a gene's regulators and targets across cell types."), form);
  if (text) await renderMatches(root, text, isCurrent);
}

async function renderMatches(root, text, isCurrent) {
  const { genes } = await gql(SEARCH, { q: text });
  if (!isCurrent()) return;
  put(root, genes.length
    ? h("div", {}, h("h2", {}, `Genes starting with “${text}”`), h("div", { class: "chips" }, genes.map((g) => h("span", { class: "chip" }, geneLink(g)))))
    : h("p", { class: "muted" }, `No gene starts with “${text}”.`));
}
