"""pesweep: hyperparameter sweeps for machine-learning interatomic potentials.

The public face of the library; everything else (``hpo``, ``lightning_modules``,
``search_spaces``, ``dashboards``) may change between versions::

    import pesweep

    calc = pesweep.load_potential("models:/seb@pretrained")  # an ASE calculator
    data = pesweep.load_data("B=20.npz", energy_unit="hartree")
    result = pesweep.train(pesweep.TrainConfig(data=("cuau.xyz",), max_epochs=20))
    atoms.calc = pesweep.load_potential(result.checkpoint_path)
    options = pesweep.SweepOptions(study_name="cuau", space="demo", data=("cuau.xyz",))
    outcome = pesweep.run_sweep(options)  # an Optuna study, every trial an MLflow run

Names load on first use, so ``import pesweep`` stays quick (torch, Lightning
and MLflow are imported by the first name that needs them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from hpo import __version__

if TYPE_CHECKING:
    from hpo.sweep.options import SweepOptions
    from hpo.sweep.runner import SweepOutcome, run_sweep
    from hpo.tracking.model_uris import load_potential, resolve_checkpoint
    from hpo.workflows.promotion import promote_best_trial
    from lightning_modules.data import AtomsData, load_data
    from lightning_modules.errors import PesweepError
    from lightning_modules.training.calculator import PesweepCalculator
    from lightning_modules.training.config import TrainConfig
    from lightning_modules.training.run import TrainResult, train
    from search_spaces.space import SearchSpace, load_space

__all__ = [
    "__version__",
    "load_potential",
    "resolve_checkpoint",
    "PesweepCalculator",
    "load_data",
    "AtomsData",
    "TrainConfig",
    "train",
    "TrainResult",
    "SweepOptions",
    "run_sweep",
    "SweepOutcome",
    "promote_best_trial",
    "SearchSpace",
    "load_space",
    "PesweepError",
]

# each public name -> the module that defines it (a test checks it against __all__)
_PUBLIC = {
    "load_potential": "hpo.tracking.model_uris",
    "resolve_checkpoint": "hpo.tracking.model_uris",
    "PesweepCalculator": "lightning_modules.training.calculator",
    "load_data": "lightning_modules.data",
    "AtomsData": "lightning_modules.data",
    "TrainConfig": "lightning_modules.training.config",
    "train": "lightning_modules.training.run",
    "TrainResult": "lightning_modules.training.run",
    "SweepOptions": "hpo.sweep.options",
    "run_sweep": "hpo.sweep.runner",
    "SweepOutcome": "hpo.sweep.runner",
    "promote_best_trial": "hpo.workflows.promotion",
    "SearchSpace": "search_spaces.space",
    "load_space": "search_spaces.space",
    "PesweepError": "lightning_modules.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pesweep' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next look-up finds it directly
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
