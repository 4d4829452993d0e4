"""A bulk gene lookup: for each name its gene and how it matched, and the names that name no single gene."""

from enum import Enum

import strawberry

from schema.queries.genes import GeneMatch
from server.lookup import unresolved
from server.types.gene import Gene


@strawberry.enum(description="What a name matched.")
class GeneMatchKind(Enum):
    ENSEMBL_ID = strawberry.enum_value(
        "ensembl_id", description="An Ensembl gene id, with or without its version ('ENSG00000105329.12')."
    )
    SYMBOL = strawberry.enum_value("symbol", description="The current HGNC / MGI symbol (case-insensitive).")
    SYNONYM = strawberry.enum_value(
        "synonym",
        description="An HGNC alias or previous symbol or an MGI synonym (any case), of this gene only.",
    )


@strawberry.type(description="One name of the list and the gene it names.")
class GeneNameMatch:
    name: str = strawberry.field(description="The name as given.")
    gene: Gene | None = strawberry.field(
        description="The gene; null when the name is unknown or a synonym of several genes."
    )
    matched_by: GeneMatchKind | None = strawberry.field(
        description="What the name matched (Ensembl id, symbol or synonym); null when no gene."
    )
    candidates: list[Gene] = strawberry.field(
        description="The genes an ambiguous synonym may mean (lowest id first); empty otherwise."
    )

    @classmethod
    def from_match(cls, name: str, found: GeneMatch) -> "GeneNameMatch":
        return cls(
            name=name,
            gene=Gene.from_row(found.gene) if found.gene is not None else None,
            matched_by=GeneMatchKind(found.via) if found.via is not None else None,
            candidates=[Gene.from_row(row) for row in found.candidates] if found.ambiguous else [],
        )


@strawberry.type(description="Genes named by a list of symbols, synonyms or Ensembl ids, in the order given.")
class GeneLookup:
    matches: list[GeneNameMatch] = strawberry.field(
        description="One entry per name given, in the order given (repeated names too)."
    )
    unknown_genes: list[str] = strawberry.field(
        description="Names matching no gene (of the organism asked for), in the order given."
    )
    ambiguous_genes: list[str] = strawberry.field(
        description="Synonyms of several genes, in the order given: give an Ensembl id or the organism."
    )

    @classmethod
    def from_matches(cls, names: list[str], matches: list[GeneMatch]) -> "GeneLookup":
        unknown, ambiguous = unresolved(names, matches)
        return cls(
            matches=[GeneNameMatch.from_match(n, m) for n, m in zip(names, matches, strict=True)],
            unknown_genes=unknown,
            ambiguous_genes=ambiguous,
        )
