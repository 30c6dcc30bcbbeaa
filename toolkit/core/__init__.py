"""Core: the toolkit's errors, safe file writing and progress lines; no third-party imports."""
