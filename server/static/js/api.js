// The page's only data source: POST /graphql, plus the plain-HTTP export URLs.
// Answers are kept for the page's lifetime (bounded), so going back and forth between views is instant.

const MAX_CACHED = 100;
const cache = new Map();

export class ApiError extends Error {}

/**
 * Run a GraphQL query; resolves to `data`, rejects with the API's own error messages.
 * `{ cached: false }` asks the server every time (the release poll); its answer is not kept.
 */
export function gql(query, variables = {}, { cached = true } = {}) {
  if (!cached) return post(query, variables);
  const key = JSON.stringify([query, variables]);
  if (cache.has(key)) return cache.get(key);
  const answer = post(query, variables);
  cache.set(key, answer);
  answer.catch(() => cache.delete(key));
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value);
  return answer;
}

/** Forget every kept answer: they belong to the release the page read them from. */
export function clearCache() {
  cache.clear();
}

async function post(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the server answered ${response.status} ${response.statusText}`);
  }
  if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join("; "));
  if (!response.ok) throw new ApiError(`the server answered ${response.status} ${response.statusText}`);
  return body.data;
}

export const EXPORTS = [
  ["edges.tsv", "Edges (TSV)"],
  ["network.graphml", "Graph (GraphML)"],
  ["regulons.gmt", "Regulons (GMT)"],
];

/** URL of one export of a network, e.g. exportUrl(3, "edges.tsv", {maxRank: 1000}). */
export function exportUrl(networkId, format, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== ""));
  const qs = query.toString();
  return `/networks/${networkId}/${format}${qs ? `?${qs}` : ""}`;
}
