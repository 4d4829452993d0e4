"""Where a network comes from: its dataset, the model checkpoint, the parameters and the release."""

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.rows import DatasetRow, ModelRow


@strawberry.type(description="A source dataset (an h5ad file, a lamindb artifact or a CELLxGENE dataset).")
class Dataset:
    id: int = strawberry.field(description="Store id of the dataset (stable across releases).")
    source: str = strawberry.field(description="Where it was read from: 'h5ad', 'lamindb' or 'census'.")
    source_id: str = strawberry.field(description="Identifier within the source (path, uid, dataset id).")
    version: str | None = strawberry.field(description="Source version, when the source has versions.")
    title: str | None = strawberry.field(description="Dataset title.")
    collection: str | None = strawberry.field(description="Collection the dataset belongs to, if any.")
    content_hash: str | None = strawberry.field(
        description="Hash of the content used for idempotent ingestion."
    )
    updated_at: datetime = strawberry.field(description="When the dataset was last ingested.")

    @classmethod
    def from_row(cls, row: DatasetRow) -> "Dataset":
        return cls(
            id=row.id,
            source=row.source,
            source_id=row.source_id,
            version=row.version,
            title=row.title,
            collection=row.collection,
            content_hash=row.content_hash,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A model checkpoint that produced networks.")
class Model:
    id: int = strawberry.field(description="Store id of the model.")
    name: str = strawberry.field(description="Model name, e.g. 'scprint-small'.")
    checkpoint_hash: str = strawberry.field(description="SHA-256 of the checkpoint file.")
    config: JSON = strawberry.field(description="The model configuration (JSON object).")
    created_at: datetime = strawberry.field(description="When the model was registered.")

    @classmethod
    def from_row(cls, row: ModelRow) -> "Model":
        return cls(
            id=row.id,
            name=row.name,
            checkpoint_hash=row.checkpoint_hash,
            config=_json(row.config),
            created_at=row.created_at,
        )


def _json(text: str) -> object:
    import json

    return json.loads(text) if text else {}


@strawberry.type(description="How a network was made: dataset, model checkpoint, parameters and release.")
class Provenance:
    dataset: Dataset | None = strawberry.field(description="The source dataset.")
    model: Model | None = strawberry.field(description="The model checkpoint; null if not recorded.")
    parameters: JSON = strawberry.field(
        description="Extraction parameters (JSON object: layers, head aggregation, filtering, cells used...)."
    )
    idempotency_key: str | None = strawberry.field(
        description="Key of (dataset, version, checkpoint, parameters, group) under which it was built."
    )
    release: str = strawberry.field(description="Id of the release this answer was read from.")
    created_at: datetime = strawberry.field(description="When the network was written.")

    @classmethod
    def from_row(
        cls,
        *,
        dataset: DatasetRow | None,
        model: ModelRow | None,
        parameters: str,
        idempotency_key: str | None,
        release: str,
        created_at: datetime,
    ) -> "Provenance":
        return cls(
            dataset=Dataset.from_row(dataset) if dataset else None,
            model=Model.from_row(model) if model else None,
            parameters=_json(parameters),
            idempotency_key=idempotency_key,
            release=release,
            created_at=created_at,
        )
