"""Turning the names clients send (symbols, synonyms, Ensembl ids) into store genes, with clear errors."""

from schema.queries.genes import GeneMatch
from schema.rows import GeneRow
from server.context import Context
from server.errors import UserError

MAX_SHOWN = 10


def shown(name: str, width: int = 60) -> str:
    """A client's string as quoted in an error message, cut to `width` characters."""
    return repr(name if len(name) <= width else name[: width - 1] + "…")


def check_gene_list(context: Context, names: list[str], label: str) -> None:
    """`UserError` when a user's list holds more names than `Limits.max_gene_list`."""
    if len(names) > context.limits.max_gene_list:
        msg = f"{label} holds {len(names)} names, at most {context.limits.max_gene_list} are allowed"
        raise UserError(msg)


async def match(context: Context, names: list[str], organism: str | None) -> list[GeneMatch]:
    """How each name resolves (`schema.queries.genes.GeneIndex.match`): from the release's index, no query."""
    try:
        return context.release.genes.match(names, organism=organism)
    except ValueError as error:
        raise UserError(str(error)) from error


async def resolve(context: Context, names: list[str], organism: str | None) -> list[GeneRow | None]:
    """`schema.queries.genes.resolve_genes`, answered by the release's gene index (no query)."""
    return [m.gene for m in await match(context, names, organism)]


def unresolved(names: list[str], matches: list[GeneMatch]) -> tuple[list[str], list[str]]:
    """The names naming no gene and the synonyms naming several, each in the order given."""
    pairs = list(zip(names, matches, strict=True))
    unknown = [name for name, found in pairs if found.gene is None and not found.ambiguous]
    return unknown, [name for name, found in pairs if found.ambiguous]


def ambiguity(name: str, found: GeneMatch) -> str:
    """Why an ambiguous synonym names no gene, listing the genes it may mean."""
    genes = ", ".join(f"{g.symbol} ({g.ensembl_id})" for g in found.candidates[:MAX_SHOWN])
    more = f" and {len(found.candidates) - MAX_SHOWN} more" if len(found.candidates) > MAX_SHOWN else ""
    return f"ambiguous gene {shown(name)}: a synonym of {genes}{more}; give an Ensembl id or the organism"


async def gene_row(context: Context, name: str, *, organism: str | None = None) -> GeneRow:
    """The gene named by a symbol, synonym or Ensembl id; `UserError` if the release does not know it or
    the name is a synonym of several genes."""
    (found,) = await match(context, [name], organism)
    if found.gene is not None:
        return found.gene
    if found.ambiguous:
        raise UserError(ambiguity(name, found))
    where = f" in {organism}" if organism else ""
    msg = f"unknown gene {shown(name)}{where}: give an HGNC/MGI symbol or an Ensembl gene id"
    raise UserError(msg)


async def gene_rows(
    context: Context, names: list[str], *, organism: str | None = None, label: str = "genes"
) -> tuple[list[GeneRow], list[str]]:
    """Known genes of a user list (deduplicated, in order) and the names naming no single gene (unknown, or
    synonyms of several genes: never a guess)."""
    check_gene_list(context, names, label)
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
