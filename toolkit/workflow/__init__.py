"""Whole pipelines: train, export and verify in one call (toolkit run)."""
