"""The label vocabulary of networks, declared once: tissue, disease, cell type and organism.

Each label is a ``networks`` column holding the label (e.g. "lung") next to ``<name>_ontology_term_id``
holding its term id (e.g. "UBERON:0002048"). Grouping, facet counts, the network filter, the GraphQL group
and filter arguments and ingestion's grouping keys all read this list.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    name: str  # the networks column; ``<name>_ontology_term_id`` holds the term id
    plural: str  # the NetworkFilter field (and GraphQL filter argument) selecting by this label
    ontology: str
    description: str
    grouping: bool  # True: ingestion splits a dataset's cells by it; False: one value per dataset


LABELS = (
    Label("tissue", "tissues", "UBERON", "Tissue (UBERON).", grouping=True),
    Label("disease", "diseases", "MONDO", "Disease (MONDO); 'normal' for healthy.", grouping=True),
    Label("cell_type", "cell_types", "CL", "Cell type (CL).", grouping=True),
    Label("organism", "organisms", "NCBITaxon", "Organism (NCBITaxon).", grouping=False),
)
LABEL_NAMES = tuple(label.name for label in LABELS)
"""Every label, in group order: what facets count and summaries group by."""
GROUP_LABELS = tuple(label.name for label in LABELS if label.grouping)
"""Labels that split a dataset into groups, in order: a network is dataset x tissue x disease x cell type."""


def check_label(name: str, what: str = "label") -> str:
    """Return ``name`` if it is a label, else raise ValueError listing the labels."""
    if name not in LABEL_NAMES:
        msg = f"unknown {what} {name!r}; choose from {', '.join(LABEL_NAMES)}"
        raise ValueError(msg)
    return name
