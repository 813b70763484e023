"""Declarative search spaces (YAML, one per file) and the pure ``suggest`` function."""
