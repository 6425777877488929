"""Ingest: the booth-facing endpoints and the processing pipeline."""
