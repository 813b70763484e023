"""Small model settings that several tests train."""

from __future__ import annotations

# an ænet model of TiO2: the reference run's network, smaller descriptors (fast on small cells)
TIO2_MODEL = dict(
    species=["Ti", "O"],
    radial_order=8,
    radial_cutoff=5.0,
    angular_order=3,
    angular_cutoff=3.5,
    hidden_layers=2,
    hidden_width=5,
    activation="tanh",
)
