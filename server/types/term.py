"""An ontology term as the API shows it: label and term id side by side."""

import strawberry


@strawberry.type(description="An ontology term: its label and its id (CL, UBERON, MONDO or NCBITaxon).")
class OntologyTerm:
    label: str | None = strawberry.field(description="Human-readable label, e.g. 'T cell'.")
    term_id: str | None = strawberry.field(description="Ontology term id, e.g. 'CL:0000084'.")

    @classmethod
    def from_row(cls, label: str | None, term_id: str | None) -> "OntologyTerm | None":
        """The term, or None when the store knows neither label nor id."""
        if label is None and term_id is None:
            return None
        return cls(label=label, term_id=term_id)
