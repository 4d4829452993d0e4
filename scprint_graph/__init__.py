"""The scPRINT model in PyTorch: gene vocabulary, tokenisation, transformer, losses, checkpoints, GRNs."""
