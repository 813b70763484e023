"""Batches of structures for the models: neighbour pairs, padding, cached descriptors and Jacobians."""
