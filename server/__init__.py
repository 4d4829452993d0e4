"""The read-only GraphQL API (strawberry on starlette) and the web page.

Modules, from the outside in:

- `app`: `create_app(ServerConfig)`, the ASGI app: /graphql (GraphiQL on GET from a browser), /healthz,
  /networks/{id}/edges.tsv|network.graphml|regulons.gmt, and the web page ("/", /static).
- `releases`: follows the store's pointer file; each request leases one release (a read-only DuckDB
  reader with a small pool of per-thread cursors) and keeps it to its end.
- `schema`: the root `Query`; `types/`: one GraphQL type per module, each with `from_row()`.
- `context`, `loaders`, `prefetch`: the typed per-request context, its DataLoaders, and batched loads of
  the genes / networks a page selects. Store calls always run in the thread pool.
- `limits`, `errors`, `config`: depth / alias / token / page / cost limits, error masking, settings.
- `exports`, `queries`, `lookup`, `web`: plain-HTTP exports, the two queries the store lacks, gene name
  resolution, the web page's routes.
"""
