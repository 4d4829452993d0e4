"""Ingestion: sources -> validation -> group planning -> model -> networks -> a published release."""
