// Entry point: hash routing (every view is a shareable URL), the header's gene search, the footer's release
// line and the new-release notice.
//
//   #/                              cell types, with network counts per tissue and disease
//   #/cell-type/<term>?tissue&disease   networks of one cell type
//   #/network/<id>?regulator&hubs&tf&edges&edgesAfter
//                                   one network: top regulators, drawn neighbourhood, strongest edges
//                                   (known ones marked), other contexts
//   #/compare/<a>/<b>?maxRank&minWeight two networks: shared, gained and lost edges
//   #/gene/<name>?dir&partner           a gene's regulators or targets across cell types + heat map
//   #/enrich?genes&cellType             regulators whose targets are enriched in a gene list

import { gql } from "./api.js";
import { currentRoute, errorBox, h, href, seg } from "./dom.js";
import { showRelease, watchReleases } from "./release.js";
import * as cellTypes from "./views/celltypes.js";
import * as compare from "./views/compare.js";
import * as enrich from "./views/enrich.js";
import * as gene from "./views/gene.js";
import * as network from "./views/network.js";

const ROUTES = [
  [/^\/?$/, cellTypes.renderOverview, "cell-types"],
  [/^\/cell-type\/([^/]+)$/, cellTypes.renderCellType, "cell-types"],
  [/^\/network\/(\d+)$/, network.render, "cell-types"],
  [/^\/compare\/(\d+)\/(\d+)$/, compare.render, "cell-types"],
  [/^\/gene(?:\/([^/]+))?$/, gene.render, "gene"],
  [/^\/enrich$/, enrich.render, "enrich"],
];

let generation = 0;

async function route() {
  const root = document.getElementById("view");
  const { path, params } = currentRoute();
  const mine = ++generation;
  const isCurrent = () => mine === generation;
  // data-route names the URL a finished view shows, so a waiter can tell it from the view it replaces.
  const hash = location.hash;
  const finish = (state) => { root.dataset.route = hash; root.dataset.state = state; };
  const match = ROUTES.map(([pattern, view, nav]) => [path.match(pattern), view, nav]).find(([m]) => m);
  for (const link of document.querySelectorAll("header nav a")) {
    link.classList.toggle("active", match != null && link.dataset.nav === match[2]);
  }
  root.dataset.state = "loading";
  root.replaceChildren();
  if (!match) {
    root.append(h("h1", {}, "Not found"), h("p", {}, "No view at ", h("code", {}, path), ". ",
      h("a", { href: "#/" }, "Browse cell types")));
    finish("ready");
    return;
  }
  const [m, view] = match;
  const args = m.slice(1).map((x) => (x == null ? null : decodeURIComponent(x)));
  try {
    await view(root, { args, params, isCurrent });
    if (isCurrent()) finish("ready");
  } catch (error) {
    if (!isCurrent()) return;
    console.error(error);
    root.append(errorBox(error));
    finish("error");
  }
}

function setUpSearch() {
  const form = document.getElementById("gene-search");
  const input = document.getElementById("gene-search-input");
  const list = document.getElementById("gene-suggestions");
  let timer;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) return;
    timer = setTimeout(async () => {
      try {
        const data = await gql("query Suggest($q: String!) { genes(search: $q, first: 10) { symbol ensemblId } }",
          { q: text });
        list.replaceChildren(...data.genes.map((g) => h("option", { value: g.symbol || g.ensemblId }, g.ensemblId)));
      } catch (error) {
        console.warn("gene suggestions failed", error);
      }
    }, 150);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) location.hash = href(`/gene/${seg(text)}`);
  });
}

window.addEventListener("hashchange", route);
setUpSearch();
// The footer waits for the first view (it must not slow the view's own queries); the release checks follow.
route().finally(async () => {
  await showRelease();
  watchReleases(route);
});
