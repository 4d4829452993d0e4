"""scPRINT-2 (``scprint2`` 1.0.3): the model, its official checkpoints, neighbours, and GRN extraction."""
