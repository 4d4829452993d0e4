"""Prefetching the genes and networks a page will show, in one batched load, before building its objects.

A page of 100 edges asking for `regulator { symbol } target { symbol }` would otherwise run 200 async
resolvers (each a DataLoader future): correct, but the asyncio bookkeeping costs more than the SQL. The
connection resolver instead looks at the client's selection, takes the genes it asks for from
`Context.genes` (the release's gene index, no query) and the networks through the request's DataLoader (one
query, cached), and hands plain objects to the types.
"""

from collections.abc import Iterable, Mapping

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from schema.rows import NetworkRow
from server.context import Info


def _children(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _children(selection.selections)


def selects(info: Info, *path: str) -> bool:
    """True when the current field's selection reaches `path`, e.g. selects(info, "nodes", "regulator")."""
    level = [s for f in info.selected_fields for s in _children(f.selections)]
    for index, name in enumerate(path):
        matches = [field for field in level if field.name == name]
        if not matches:
            return False
        if index == len(path) - 1:
            return True
        level = [s for field in matches for s in _children(field.selections)]
    return True


async def networks(info: Info, ids: Iterable[int]) -> Mapping[int, NetworkRow]:
    """Network rows by id through the request's loader."""
    unique = sorted(set(ids))
    rows = await info.context.loaders.network.load_many(unique)
    return {i: row for i, row in zip(unique, rows, strict=True) if row is not None}
