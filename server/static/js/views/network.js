// One network: what it is and where it comes from, its exports, the top regulators with their targets,
// the drawn neighbourhood of one regulator, its strongest edges (those a prior source knows marked), and
// the same regulator in other tissues and diseases.

import { EXPORTS, exportUrl, gql } from "../api.js";
import { chip, errorBox, fmt, geneLink, geneName, h, href, networkLabel, put, seg, shade, table, termKey, termText }
  from "../dom.js";
import { EVIDENCE, evidenceCell, evidenceLegend } from "../evidence.js";
import { drawNeighbourhood } from "../graph.js";

const HUB_COUNT = 15;
const TARGETS_PER_HUB = 5;
const NEIGHBOUR_TARGETS = 30;
const NEIGHBOUR_REGULATORS = 10;
const ELSEWHERE_PARTNERS = 50;
const ELSEWHERE_ROWS = 15;
const EDGE_PAGE = 25; // edges per page of the edge table (evidence is looked up for these only)
const EDGE_SHOWS = {
  all: { label: "all edges", known: false, novel: false },
  known: { label: "known", known: true, novel: false },
  novel: { label: "novel", known: false, novel: true },
};
const COMPARE_CHOICES = 100; // networks of the same cell type offered to compare with
const STATISTICS = [
  ["OUT_DEGREE", "targets"],
  ["WEIGHTED_OUT_DEGREE", "weighted targets"],
  ["PAGERANK", "PageRank"],
];
const GENE = "symbol ensemblId isTranscriptionFactor";
const TERM = "label termId";

const NETWORK = `query Network($id: Int!, $by: HubStatistic!, $tf: Boolean!) {
  network(id: $id) {
    id nCells nGenes nEdges createdAt
    cellType { ${TERM} } tissue { ${TERM} } disease { ${TERM} } organism { ${TERM} }
    quality(scope: ALL) { source status badge }
    provenance {
      release parameters
      dataset { title source sourceId collection version }
      model { name checkpointHash }
    }
    hubs(by: $by, transcriptionFactorsOnly: $tf, first: ${HUB_COUNT}) {
      rank outDegree inDegree weightedOutDegree pagerank gene { ${GENE} }
    }
  }
}`;

const NEIGHBOURHOOD = `query Neighbourhood($id: Int!, $gene: String!) {
  network(id: $id) {
    targets: edges(regulator: $gene, first: ${NEIGHBOUR_TARGETS}) {
      pageInfo { hasNextPage } nodes { weight rank target { ${GENE} } }
    }
    regulators: edges(target: $gene, first: ${NEIGHBOUR_REGULATORS}) {
      pageInfo { hasNextPage } nodes { weight rank regulator { ${GENE} } }
    }
    self: nodeStatistics(genes: [$gene]) { results { gene { ${GENE} } statistics { outDegree inDegree } } }
  }
}`;

const EDGES = `query Edges($id: Int!, $after: String, $known: Boolean!, $novel: Boolean!) {
  network(id: $id) {
    edges(first: ${EDGE_PAGE}, after: $after, knownOnly: $known, novelOnly: $novel) {
      pageInfo { hasNextPage endCursor }
      nodes { rank weight regulator { ${GENE} } target { ${GENE} } ${EVIDENCE} }
    }
  }
}`;

const SIBLINGS = `query Siblings($cellType: [String!]) {
  networks(filter: {cellTypes: $cellType}, first: ${COMPARE_CHOICES}) {
    totalCount
    nodes { id tissue { ${TERM} } disease { ${TERM} } provenance { dataset { title sourceId } } }
  }
}`;

const GROUP_FIELDS = `group { ${TERM} } networkCount
  partners { networkCount meanWeight maxWeight bestRank gene { ${GENE} } }`;

/** The gene(...) selector for a name: Ensembl ids by ensemblId, anything else by symbol. */
export function geneArgument(name) {
  return /^ENS[A-Z]*G\d+/.test(name) ? "ensemblId" : "symbol";
}

function elsewhereQuery(name) {
  return `query Elsewhere($gene: String!, $cellType: [String!]) {
  gene(${geneArgument(name)}: $gene) {
    byTissue: targetsByGroup(groupBy: TISSUE, filter: {cellTypes: $cellType}, first: ${ELSEWHERE_PARTNERS}) { ${GROUP_FIELDS} }
    byDisease: targetsByGroup(groupBy: DISEASE, filter: {cellTypes: $cellType}, first: ${ELSEWHERE_PARTNERS}) { ${GROUP_FIELDS} }
  }
}`;
}

/** One request for the top targets of every hub (one aliased field per hub). */
function hubTargetsQuery(count) {
  const variables = Array.from({ length: count }, (_, i) => `$r${i}: String!`).join(", ");
  const fields = Array.from({ length: count }, (_, i) =>
    `r${i}: edges(regulator: $r${i}, first: ${TARGETS_PER_HUB}) { nodes { weight target { ${GENE} } } }`).join("\n    ");
  return `query HubTargets($id: Int!, ${variables}) {\n  network(id: $id) {\n    ${fields}\n  }\n}`;
}

export async function render(root, { args, params, isCurrent }) {
  const id = Number(args[0]);
  const by = STATISTICS.some(([s]) => s === params.get("hubs")) ? params.get("hubs") : "OUT_DEGREE";
  const tf = params.get("tf") === "1";
  const { network } = await gql(NETWORK, { id, by, tf });
  if (!isCurrent()) return;
  if (!network) {
    put(root, h("h1", {}, `Network #${id}`), h("p", {}, "No network with this id in the release."));
    return;
  }
  const here = (extra) => href(`/network/${id}`, { hubs: by === "OUT_DEGREE" ? null : by, tf: tf ? 1 : null,
    regulator: params.get("regulator"), edges: params.get("edges"), edgesAfter: params.get("edgesAfter"), ...extra });
  const regulator = params.get("regulator") || (network.hubs[0] && geneName(network.hubs[0].gene));
  const cellKey = termKey(network.cellType);

  put(root,
    h("p", {}, h("a", { href: "#/" }, "Cell types"), " › ",
      cellKey ? h("a", { href: href(`/cell-type/${seg(cellKey)}`) }, termText(network.cellType)) : "–", " › ", `Network #${id}`),
    h("h1", {}, `${termText(network.cellType)} · ${termText(network.tissue)} · ${termText(network.disease)} `,
      h("span", { class: "muted" }, `network #${id}`)),
    qualityBadges(network.quality),
    h("div", { class: "cols" }, describe(network), downloads(id)),
    cellKey ? compareWith(id, network.cellType) : null,
  );

  const hubSection = h("section", { id: "hubs" });
  const graphSection = h("section", { id: "neighbourhood" });
  const edgeSection = h("section", { id: "edges" });
  const elsewhereSection = h("section", { id: "elsewhere" });
  put(root, hubSection, graphSection, edgeSection, elsewhereSection);
  renderHubs(hubSection, network, { by, tf, regulator, here });
  if (!regulator) {
    graphSection.append(h("p", { class: "muted" }, "This network has no regulators to draw."));
    return;
  }
  // One request at a time, in reading order: on a small server, concurrent requests only slow each other
  // down (bench/bench_page.py), and each then takes what the API alone takes.
  await fillHubTargets(hubSection, id, network.hubs, isCurrent);
  if (isCurrent()) await renderNeighbourhood(graphSection, id, regulator, here, isCurrent);
  if (isCurrent()) await renderEdges(edgeSection, id, network, params, here, isCurrent);
  if (isCurrent()) await renderElsewhere(elsewhereSection, network, regulator, isCurrent);
}

// Measured quality against each loaded prior, in words ("2.4x random against CollecTRI", "at random level
// against CollecTRI", "too few known edges ..."); nothing is claimed where no prior is loaded.
function qualityBadges(quality) {
  if (!quality.length) {
    return h("p", { class: "quality muted" }, "Quality: not measured (no prior knowledge loaded in this release).");
  }
  return h("p", { class: "quality" }, "Quality: ",
    quality.map((q) => h("span", { class: `badge ${q.status === "SCORED" ? "scored" : "unscored"}` }, q.badge)));
}

function describe(network) {
  const p = network.provenance;
  const dataset = p.dataset ? `${p.dataset.title ?? p.dataset.sourceId} (${p.dataset.source})` : "–";
  const model = p.model ? `${p.model.name} (${p.model.checkpointHash.slice(0, 12)})` : "–";
  const entries = [
    ["Cell type", `${termText(network.cellType)} ${network.cellType?.termId ?? ""}`],
    ["Tissue", `${termText(network.tissue)} ${network.tissue?.termId ?? ""}`],
    ["Disease", `${termText(network.disease)} ${network.disease?.termId ?? ""}`],
    ["Organism", termText(network.organism)],
    ["Cells · genes · edges", `${fmt(network.nCells)} · ${fmt(network.nGenes)} · ${fmt(network.nEdges)}`],
    ["Dataset", dataset], ["Model", model], ["Release", p.release], ["Written", network.createdAt.slice(0, 19)],
  ];
  return h("div", { class: "card" }, h("dl", { class: "kv" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("details", {}, h("summary", { class: "muted" }, "Extraction parameters"),
      h("pre", {}, JSON.stringify(p.parameters, null, 2))));
}

function downloads(id) {
  const rank = h("input", { type: "number", min: 1, placeholder: "all", "aria-label": "Strongest edges only", style: "width:7rem" });
  const links = EXPORTS.map(([format, label]) => h("a", { href: exportUrl(id, format), download: "", dataset: { format } }, label));
  rank.addEventListener("input", () => {
    for (const link of links) link.href = exportUrl(id, link.dataset.format, { maxRank: rank.value });
  });
  return h("div", { class: "card" }, h("h3", {}, "Download"),
    h("p", { class: "downloads" }, links),
    h("label", { class: "muted" }, "Strongest ", rank, " edges only"),
    h("p", { class: "muted" }, "Also over GraphQL: ", h("code", {}, `network(id: ${id}) { edges { … } }`)));
}

function renderHubs(section, network, { by, tf, regulator, here }) {
  const select = h("select", { "aria-label": "Rank regulators by" },
    STATISTICS.map(([value, label]) => h("option", { value, selected: value === by }, label)));
  select.addEventListener("change", () => { location.hash = here({ hubs: select.value === "OUT_DEGREE" ? null : select.value }); });
  const only = h("input", { type: "checkbox", checked: tf });
  only.addEventListener("change", () => { location.hash = here({ tf: only.checked ? 1 : null }); });
  const rows = network.hubs.map((hub) => {
    const name = geneName(hub.gene);
    return h("tr", { class: name === regulator ? "selected" : null, dataset: { gene: name } },
      h("td", { class: "num" }, hub.rank),
      h("td", {}, h("a", { href: here({ regulator: name }), class: hub.gene.isTranscriptionFactor ? "tf" : null,
        title: "Draw its neighbourhood" }, name)),
      h("td", { class: "num" }, fmt(hub.outDegree)), h("td", { class: "num" }, fmt(hub.inDegree)),
      h("td", { class: "num" }, fmt(hub.weightedOutDegree)), h("td", { class: "num" }, fmt(hub.pagerank, 4)),
      h("td", { class: "targets" }, h("span", { class: "muted" }, "…")));
  });
  put(section,
    h("h2", {}, "Top regulators"),
    h("div", { class: "toolbar" }, h("label", {}, "Rank by ", select), h("label", {}, only, " transcription factors only"),
      h("span", { class: "legend" }, "TFs (Lambert 2018) in ", h("span", { class: "tf" }, "orange"), "; click a regulator to draw it")),
    network.hubs.length
      ? table([h("th", { class: "num" }, "#"), "Regulator", h("th", { class: "num" }, "Targets"), h("th", { class: "num" }, "Regulators"),
        h("th", { class: "num" }, "Weighted out"), h("th", { class: "num" }, "PageRank"), `Top ${TARGETS_PER_HUB} targets`], rows)
      : h("p", { class: "muted" }, "No regulator matches."),
  );
}

async function fillHubTargets(section, id, hubs, isCurrent) {
  if (!hubs.length) return;
  const variables = Object.fromEntries(hubs.map((hub, i) => [`r${i}`, geneName(hub.gene)]));
  try {
    const { network } = await gql(hubTargetsQuery(hubs.length), { id, ...variables });
    if (!isCurrent()) return;
    const cells = section.querySelectorAll("td.targets");
    hubs.forEach((_, i) => {
      const edges = network[`r${i}`].nodes;
      cells[i].replaceChildren(h("div", { class: "chips" }, edges.map((e) => {
        const c = chip(geneName(e.target), null, null);
        c.title = `weight ${fmt(e.weight)}`;
        return c;
      })));
    });
  } catch (error) {
    put(section, errorBox(error));
  }
}

async function renderNeighbourhood(section, id, regulator, here, isCurrent) {
  put(section, h("h2", {}, "Neighbourhood of ", h("a", { href: href(`/gene/${seg(regulator)}`) }, regulator)));
  let data;
  try {
    data = await gql(NEIGHBOURHOOD, { id, gene: regulator });
  } catch (error) {
    put(section, errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const { targets, regulators, self: { results: [asked] } } = data.network;
  const stats = asked.statistics; // null when the gene has no edge in this network
  const gene = (g) => ({ name: geneName(g), tf: g.isTranscriptionFactor });
  const shown = (connection, total, what) => (connection.pageInfo.hasNextPage
    ? `the strongest ${connection.nodes.length} of ${fmt(total)} ${what}` : `${connection.nodes.length} ${what}`);
  const container = h("div", { id: "graph", role: "img", "aria-label": `Network neighbourhood of ${regulator}` });
  put(section,
    h("p", { class: "legend" }, `Drawn: ${shown(targets, stats?.outDegree, "targets")}, `,
      `${shown(regulators, stats?.inDegree, "regulators")}.`,
      h("i", { style: "background:#2761c4" }), regulator, h("i", { style: "background:#8fb2ee" }), "target",
      h("i", { style: "background:#e39a63" }), "regulator", h("i", { style: "background:#b48ad8" }), "both",
      " · squares are transcription factors · edge width = weight · click a gene to draw its neighbourhood"),
    container,
  );
  const center = { name: regulator, tf: Boolean(asked.gene?.isTranscriptionFactor) };
  const found = [...targets.nodes.map((e) => e.target), ...regulators.nodes.map((e) => e.regulator)];
  if (!found.length) {
    container.replaceWith(h("p", { class: "muted" }, `${regulator} has no edge in this network.`));
    return;
  }
  await drawNeighbourhood(container, {
    center,
    targets: targets.nodes.map((e) => ({ gene: gene(e.target), weight: e.weight })),
    regulators: regulators.nodes.map((e) => ({ gene: gene(e.regulator), weight: e.weight })),
    onSelect: (name) => { if (name !== regulator) location.hash = here({ regulator: name }); },
  });
}

/** A page of the network's strongest edges (all, known or novel), each with the prior sources that know it. */
async function renderEdges(section, id, network, params, here, isCurrent) {
  const show = Object.hasOwn(EDGE_SHOWS, params.get("edges") ?? "") ? params.get("edges") : "all";
  const after = params.get("edgesAfter");
  const sources = network.quality.map((q) => q.source);
  put(section, h("h2", {}, "Strongest edges"),
    h("div", { class: "toolbar" }, "Show ", Object.entries(EDGE_SHOWS).map(([key, x]) =>
      chip(x.label, null, here({ edges: key === "all" ? null : key, edgesAfter: null }), key === show))),
    evidenceLegend(sources));
  let data;
  try {
    data = await gql(EDGES, { id, after, known: EDGE_SHOWS[show].known, novel: EDGE_SHOWS[show].novel });
  } catch (error) {
    put(section, errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  const { nodes, pageInfo } = data.network.edges;
  const rows = nodes.map((e) => h("tr", { dataset: { edge: `${geneName(e.regulator)}>${geneName(e.target)}` } },
    h("td", { class: "num" }, fmt(e.rank)), h("td", {}, geneLink(e.regulator)), h("td", {}, geneLink(e.target)),
    h("td", { class: "num" }, fmt(e.weight)), evidenceCell(e.evidence)));
  const none = { all: "This network has no edges.", known: "No edge of this network is in a loaded prior source.",
    novel: "Every edge of this network is in a loaded prior source." }[show];
  put(section,
    nodes.length
      ? table([h("th", { class: "num" }, "Rank"), "Regulator", "Target", h("th", { class: "num" }, "Weight"), "Prior knowledge"], rows)
      : h("p", { class: "muted" }, none),
    h("p", { class: "pager" },
      after ? h("a", { href: here({ edgesAfter: null }) }, "‹ Strongest first") : null, after && pageInfo.hasNextPage ? " · " : null,
      pageInfo.hasNextPage ? h("a", { href: here({ edgesAfter: pageInfo.endCursor }) }, `Next ${EDGE_PAGE} ›`) : null));
}

/** "Compare with another <cell type> network": the networks of the same cell type, asked for when opened. */
function compareWith(id, cellType) {
  const list = h("div", { class: "chips" }, h("span", { class: "muted" }, "…"));
  const box = h("details", { id: "compare-with" },
    h("summary", {}, `Compare with another ${termText(cellType)} network`), list);
  box.addEventListener("toggle", async () => {
    if (!box.open || box.dataset.loaded) return;
    box.dataset.loaded = "1";
    try {
      const { networks } = await gql(SIBLINGS, { cellType: [termKey(cellType)] });
      const others = networks.nodes.filter((n) => n.id !== id);
      const more = networks.totalCount > networks.nodes.length ? `the first ${networks.nodes.length} of ${fmt(networks.totalCount)}` : null;
      list.replaceChildren(...(others.length
        ? others.map((n) => h("a", { class: "chip", href: href(`/compare/${id}/${n.id}`) }, networkLabel(n)))
        : [h("span", { class: "muted" }, `No other ${termText(cellType)} network in this release.`)]),
      ...(more ? [h("span", { class: "muted" }, `(${more})`)] : []));
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  });
  return box;
}

async function renderElsewhere(section, network, regulator, isCurrent) {
  const cellKey = termKey(network.cellType);
  put(section, h("h2", {}, `${regulator} in other tissues and diseases`),
    h("p", { class: "muted" }, `Mean weight of ${regulator}'s strongest targets over the ${termText(network.cellType)} `,
      "networks of each tissue (left) and disease (right); the column of this network is marked ●."));
  let data;
  try {
    data = await gql(elsewhereQuery(regulator), { gene: regulator, cellType: cellKey ? [cellKey] : null });
  } catch (error) {
    put(section, errorBox(error));
    return;
  }
  if (!isCurrent()) return;
  if (!data.gene) {
    put(section, h("p", { class: "muted" }, `${regulator} is not a gene of this release.`));
    return;
  }
  put(section, h("div", { class: "cols" },
    h("div", {}, h("h3", {}, "By tissue"), matrix(data.gene.byTissue, termKey(network.tissue))),
    h("div", {}, h("h3", {}, "By disease"), matrix(data.gene.byDisease, termKey(network.disease)))));
}

/** Targets x groups table of mean weights, the targets strongest in the current group first. */
function matrix(groups, currentKey) {
  if (!groups.length) return h("p", { class: "muted" }, "No targets.");
  const current = groups.find((g) => termKey(g.group) === currentKey);
  const ordered = current ? [current, ...groups.filter((g) => g !== current)] : groups;
  const score = new Map();
  const genes = new Map();
  for (const group of ordered) {
    for (const p of group.partners) {
      const name = geneName(p.gene);
      genes.set(name, p.gene);
      const bonus = group === current ? 1e6 : 0; // this network's own strongest targets come first
      score.set(name, Math.max(score.get(name) ?? 0, p.meanWeight + bonus));
    }
  }
  const rows = [...score.entries()].sort((a, b) => b[1] - a[1]).slice(0, ELSEWHERE_ROWS).map(([name]) => name);
  const high = Math.max(...ordered.flatMap((g) => g.partners.map((p) => p.meanWeight)), 1e-9);
  const header = h("tr", {}, h("th", {}, "Target"), ordered.map((g) =>
    h("th", { class: "num", title: g.group?.termId ?? "" }, g === current ? "● " : "", termText(g.group),
      h("div", { class: "muted" }, `${g.networkCount} net.`))));
  const body = rows.map((name) => h("tr", {}, h("td", {}, geneLink(genes.get(name))), ordered.map((g) => {
    const p = g.partners.find((x) => geneName(x.gene) === name);
    if (!p) return h("td", { class: "cell empty", title: `not among the ${ELSEWHERE_PARTNERS} strongest targets here` }, "·");
    return h("td", { class: "cell", style: shade(p.meanWeight / high),
      title: `mean ${fmt(p.meanWeight)}, max ${fmt(p.maxWeight)}, best rank ${p.bestRank}, in ${p.networkCount} network(s)` },
    fmt(p.meanWeight, 2));
  })));
  return h("div", { class: "overflow heatmap" }, h("table", {}, h("thead", {}, header), h("tbody", {}, body)));
}
