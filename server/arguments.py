"""The GraphQL arguments several fields share, defined once with their descriptions (`Annotated` aliases).

A field declares `first: FirstArg = None`; the description, and the limit it states, stay the same wherever
the argument appears.
"""

from typing import Annotated

import strawberry

from server.config import Limits
from server.types.filters import GroupBy, HubStatistic, NetworkFilterInput

DEFAULTS = Limits()  # descriptions state the default limits; a deployment that changes them says so

FirstArg = Annotated[
    int | None,
    strawberry.argument(
        description=(
            f"Page size (default {DEFAULTS.default_page_size}, at most {DEFAULTS.max_page_size}; "
            "larger is an error)."
        )
    ),
]
AfterArg = Annotated[str | None, strawberry.argument(description="`endCursor` of the previous page.")]
OrganismArg = Annotated[
    str | None,
    strawberry.argument(
        description="Organism as an NCBITaxon term id, e.g. 'NCBITaxon:9606' (default: any)."
    ),
]
MinWeightArg = Annotated[float | None, strawberry.argument(description="Keep edges of at least this weight.")]
MaxRankArg = Annotated[
    int | None, strawberry.argument(description="Keep edges among the N strongest of their network.")
]
GenesArg = Annotated[
    list[str],
    strawberry.argument(
        description=f"Gene symbols, synonyms or Ensembl ids, versioned or not (at most "
        f"{DEFAULTS.max_gene_list})."
    ),
]
FilterArg = Annotated[
    NetworkFilterInput | None, strawberry.argument(description="Networks to look in (default: all).")
]
GroupByArg = Annotated[GroupBy, strawberry.argument(description="Network attribute to group by.")]
TopArg = Annotated[
    int | None,
    strawberry.argument(
        description=(
            f"Partners kept per group (default {DEFAULTS.default_page_size}, "
            f"at most {DEFAULTS.max_page_size})."
        )
    ),
]
HubsByArg = Annotated[HubStatistic, strawberry.argument(description="Statistic ranking the hubs.")]
KnownOnlyArg = Annotated[
    bool, strawberry.argument(description="Keep the edges a loaded prior source contains.")
]
NovelOnlyArg = Annotated[
    bool, strawberry.argument(description="Keep the edges no loaded prior source contains.")
]
EvidenceSourcesArg = Annotated[
    list[str] | None,
    strawberry.argument(
        description="The prior sources knownOnly / novelOnly count (default: every loaded source)."
    ),
]
