"""Turning the names clients send (symbols, Ensembl ids) into store genes, with clear errors."""

from schema.queries.genes import resolve_genes
from schema.rows import GeneRow
from server.context import Context
from server.errors import UserError
from server.releases import MAX_NAMES

MAX_SHOWN = 10


def shown(name: str, width: int = 60) -> str:
    """A client's string as quoted in an error message, cut to `width` characters."""
    return repr(name if len(name) <= width else name[: width - 1] + "…")


async def resolve(context: Context, names: list[str], organism: str | None) -> list[GeneRow | None]:
    """`schema.queries.genes.resolve_genes` through the release's memo of names already resolved."""
    memo = context.release.memo["gene_name"]
    missing = [n for n in dict.fromkeys(names) if (n, organism) not in memo]
    if missing:
        rows = await context.run(resolve_genes, missing, organism=organism)
        for name, row in zip(missing, rows, strict=True):
            if row is not None and len(memo) < MAX_NAMES:
                memo[(name, organism)] = row
        found = dict(zip(missing, rows, strict=True))
    else:
        found = {}
    return [memo.get((n, organism), found.get(n)) for n in names]


async def gene_row(context: Context, name: str, *, organism: str | None = None) -> GeneRow:
    """The gene named by a symbol or Ensembl id; `UserError` if the release does not know it."""
    (row,) = await resolve(context, [name], organism)
    if row is None:
        where = f" in {organism}" if organism else ""
        msg = f"unknown gene {shown(name)}{where}: give an HGNC/MGI symbol or an Ensembl gene id"
        raise UserError(msg)
    return row


async def gene_rows(
    context: Context, names: list[str], *, organism: str | None = None, label: str = "genes"
) -> tuple[list[GeneRow], list[str]]:
    """Known genes of a user list (deduplicated, in order) and the names the release does not know."""
    if len(names) > context.limits.max_gene_list:
        msg = f"{label} holds {len(names)} names, at most {context.limits.max_gene_list} are allowed"
        raise UserError(msg)
    rows = await resolve(context, names, organism)
    known: dict[int, GeneRow] = {}
    unknown = []
    for name, row in zip(names, rows, strict=True):
        if row is None:
            unknown.append(name)
        else:
            known.setdefault(row.id, row)
    return list(known.values()), unknown


def gene_name_or_none(name: str | None) -> str | None:
    """Empty strings count as absent."""
    return name.strip() or None if name is not None else None
