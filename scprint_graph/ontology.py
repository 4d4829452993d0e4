"""Offline ontologies (CL, MONDO, EFO, HANCESTRO, PATO, NCBITaxon, UBERON, ...) for label hierarchies.

The ontologies are the ones the CELLxGENE schema uses, bundled with the ``cellxgene-ontology-guide``
package (pinned in pyproject.toml): nothing is downloaded. The parser is loaded once per process
(:func:`ontology_parser`, cached). One place for ontology access: pretraining's parent -> leaf label
tables (:func:`leaf_groups`, scDataLoader's ``get_ancestry_mapping``) and any ontology-aware filter.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from cellxgene_ontology_guide.ontology_parser import OntologyParser

logger = logging.getLogger(__name__)


@functools.cache
def ontology_parser() -> OntologyParser:
    """The bundled ontologies of the CELLxGENE schema (loaded on first use, then shared)."""
    return OntologyParser()


def ontology_version() -> str:
    """The CELLxGENE schema version whose ontologies are bundled (for provenance)."""
    return str(ontology_parser().cxg_schema.version)


def is_known(term: str) -> bool:
    """Whether ``term`` (e.g. ``"CL:0000084"``) is a term of a bundled ontology."""
    try:
        return bool(ontology_parser().is_valid_term_id(term))
    except ValueError:  # not a term id at all, or an ontology the schema does not use
        return False


def _check(term: str) -> None:
    if not is_known(term):
        msg = f"{term!r} is not a term of the bundled ontologies (CELLxGENE schema {ontology_version()})"
        raise ValueError(msg)


def ancestors(term: str) -> frozenset[str]:
    """Every ancestor of ``term`` (not the term itself)."""
    _check(term)
    return frozenset(ontology_parser().get_term_ancestors(term)) - {term}


def descendants(term: str) -> frozenset[str]:
    """Every descendant of ``term`` (not the term itself)."""
    _check(term)
    return frozenset(ontology_parser().get_term_descendants(term)) - {term}


def leaf_groups(terms: Iterable[str]) -> dict[str, list[str]]:
    """Parent -> leaf table over a set of observed terms, as scPRINT builds its label hierarchy.

    A term that is an ancestor of another observed term is a parent; the others are leaves. Each parent
    maps to the sorted leaves that descend from it. Terms the ontologies do not know (free-text labels)
    have no ancestors and stay leaves.
    """
    terms = sorted(set(terms))
    known = [t for t in terms if is_known(t)]
    if len(known) < len(terms):
        unknown = sorted(set(terms) - set(known))
        logger.info("%d labels are not ontology terms and stay leaves, e.g. %s", len(unknown), unknown[:3])
    observed = set(terms)
    lineage = {t: ancestors(t) & observed for t in known}
    parents = set().union(*lineage.values()) if lineage else set()
    groups: dict[str, list[str]] = {p: [] for p in sorted(parents)}
    for leaf in (t for t in terms if t not in parents):
        for parent in lineage.get(leaf, ()):
            groups[parent].append(leaf)
    return {p: sorted(leaves) for p, leaves in groups.items()}
