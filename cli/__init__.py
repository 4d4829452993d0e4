"""The `scprint-graph` command: thin wrappers over the packages."""
