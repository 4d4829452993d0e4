// Small DOM and URL helpers shared by the views. Text always goes in as text nodes (never innerHTML),
// so labels coming from the store cannot inject markup.

/** Create an element: h("a", {href: "#/", class: "chip"}, "text", child, [more children]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A page-internal link: href("/network/3", {regulator: "TF1"}) -> "#/network/3?regulator=TF1". */
export function href(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value == null || value === "" || value === false) continue;
    query.set(key, String(value));
  }
  const qs = query.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

/** One path segment, percent-encoded (cell type labels hold spaces, term ids hold colons). */
export const seg = (text) => encodeURIComponent(text);

/** Route part of the current location: {path: "/network/3", params: URLSearchParams}. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  return { path, params };
}

export function fmt(value, digits = 3) {
  if (value == null || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) < 1e-3 && value !== 0 ? value.toExponential(1) : value.toFixed(digits);
}

/** A term as "label" with its ontology id as a tooltip; "–" when unrecorded. */
export function termText(term) {
  return term ? (term.label ?? term.termId ?? "–") : "–";
}

/** The value a network filter matches a term by: the ontology id when known, else the label. */
export function termKey(term) {
  return term ? (term.termId ?? term.label) : null;
}

/** A network in a list or a picker: "#3 liver · normal · Test dataset" (the dataset when known). */
export function networkLabel(network) {
  const dataset = network.provenance?.dataset?.title ?? network.provenance?.dataset?.sourceId;
  return `#${network.id} ${termText(network.tissue)} · ${termText(network.disease)}${dataset ? ` · ${dataset}` : ""}`;
}

/** A gene's display name and the name the API takes back (symbol, else Ensembl id). */
export const geneName = (gene) => gene?.symbol || gene?.ensemblId || "?";

/** Link to a gene's page, TFs marked. */
export function geneLink(gene) {
  return h("a", { href: href(`/gene/${seg(geneName(gene))}`), class: gene?.isTranscriptionFactor ? "tf" : null,
    title: gene?.ensemblId }, geneName(gene));
}

export function chip(text, count, link, selected = false) {
  const body = [text, count == null ? null : h("span", { class: "n" }, fmt(count))];
  return link ? h("a", { class: `chip${selected ? " selected" : ""}`, href: link }, body) : h("span", { class: "chip" }, body);
}

export function table(headers, rows) {
  const head = h("tr", {}, headers.map((x) => (typeof x === "string" ? h("th", {}, x) : x)));
  return h("div", { class: "overflow" }, h("table", {}, h("thead", {}, head), h("tbody", {}, rows)));
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error?.message ?? String(error));
}

/** Inline style from pale to the accent blue for x in [0, 1], with readable text (heat map cells). */
export function shade(x) {
  const t = Math.max(0, Math.min(1, x));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `background: rgb(${mix(240, 39)}, ${mix(244, 97)}, ${mix(252, 196)}); color: ${t > 0.55 ? "#fff" : "#1d2430"}`;
}

/** parent.append(...) that flattens arrays and skips null / false (optional parts of a view). */
export function put(parent, ...children) {
  parent.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
}
