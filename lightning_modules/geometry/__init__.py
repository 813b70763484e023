"""Neighbour lists: pure functions of positions, cell and cutoff."""
