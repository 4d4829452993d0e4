"""The ontology closure of a release's label terms, so that a filter on a term finds its descendants.

schema/ and server/ read no ontology (DESIGN boundaries): ingestion computes, for every term the networks
carry, the term itself and its ancestors with their names, from the CELLxGENE ontologies bundled offline
(``scprint_graph.ontology``), and the writer stores them in ``term_ancestors``.
"""

import logging

import pyarrow as pa

from scprint_graph import ontology

logger = logging.getLogger(__name__)


def term_closure(terms: list[str]) -> pa.Table:
    """(term_id, ancestor_id, ancestor_name, ontology) for each known term and each of its ancestors,
    the term itself included; terms the ontologies do not know (free text) map only to themselves."""
    parser = ontology.ontology_parser()
    rows: dict[str, list] = {"term_id": [], "ancestor_id": [], "ancestor_name": [], "ontology": []}
    names: dict[str, str | None] = {}
    for term in sorted(set(terms)):
        known = ontology.is_known(term)
        lineage = [term, *sorted(ontology.ancestors(term))] if known else [term]
        if not known:
            logger.info("term %r is not in the bundled ontologies: it matches only itself", term)
        for ancestor in lineage:
            if ancestor not in names:
                names[ancestor] = parser.get_term_label(ancestor) if ontology.is_known(ancestor) else None
            rows["term_id"].append(term)
            rows["ancestor_id"].append(ancestor)
            rows["ancestor_name"].append(names[ancestor])
            rows["ontology"].append(ancestor.split(":", 1)[0])
    schema = pa.schema([(name, pa.string()) for name in rows])
    return pa.table(rows, schema=schema)


def write_term_closure(writer) -> int:
    """Compute and store the closure of the terms of ``writer``'s release (a ``schema.ReleaseWriter``)."""
    return writer.set_term_closure(term_closure(writer.network_terms()), ontology.ontology_version())
