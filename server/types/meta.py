"""What the server is serving: release, schema version, counts, models."""

import strawberry

from schema.rows import StoreInfo
from server.types.provenance import Model

API_VERSION = "1"


@strawberry.type(description="Row counts of the release.")
class Counts:
    genes: int = strawberry.field(description="Genes in the vocabulary.")
    datasets: int = strawberry.field(description="Source datasets.")
    networks: int = strawberry.field(description="Networks.")
    edges: int = strawberry.field(description="Edges over all networks.")
    gene_sets: int = strawberry.field(description="Gene sets available for enrichment.")


@strawberry.type(description="The release being served, its schema version, counts and models.")
class Meta:
    release: str = strawberry.field(description="Id of the release answering this request.")
    schema_version: int = strawberry.field(description="Version of the store schema of the release.")
    api_version: str = strawberry.field(description="Version of this GraphQL API.")
    created_at: str = strawberry.field(description="When the release was published (ISO 8601).")
    note: str | None = strawberry.field(description="The publisher's note on the release.")
    counts: Counts = strawberry.field(description="Row counts.")
    models: list[Model] = strawberry.field(description="Model checkpoints that produced the networks.")

    @classmethod
    def from_row(cls, row: StoreInfo) -> "Meta":
        return cls(
            release=row.release_id,
            schema_version=row.schema_version,
            api_version=API_VERSION,
            created_at=row.created_at,
            note=row.note,
            counts=Counts(
                genes=row.n_genes,
                datasets=row.n_datasets,
                networks=row.n_networks,
                edges=row.n_edges,
                gene_sets=row.n_gene_sets,
            ),
            models=[Model.from_row(m) for m in row.models],
        )
