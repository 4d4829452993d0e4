// What prior knowledge says about an edge: one badge per loaded prior source that contains it
// ("known: CollecTRI (activation)"), nothing for a novel edge, and the legend that says so.
// Views ask for evidence only on the edges they show (it is looked up per edge).

import { h } from "./dom.js";

/** The selection of an edge's evidence, for the edge fields of a view's query. */
export const EVIDENCE = "evidence { source sign level }";

const SIGNS = { ACTIVATION: "activation", REPRESSION: "repression", BOTH: "activation and repression" };

/** "known: DoRothEA (level A, repression)": the source, its confidence level and sign when it gives them. */
export function evidenceText(evidence) {
  const details = [evidence.level ? `level ${evidence.level}` : null, SIGNS[evidence.sign]].filter(Boolean);
  return `known: ${evidence.source}${details.length ? ` (${details.join(", ")})` : ""}`;
}

/** A table cell with one badge per source that knows the edge; empty for a novel edge. */
export function evidenceCell(evidence) {
  return h("td", { class: "evidence" }, (evidence ?? []).map((e) =>
    h("span", { class: `known ${e.sign ? e.sign.toLowerCase() : "unsigned"}`, dataset: { source: e.source } },
      evidenceText(e))));
}

/** What the badges mean; `sources` are the prior sources the networks were measured against. */
export function evidenceLegend(sources) {
  if (!sources.length) {
    return h("p", { class: "legend evidence-legend" },
      "No prior source (e.g. CollecTRI) is loaded in this release: no edge can be marked as known.");
  }
  return h("p", { class: "legend evidence-legend" },
    "A badge ", h("span", { class: "known unsigned" }, "known: source (level, sign)"),
    ` marks an edge a loaded prior source (${sources.join(", ")}) contains, coloured by the sign it reports: `,
    h("span", { class: "known activation" }, "activation"), h("span", { class: "known repression" }, "repression"),
    h("span", { class: "known both" }, "both"), h("span", { class: "known unsigned" }, "none given"),
    ". An unmarked edge is novel: no loaded source contains it.");
}
