"""Batch keys shared by the data pipeline, the models and the task.

A batch is a flat dictionary of tensors: atoms of all structures are
concatenated, ``IDX_M`` says which structure each atom belongs to and the
neighbour pairs ``IDX_I``/``IDX_J`` index the concatenated atoms.

Pair order contract: a batch holds every unordered pair twice, first all
pairs (i, j, S) then the same pairs reversed (j, i, -S) in the same order,
so that pair k and pair k + n_pairs // 2 have the same distance. Models may
compute distance-only quantities on the first half
(:func:`lightning_modules.geometry.neighbors.symmetric_pairs` builds such lists).
"""

from __future__ import annotations

Z = "atomic_numbers"  # [n_atoms] int64
R = "positions"  # [n_atoms, 3] Angstrom
CELL = "cell"  # [n_structures, 3, 3] Angstrom (zeros for isolated clusters)
N_ATOMS = "n_atoms"  # [n_structures] int64
IDX_M = "structure_index"  # [n_atoms] int64, structure of each atom
IDX_I = "pair_i"  # [n_pairs] int64, central atom
IDX_J = "pair_j"  # [n_pairs] int64, neighbour
PAIR_SHIFT = "pair_shift"  # [n_pairs, 3] Angstrom, added to R[j] - R[i] for periodic images
ENERGY = "energy"  # [n_structures] eV
FORCES = "forces"  # [n_atoms, 3] eV/Angstrom
HAS_FORCES = "has_forces"  # [n_structures] bool, structures whose forces enter the loss
CLEAN = "audit_clean"  # [n_structures] bool, within the audit's physical bound
OUTLIER = "audit_outlier"  # [n_structures] bool, a robust outlier within the bound
INDEX = "structure_id"  # [n_structures] int64, index in the full data set
DESCRIPTOR = "descriptor"  # [n_atoms, length] cached descriptors (descriptor-based models)
JACOBIAN = "descriptor_jacobian"  # list of [n*length, n*3] dG/dR matrices (cached, not copied)
JACOBIAN_BLOCKS = "jacobian_blocks"  # [n_blocks, 2] (first atom in the batch, n atoms)
