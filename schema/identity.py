"""What identifies work and networks across runs and releases: one hash, two keys.

- The **idempotency key** of a dataset's work is the hash of (dataset, version, checkpoint hash, parameters
  hash): equal keys mean the published networks are up to date and ingestion skips the dataset; any change
  gives a new key, and the dataset's networks are rebuilt.
- The **network key** names a group: (dataset source and id, tissue, disease, cell type, organism, model
  family), labels by ontology term id where known. It stays the same when the dataset's content, the
  checkpoint or the parameters change, so a rebuilt network keeps its key and, through the store's
  ``network_keys`` table, its integer id in every later release. A different model family (scPRINT vs
  scPRINT-2) makes a different network of the same cells.

Both are sha256 over JSON with sorted keys, so every process computes the same value.
"""

import hashlib
import json
from collections.abc import Mapping

from schema.labels import LABELS

NETWORK_KEY_LENGTH = 20  # hex digits: 80 bits, no collision among billions of groups in practice


def stable_hash(value) -> str:
    """sha256 of ``value`` as JSON with sorted keys and no whitespace (deterministic across runs)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def params_hash(params: Mapping) -> str:
    """Hash of the parameters that shape a network (extraction options, grouping threshold)."""
    return stable_hash(dict(params))


def idempotency_key(dataset: str, version: str | None, checkpoint_hash: str, parameters_hash: str) -> str:
    """Key of one dataset's work: equal keys mean its published networks are already up to date."""
    return stable_hash(
        {"dataset": dataset, "version": version, "checkpoint": checkpoint_hash, "params": parameters_hash}
    )


def network_key(
    source: str, source_id: str, labels: Mapping[str, str | None], model_family: str | None
) -> str:
    """Stable key of the network of one group (see the module docstring).

    ``labels`` maps each label name and ``<name>_ontology_term_id`` to its value (None where unknown); the
    term id stands for the label where given, so a relabelled term keeps its network.
    """
    parts = {"dataset": [source, source_id], "model_family": model_family}
    for label in LABELS:
        term = labels.get(f"{label.name}_ontology_term_id")
        text = labels.get(label.name)
        parts[label.name] = term if term else (text.strip().lower() if text else None)
    return stable_hash(parts)[:NETWORK_KEY_LENGTH]
