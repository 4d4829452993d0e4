"""The read-only GraphQL API (strawberry on starlette) and the web page."""
