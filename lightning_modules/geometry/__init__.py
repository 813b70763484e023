"""Neighbour lists, batches of structures and the per-data-set descriptor cache."""
