// Two networks compared edge by edge (network b against network a, usually two tissues or datasets of one
// cell type): the edges both hold, those only b holds (gained) and those only a holds (lost), strongest
// first, each with the prior sources that know it.

import { gql } from "../api.js";
import { fmt, geneLink, h, href, networkLabel, put, seg, table, termKey, termText } from "../dom.js";
import { EVIDENCE, evidenceCell, evidenceLegend } from "../evidence.js";

const LIST = 50; // edges per list (shared, gained, lost)
const GENE = "symbol ensemblId isTranscriptionFactor";
const TERM = "label termId";
const SIDE = `id nEdges cellType { ${TERM} } tissue { ${TERM} } disease { ${TERM} }
    provenance { dataset { title sourceId } } quality(scope: ALL) { source }`;
const EDGE = `regulator { ${GENE} } target { ${GENE} } ${EVIDENCE}`;

const SIDES = `query CompareSides($a: Int!, $b: Int!) {
  a: network(id: $a) { ${SIDE} }
  b: network(id: $b) { ${SIDE} }
}`;

const COMPARE = `query Compare($a: Int!, $b: Int!, $maxRank: Int, $minWeight: Float, $common: Boolean!, $offset: Int!) {
  comparison: compareNetworks(a: $a, b: $b, maxRank: $maxRank, minWeight: $minWeight, commonGenesOnly: $common,
                              first: ${LIST}, offset: $offset) {
    edgeCountA edgeCountB sharedCount gainedCount lostCount jaccard rankCorrelation
    shared { ${EDGE} weightA weightB rankA rankB }
    gained { ${EDGE} weight rank }
    lost { ${EDGE} weight rank }
  }
}`;

/** The three lists: id, title, what the list holds, its numeric columns and one row's values of them. */
const LISTS = [
  ["shared", "Shared edges", "In both networks, strongest in A first",
    ["Weight A", "Weight B", "Rank A", "Rank B"],
    (e) => [fmt(e.weightA), fmt(e.weightB), fmt(e.rankA), fmt(e.rankB)]],
  ["gained", "Gained edges", "Only in B, strongest first", ["Weight B", "Rank B"], (e) => [fmt(e.weight), fmt(e.rank)]],
  ["lost", "Lost edges", "Only in A, strongest first", ["Weight A", "Rank A"], (e) => [fmt(e.weight), fmt(e.rank)]],
];

/** A positive integer from the URL, else null. */
function positive(text) {
  const value = Number.parseInt(text ?? "", 10);
  return value > 0 ? value : null;
}

export async function render(root, { args, params, isCurrent }) {
  const [a, b] = args.map(Number);
  const maxRank = positive(params.get("maxRank"));
  const weight = Number.parseFloat(params.get("minWeight") ?? "");
  const minWeight = Number.isFinite(weight) ? weight : null;
  const common = params.get("common") === "1";
  const offset = positive(params.get("offset")) ?? 0;
  // The two networks first (an unknown id is a plain answer there), then the comparison itself.
  const data = await gql(SIDES, { a, b });
  if (!isCurrent()) return;
  const missing = [[a, data.a], [b, data.b]].filter(([, n]) => !n).map(([id]) => `#${id}`);
  if (missing.length) {
    put(root, h("h1", {}, `Compare #${a} with #${b}`),
      h("p", {}, `No network ${missing.join(" or ")} in this release. `, h("a", { href: "#/" }, "Browse cell types")));
    return;
  }
  const { comparison: c } = await gql(COMPARE, { a, b, maxRank, minWeight, common, offset });
  if (!isCurrent()) return;
  const here = (extra) => href(`/compare/${a}/${b}`, { maxRank, minWeight, common: common ? 1 : null, offset: offset || null, ...extra });
  const more = LISTS.some(([key]) => c[`${key}Count`] > offset + LIST);
  const cellKey = termKey(data.a.cellType);
  const sources = [...new Set([...data.a.quality, ...data.b.quality].map((q) => q.source))];
  put(root,
    h("p", {}, h("a", { href: "#/" }, "Cell types"), " › ",
      cellKey ? h("a", { href: href(`/cell-type/${seg(cellKey)}`) }, termText(data.a.cellType)) : "–", " › ",
      `Compare #${a} with #${b}`),
    h("h1", {}, `${termText(data.a.cellType)}: network #${b} against #${a}`),
    termKey(data.b.cellType) !== cellKey
      ? h("p", { class: "error" }, `These networks are of different cell types (A: ${termText(data.a.cellType)}, `,
        `B: ${termText(data.b.cellType)}): their differences mix cell type with tissue and dataset.`)
      : null,
    h("div", { class: "cols" }, side("A", data.a, c.edgeCountA), side("B", data.b, c.edgeCountB)),
    toolbar(a, b, maxRank, minWeight, common, here),
    h("p", { id: "summary" },
      h("strong", { id: "shared-count" }, fmt(c.sharedCount)), " shared · ",
      h("strong", { id: "gained-count" }, fmt(c.gainedCount)), " gained (only in B) · ",
      h("strong", { id: "lost-count" }, fmt(c.lostCount)), " lost (only in A) · Jaccard ", fmt(c.jaccard),
      " · rank correlation of shared weights ",
      c.rankCorrelation == null ? h("span", { class: "muted" }, "– (below 3 shared edges)") : fmt(c.rankCorrelation)),
    evidenceLegend(sources),
    LISTS.map(([key, title, what, headers, cells]) => {
      const edges = c[key];
      const count = c[`${key}Count`];
      const cut = count > edges.length
        ? ` (${edges.length ? `${fmt(offset + 1)}–${fmt(offset + edges.length)}` : "none"} of ${fmt(count)} shown)` : "";
      return h("section", { id: key, dataset: { count } },
        h("h2", {}, `${title} (${fmt(count)})`),
        h("p", { class: "muted" }, `${what}${cut}.`),
        edges.length
          ? table(["Regulator", "Target", ...headers.map((x) => h("th", { class: "num" }, x)), "Prior knowledge"], edges.map((e) => h("tr", {},
            h("td", {}, geneLink(e.regulator)), h("td", {}, geneLink(e.target)),
            cells(e).map((x) => h("td", { class: "num" }, x)), evidenceCell(e.evidence))))
          : h("p", { class: "muted" }, "None."));
    }),
    h("p", { id: "compare-pages" },
      offset ? h("a", { href: here({ offset: Math.max(0, offset - LIST) || null }) }, `‹ Previous ${LIST}`) : null,
      offset && more ? " · " : null,
      more ? h("a", { id: "compare-next", href: here({ offset: offset + LIST }) }, `Next ${LIST} of each list ›`) : null),
  );
}

function side(letter, network, compared) {
  return h("div", { class: "card", id: `side-${letter.toLowerCase()}` },
    h("h3", {}, `${letter}: `, h("a", { href: href(`/network/${network.id}`) }, networkLabel(network))),
    h("p", { class: "muted" }, `${termText(network.cellType)} · ${fmt(compared)} of ${fmt(network.nEdges)} edges compared`));
}

function toolbar(a, b, maxRank, minWeight, common, here) {
  const rank = h("input", { type: "number", min: 1, value: maxRank ?? "", placeholder: "all", style: "width:7rem",
    "aria-label": "Strongest edges only" });
  const cut = h("input", { type: "number", min: 0, step: 0.05, value: minWeight ?? "", placeholder: "any",
    style: "width:5rem", "aria-label": "Minimum edge weight" });
  const shared = h("input", { type: "checkbox", id: "common-genes", checked: common,
    "aria-label": "Only genes both networks hold" });
  rank.addEventListener("change", () => { location.hash = here({ maxRank: rank.value, offset: null }); });
  cut.addEventListener("change", () => { location.hash = here({ minWeight: cut.value, offset: null }); });
  shared.addEventListener("change", () => { location.hash = here({ common: shared.checked ? 1 : null, offset: null }); });
  return h("div", { class: "toolbar" },
    h("label", {}, "Each network's strongest ", rank, " edges"), h("label", {}, "edge weight ≥ ", cut),
    h("label", { title: "An edge is not lost because its gene was not measured in the other network" }, shared,
      " only genes both networks hold"),
    h("a", { class: "chip", href: href(`/compare/${b}/${a}`, { maxRank, minWeight }) }, "Swap A and B"));
}
