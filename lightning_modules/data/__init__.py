"""Data sets: reading, validation, the label audit, splits, element references and subsets.

The public names most callers need are here; the modules hold the rest.
"""

from lightning_modules.data.atoms import (
    AtomsData,
    DataError,
    DataWarning,
    concatenate,
    energy_unit_factor,
)
from lightning_modules.data.checks import formula_from_path, validate_data, warn_duplicates
from lightning_modules.data.readers import load_data, read_ase, read_data, read_npz

__all__ = [
    "AtomsData",
    "DataError",
    "DataWarning",
    "concatenate",
    "energy_unit_factor",
    "formula_from_path",
    "load_data",
    "read_ase",
    "read_data",
    "read_npz",
    "validate_data",
    "warn_duplicates",
]
