// The drawn network view: a regulator's neighbourhood with Cytoscape.js, bundled under /static/vendor/
// and loaded only when a graph is first drawn (keeps the first paint light).

const LIBRARY = "/static/vendor/cytoscape.min.js";
const COLOURS = { center: "#2761c4", target: "#8fb2ee", regulator: "#e39a63", both: "#b48ad8" };

const MAX_FIT_ZOOM = 1.6;

let loading = null;
let current = null;

export function loadCytoscape() {
  if (window.cytoscape) return Promise.resolve(window.cytoscape);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = LIBRARY;
    script.onload = () => resolve(window.cytoscape);
    script.onerror = () => {
      loading = null;
      reject(new Error(`could not load the graph library from ${LIBRARY}`));
    };
    document.head.append(script);
  });
  return loading;
}

/**
 * Draw `center` with its targets (center -> t) and regulators (r -> center) into `container`.
 * Genes are {name, tf}; edges carry weights. Tapping a node calls onSelect(name).
 * Sets container.dataset.nodes / .edges once drawn (the browser tests read them).
 */
export async function drawNeighbourhood(container, { center, targets, regulators, onSelect }) {
  const cytoscape = await loadCytoscape();
  if (!container.isConnected) return null;
  current?.destroy();
  const nodes = new Map([[center.name, { ...center, role: "center" }]]);
  const addNode = (gene, role) => {
    const known = nodes.get(gene.name);
    if (!known) nodes.set(gene.name, { ...gene, role });
    else if (known.role !== role && known.role !== "center") known.role = "both";
  };
  targets.forEach((t) => addNode(t.gene, "target"));
  regulators.forEach((r) => addNode(r.gene, "regulator"));
  const edges = [
    ...targets.map((t) => ({ source: center.name, target: t.gene.name, weight: t.weight })),
    ...regulators.map((r) => ({ source: r.gene.name, target: center.name, weight: r.weight })),
  ];
  const weights = edges.map((e) => e.weight);
  const low = Math.min(...weights, 0);
  const high = Math.max(...weights, low + 1e-9);
  const ring = { center: 3, regulator: 2, both: 2, target: 1 };
  const elements = [
    ...[...nodes.values()].map((n) => ({
      data: { id: n.name, label: n.name, role: n.role, colour: COLOURS[n.role], shape: n.tf ? "round-rectangle" : "ellipse" },
    })),
    ...edges.map((e, i) => ({ data: { id: `e${i}`, ...e } })),
  ];
  current = cytoscape({
    container,
    elements,
    layout: { name: "concentric", concentric: (n) => ring[n.data("role")], levelWidth: () => 1, minNodeSpacing: 12, animate: false, padding: 24 },
    minZoom: 0.2,
    maxZoom: 3,
    style: [
      { selector: "node", style: {
        label: "data(label)", "background-color": "data(colour)", shape: "data(shape)", width: 30, height: 30,
        "font-size": 15, "text-valign": "bottom", "text-margin-y": 3, color: "#1d2430" } },
      { selector: 'node[role = "center"]', style: { width: 48, height: 48, "font-size": 18, "font-weight": "bold" } },
      { selector: "edge", style: {
        width: `mapData(weight, ${low}, ${high}, 0.8, 6)`, "line-color": "#9aa6b8", "target-arrow-color": "#9aa6b8",
        "target-arrow-shape": "triangle", "curve-style": "bezier", opacity: 0.85 } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#182338" } },
    ],
  });
  if (current.zoom() > MAX_FIT_ZOOM) { // a few nodes: keep them at a readable size, centred
    current.zoom(MAX_FIT_ZOOM);
    current.center();
  }
  current.on("tap", "node", (event) => onSelect?.(event.target.id()));
  container.dataset.nodes = String(current.nodes().length);
  container.dataset.edges = String(current.edges().length);
  window.scprintGraph = current; // handy from the console and for tests
  return current;
}
