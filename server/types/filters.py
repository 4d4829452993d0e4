"""Input types and enums shared by several fields: the network filter, groupings, hub statistics."""

from enum import Enum

import strawberry

from schema.queries._common import NetworkFilter
from server.errors import UserError

MAX_FILTER_VALUES = 1000


@strawberry.enum(description="A network attribute to group results by.")
class GroupBy(Enum):
    TISSUE = strawberry.enum_value("tissue", description="Group by tissue (UBERON).")
    DISEASE = strawberry.enum_value("disease", description="Group by disease (MONDO; 'normal' for healthy).")
    CELL_TYPE = strawberry.enum_value("cell_type", description="Group by cell type (CL).")
    ORGANISM = strawberry.enum_value("organism", description="Group by organism (NCBITaxon).")


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
        "Labels match case-insensitively, ontology term ids exactly."
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
    text: str | None = strawberry.field(
        default=None, description="Free text matched within labels and the dataset title or collection."
    )

    def to_store(self) -> NetworkFilter:
        """The store's `NetworkFilter` for this input (list lengths capped)."""
        return NetworkFilter(
            cell_types=_values("cellTypes", self.cell_types),
            tissues=_values("tissues", self.tissues),
            diseases=_values("diseases", self.diseases),
            organisms=_values("organisms", self.organisms),
            dataset_ids=_values("datasetIds", self.dataset_ids),
            model_ids=_values("modelIds", self.model_ids),
            network_ids=_values("networkIds", self.network_ids),
            text=self.text or None,
        )


def to_store(where: NetworkFilterInput | None) -> NetworkFilter | None:
    return where.to_store() if where is not None else None
