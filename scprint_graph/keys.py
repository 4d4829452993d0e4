"""Names of the tensors in a model batch: the torch modules take a dict keyed by these constants.

Shapes: ``batch`` cells, ``n_ctx`` context genes per cell (at most ``max_len``).
"""

GENES = "genes"  # (batch, n_ctx) int64: vocabulary index of each context gene
EXPRESSION = "expression"  # (batch, n_ctx) float32: raw counts of those genes (possibly downsampled)
DEPTH = "depth"  # (batch,) float32: total counts of the cell, computed before gene subsetting
LABELS = "labels"  # (batch, n_classes) int64: leaf-label index per label class, -1 where unknown
TARGET_EXPRESSION = "target_expression"  # (batch, n_ctx) float32: full counts the decoder must predict
TARGET_DEPTH = "target_depth"  # (batch,) float32: depth at which the decoder predicts expression
MASK = "mask"  # (batch, n_ctx) bool, optional: True where a gene's expression is hidden from the model
