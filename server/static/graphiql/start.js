// GraphiQL at GET /graphql, from the vendored bundles only (server/static/vendor/graphiql/, see
// scripts/vendor_js.sh). The endpoint comes from the page (data-endpoint); a query, its variables and
// headers given as ?q=&variables=&headers= fill the editors, and edits are written back to the URL
// so a query can be shared as a link (`q`, not `query`: GET /graphql?query= runs the query).
const root = document.getElementById("graphiql");
const endpoint = new URL(root.dataset.endpoint, window.location.href).toString();
const params = new URLSearchParams(window.location.search);

const DEFAULT_QUERY = `# scPRINT-graph: gene networks inferred by the scPRINT model.
# Ctrl-Enter runs the query; Ctrl-Space completes; the Docs panel describes every type and field.
{
  meta {
    schemaVersion
  }
}
`;

function remember(key, value) {
  if (value) {
    params.set(key, value);
  } else {
    params.delete(key);
  }
  const search = params.toString();
  window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

const fetcher = GraphiQL.createFetcher({ url: endpoint });

ReactDOM.createRoot(root).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    query: params.get("q") ?? undefined,
    variables: params.get("variables") ?? undefined,
    headers: params.get("headers") ?? undefined,
    onEditQuery: (query) => remember("q", query),
    onEditVariables: (variables) => remember("variables", variables),
    onEditHeaders: (headers) => remember("headers", headers),
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    inputValueDeprecation: true,
  }),
);
