"""The names every layer shares: energy units, the monitored metric, the default stores.

* Energy units (one list for every command and config), as eV per unit.
  Internally everything is Angstrom, eV and eV/Angstrom; a data file declares
  the unit of its energies (the SeB_n npz files are Hartree). Unit names are
  case-insensitive: ``eV``, ``ev`` and ``EV`` are the same unit.
* The metric a training is judged by (best checkpoint, pruning, the objective),
  and the losses a training may minimise.
* The default MLflow tracking store and the environment variable that replaces
  it (a password belongs there, not on a command line); the Optuna storage's
  are :mod:`hpo.tracking.stores`'s, which alone uses it.
"""

from __future__ import annotations

HARTREE_IN_EV = 27.211386
ENERGY_UNITS: dict[str, float] = {
    "ev": 1.0,
    "hartree": HARTREE_IN_EV,
    "kcal/mol": 0.0433641,
    "kj/mol": 0.0103643,
    "mev": 1e-3,
}
DEFAULT_ENERGY_UNIT = "ev"  # of a data file that declares none


def normalise_energy_unit(name: str) -> str:
    """The canonical (lower-case) name of an energy unit; ``ValueError`` naming the choices."""
    key = str(name).strip().lower()
    if key not in ENERGY_UNITS:
        raise ValueError(
            f"unknown energy unit {name!r}; use one of {', '.join(ENERGY_UNITS)} "
            f"(case does not matter)"
        )
    return key


MONITORED_METRIC = "val_energy_mae_eV"  # eV per structure, on the validation split
LOSSES = ("rmse", "mae")  # of energies (and forces): root mean square or mean absolute error

TRACKING_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's own local default

CALCULATORS = ("emt", "gfn1-xtb")  # real calculators of new labels: ASE's EMT, GFN1-xTB (tblite)
