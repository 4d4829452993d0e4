"""Turning the names clients send (symbols, Ensembl ids) into store genes, with clear errors."""

from schema.rows import GeneRow
from server.context import Context
from server.errors import UserError

MAX_SHOWN = 10


def shown(name: str, width: int = 60) -> str:
    """A client's string as quoted in an error message, cut to `width` characters."""
    return repr(name if len(name) <= width else name[: width - 1] + "…")


async def resolve(context: Context, names: list[str], organism: str | None) -> list[GeneRow | None]:
    """`schema.queries.genes.resolve_genes`, answered by the release's gene index (no query)."""
    try:
        return context.release.genes.resolve(names, organism=organism)
    except ValueError as error:
        raise UserError(str(error)) from error


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
