"""GraphQL types: one per module, each built from a store row by `from_row()`."""
