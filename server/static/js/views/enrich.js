// Enrichment: paste a gene list, get the regulators whose targets are enriched in it, per cell type
// (one hypergeometric test per network and regulator, done by the API).

import { gql } from "../api.js";
import { fmt, geneLink, h, href, seg, table, termKey, termText, put } from "../dom.js";

const RESULTS = 200;
const DEFAULTS = { minOverlap: 2, minTargets: 5 }; // the API's own defaults

const ENRICH = `query Enrich($genes: [String!]!, $filter: NetworkFilterInput, $minOverlap: Int!, $minTargets: Int!) {
  enrichedRegulators(genes: $genes, filter: $filter, minOverlap: $minOverlap, minTargets: $minTargets,
                     first: ${RESULTS}) {
    queryGeneCount unknownGenes
    results {
      overlap targetCount querySize universeSize pValue oddsRatio fdr
      regulator { symbol ensemblId isTranscriptionFactor }
      network { id cellType { label termId } tissue { label termId } disease { label termId } }
      overlapGenes { symbol ensemblId isTranscriptionFactor }
    }
  }
}`;

const CELL_TYPES = "query CellTypeList { networks(first: 1) { facets { cellType { term { label termId } count } } } }";

/** Split a pasted list on commas, whitespace and semicolons; keep order, drop duplicates. */
export function parseGenes(text) {
  return [...new Set(text.split(/[\s,;]+/).map((g) => g.trim()).filter(Boolean))];
}

export async function render(root, { params, isCurrent }) {
  const genes = parseGenes(params.get("genes") ?? "");
  const cellType = params.get("cellType") ?? "";
  const minOverlap = Math.max(1, Number(params.get("minOverlap")) || DEFAULTS.minOverlap);
  const minTargets = Math.max(1, Number(params.get("minTargets")) || DEFAULTS.minTargets);
  const { networks } = await gql(CELL_TYPES);
  if (!isCurrent()) return;
  const area = h("textarea", { name: "genes", placeholder: "Gene symbols or Ensembl ids, one per line or comma-separated",
    "aria-label": "Gene list" });
  area.value = genes.join("\n");
  const select = h("select", { name: "cellType", "aria-label": "Cell type" }, h("option", { value: "" }, "all cell types"),
    networks.facets.cellType.map((f) => h("option", { value: termKey(f.term), selected: termKey(f.term) === cellType },
      `${termText(f.term)} (${f.count})`)));
  const number = (value, label) => h("input", { type: "number", min: 1, value, style: "width:4rem", "aria-label": label });
  const overlap = number(minOverlap, "Minimum overlap");
  const targets = number(minTargets, "Minimum targets");
  const form = h("form", { id: "enrich-form" }, area, h("div", { class: "toolbar" },
    h("label", {}, "Networks of ", select), h("label", {}, "at least ", overlap, " genes in common"),
    h("label", {}, "regulators with ", targets, " targets or more"),
    h("button", { type: "submit" }, "Find regulators")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = href("/enrich", { genes: parseGenes(area.value).join(","), cellType: select.value,
      minOverlap: Number(overlap.value) === DEFAULTS.minOverlap ? null : overlap.value,
      minTargets: Number(targets.value) === DEFAULTS.minTargets ? null : targets.value });
  });
  put(root, h("h1", {}, "Enriched regulators"),
    h("p", { class: "muted" }, "Regulators whose targets are over-represented in your gene list (hypergeometric test ",
      "per network and regulator, Benjamini-Hochberg FDR over all tests), grouped by cell type."), form);
  if (!genes.length) return;
  const filter = cellType ? { cellTypes: [cellType] } : null;
  const { enrichedRegulators: result } = await gql(ENRICH, { genes, filter, minOverlap, minTargets });
  if (!isCurrent()) return;
  const section = h("section", { id: "enrichment" });
  put(root, section);
  put(section, h("p", {}, `${result.queryGeneCount} of ${genes.length} genes known to the release.`,
    result.unknownGenes.length ? ` Unknown: ${result.unknownGenes.join(", ")}.` : ""));
  if (!result.results.length) {
    put(section, h("p", { class: "muted" }, "No regulator's targets overlap the list enough."));
    return;
  }
  const groups = new Map();
  for (const r of result.results) {
    const key = termText(r.network.cellType);
    if (!groups.has(key)) groups.set(key, { term: r.network.cellType, rows: [] });
    groups.get(key).rows.push(r);
  }
  for (const [label, group] of groups) {
    const key = termKey(group.term);
    put(section, h("h2", {}, key ? h("a", { href: href(`/cell-type/${seg(key)}`) }, label) : label,
      h("span", { class: "muted" }, ` · ${group.rows.length} result${group.rows.length === 1 ? "" : "s"}`)));
    put(section, table(["Regulator", "Network", h("th", { class: "num" }, "Overlap"), h("th", { class: "num" }, "Targets"),
      h("th", { class: "num" }, "Odds ratio"), h("th", { class: "num" }, "p"), h("th", { class: "num" }, "FDR"), "Genes in common"],
    group.rows.map((r) => h("tr", {},
      h("td", {}, geneLink(r.regulator)),
      h("td", {}, h("a", { href: href(`/network/${r.network.id}`, { regulator: r.regulator.symbol || r.regulator.ensemblId }) },
        `#${r.network.id} ${termText(r.network.tissue)} · ${termText(r.network.disease)}`)),
      h("td", { class: "num" }, r.overlap), h("td", { class: "num" }, r.targetCount),
      h("td", { class: "num" }, fmt(r.oddsRatio, 2)), h("td", { class: "num" }, fmt(r.pValue)),
      h("td", { class: "num" }, fmt(r.fdr)),
      h("td", {}, r.overlapGenes.map((g, i) => [i ? ", " : "", geneLink(g)]))))));
  }
}
