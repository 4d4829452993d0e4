"""Input types and enums shared by several fields: the network filter, groupings, hub statistics."""

from enum import Enum

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.labels import LABELS
from schema.queries._common import NetworkFilter
from schema.queries.evidence import prior_sources
from server.context import Info
from server.errors import UserError
from server.types.quality import QualityFilterInput

MAX_FILTER_VALUES = 1000

GroupBy = strawberry.enum(
    Enum(
        "GroupBy",
        {
            label.name.upper(): strawberry.enum_value(label.name, description=f"Group by {label.description}")
            for label in LABELS
        },
    ),
    description="A network attribute (a label) to group results by.",
)


@strawberry.enum(description="The node statistic that ranks hubs.")
class HubStatistic(Enum):
    OUT_DEGREE = strawberry.enum_value("out_degree", description="Number of targets.")
    IN_DEGREE = strawberry.enum_value("in_degree", description="Number of regulators.")
    WEIGHTED_OUT_DEGREE = strawberry.enum_value(
        "weighted_out_degree", description="Sum of the weights of outgoing edges."
    )
    WEIGHTED_IN_DEGREE = strawberry.enum_value(
        "weighted_in_degree", description="Sum of the weights of incoming edges."
    )
    DEGREE_CENTRALITY = strawberry.enum_value(
        "degree_centrality", description="(in + out degree) / (genes - 1), as networkx defines it."
    )
    PAGERANK = strawberry.enum_value("pagerank", description="PageRank on the weighted directed network.")


def _values(name: str, values: list | None) -> tuple:
    if values is None:
        return ()
    if len(values) > MAX_FILTER_VALUES:
        msg = f"filter.{name} holds {len(values)} values, at most {MAX_FILTER_VALUES} are allowed"
        raise UserError(msg)
    return tuple(values)


@strawberry.input(
    description=(
        "Selects networks. Within a field values are OR-ed, fields are AND-ed; an empty filter selects all. "
        "A label value matches a whole label case-insensitively, or an ontology term id exactly; `text` "
        "matches as a case-insensitive substring. Nothing is a wildcard: `%` and `_` match only themselves."
    )
)
class NetworkFilterInput:
    cell_types: list[str] | None = strawberry.field(
        default=None, description="Cell type labels or CL term ids, e.g. ['T cell', 'CL:0000236']."
    )
    tissues: list[str] | None = strawberry.field(
        default=None, description="Tissue labels or UBERON term ids, e.g. ['lung', 'UBERON:0002048']."
    )
    diseases: list[str] | None = strawberry.field(
        default=None, description="Disease labels or MONDO term ids; 'normal' / 'PATO:0000461' for healthy."
    )
    organisms: list[str] | None = strawberry.field(
        default=None, description="Organism labels or NCBITaxon term ids, e.g. ['Homo sapiens']."
    )
    dataset_ids: list[int] | None = strawberry.field(
        default=None, description="Store ids of source datasets."
    )
    model_ids: list[int] | None = strawberry.field(
        default=None, description="Store ids of model checkpoints."
    )
    network_ids: list[int] | None = strawberry.field(default=None, description="Network ids.")
    keys: list[str] | None = strawberry.field(
        default=None, description="Stable network keys (`Network.key`), the same in every release."
    )
    text: str | None = strawberry.field(
        default=None,
        description="Free text matched (literally, any case) within labels and the dataset title, collection "
        "or source id.",
    )

    exact_terms: bool = strawberry.field(
        default=False,
        description="False (default): a cell type, tissue or disease (label or term id) also selects its "
        "descendant terms in the ontologies CELLxGENE uses, e.g. 'T cell' finds CD4 and CD8 T cell networks. "
        "True: only the term itself.",
    )
    quality: QualityFilterInput | None = strawberry.field(
        default=None,
        description="Keep networks whose stored quality figure against a prior source lies within bounds "
        "(unscored networks never pass a bound); `networks(orderByQuality: true)` also sorts by it.",
    )

    def to_store(self) -> NetworkFilter:
        """The store's `NetworkFilter` for this input (list lengths capped)."""
        lists = [label.plural for label in LABELS] + ["dataset_ids", "model_ids", "network_ids", "keys"]
        return NetworkFilter(
            **{name: _values(to_camel_case(name), getattr(self, name)) for name in lists},
            text=self.text or None,
            exact_terms=self.exact_terms,
            quality=self.quality.to_store() if self.quality is not None else None,
        )


def to_store(where: NetworkFilterInput | None) -> NetworkFilter | None:
    return where.to_store() if where is not None else None


async def checked_filter(info: Info, where: NetworkFilterInput | None) -> NetworkFilter | None:
    """`to_store`, and a quality bound naming a prior source the release has not loaded is an error rather
    than an empty (or, unbounded, an unfiltered) answer. Every resolver taking a client's filter uses it."""
    store = to_store(where)
    if store is not None and store.quality is not None:
        loaded = sorted(source.name for source in await info.context.run(prior_sources))
        if store.quality.source not in loaded:
            msg = f"unknown prior source {store.quality.source!r}; loaded: {', '.join(loaded) or 'none'}"
            raise UserError(msg)
    return store
