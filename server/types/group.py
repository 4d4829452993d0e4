"""Networks grouped by one label (e.g. every cell type with its tissues and diseases), a page at a time."""

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.labels import LABEL_NAMES
from schema.queries.networks import NetworkGroup
from schema.rows import Page
from server import prefetch
from server.context import Info
from server.types.network import NetworkFacets
from server.types.page import PageInfo
from server.types.term import OntologyTerm


@strawberry.type(description="The networks sharing one value of the grouping label.")
class NetworkGroupNode:
    term: OntologyTerm | None = strawberry.field(description="The label value (null: not recorded).")
    network_count: int = strawberry.field(description="Networks of the group (matching the filter).")
    facets: NetworkFacets = strawberry.field(
        description="The group's networks per value of the other labels (the grouping label's list is empty)."
    )

    @classmethod
    def from_row(cls, row: NetworkGroup) -> "NetworkGroupNode":
        return cls(
            term=OntologyTerm.from_row(row.value, row.term_id),
            network_count=row.count,
            facets=NetworkFacets.from_row(row.facets),
        )


@strawberry.type(description="A page of network groups, most networks first, and how many groups match.")
class NetworkGroupConnection:
    nodes: list[NetworkGroupNode] = strawberry.field(description="The groups of this page.")
    total_count: int = strawberry.field(description="Groups matching the filter and search (all pages).")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")

    @classmethod
    def from_row(
        cls, groups: list[NetworkGroup], total: int, next_cursor: str | None
    ) -> "NetworkGroupConnection":
        return cls(
            nodes=[NetworkGroupNode.from_row(g) for g in groups],
            total_count=total,
            page_info=PageInfo.from_row(Page(items=groups, next_cursor=next_cursor)),
        )

    @staticmethod
    def facets_selected(info: Info) -> list[str]:
        """The labels (store names) whose counts the client selects under `nodes { facets }`."""
        return [f for f in LABEL_NAMES if prefetch.selects(info, "nodes", "facets", to_camel_case(f))]
