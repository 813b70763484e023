"""Starting a training from a pretrained checkpoint: weights, refitted references, frozen parts.

Used when a :class:`~lightning_modules.training.config.TrainConfig` has ``init_from``
(a local checkpoint file). The architecture comes from the checkpoint. The
element reference energies change only in the directions the new training
split determines (:func:`~lightning_modules.data.references.refit_energy_reference`
on the pretrained model's errors there), so fine-tuning on one composition
keeps the pretrained energies of others; the energy scale (and, for ænet,
the descriptor normalisation) stay those of pretraining; ``strategy``
freezes parts by the model's parameter groups.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

from ase.data import chemical_symbols

from lightning_modules.data import DataWarning
from lightning_modules.data.references import (
    EnergyReference,
    refit_energy_reference,
    undetermined_elements,
)
from lightning_modules.errors import PesweepError
from lightning_modules.training.evaluation import predict_energies
from lightning_modules.training.strategies import STRATEGIES
from lightning_modules.training.task import PotentialTask, load_task

logger = logging.getLogger(__name__)


class TransferError(PesweepError):
    """A checkpoint that cannot start this training; the message names the mismatch."""


def freeze(model: Any, strategy: str) -> list[str]:
    """Freeze the parts of ``model`` that ``strategy`` names; return the frozen group names."""
    if strategy not in STRATEGIES:
        raise TransferError(f"unknown strategy {strategy!r}; choose {', '.join(STRATEGIES)}")
    groups = model.parameter_groups()
    if strategy == "freeze-embedding" and "embedding" not in groups:
        raise TransferError(
            f"{type(model).__name__} has no embedding to freeze; use "
            f"freeze-representation or head-only"
        )
    frozen = [name for name in STRATEGIES[strategy] if name in groups]
    for name in frozen:
        for parameter in groups[name]:
            parameter.requires_grad_(False)
    return frozen


def load_pretrained(path: str) -> PotentialTask:
    """A checkpoint to start from, or a :class:`TransferError` saying it is none."""
    try:
        return load_task(path)
    except Exception as error:  # torch/Lightning raise many kinds for a file that is no checkpoint
        raise TransferError(
            f"{path} is not a pesweep checkpoint ({type(error).__name__}); "
            f"pass a best.ckpt or a registered model"
        ) from error


def refitted_reference(pretrained: PotentialTask, datamodule: Any, parent: str) -> EnergyReference:
    """The pretrained references refitted on the errors the pretrained model makes on the train split."""
    installed = pretrained.model.energy_reference()
    recorded = pretrained.metadata.get("energy_reference")
    prior = (  # the values are the model's own; the record adds origin, parent and source
        dataclasses.replace(
            EnergyReference.from_dict(recorded),
            element_energy=installed.element_energy,
            shift=installed.shift,
            scale=installed.scale,
        )
        if recorded
        else installed
    )
    train = datamodule.split["train"]
    reference, predicted, _ = predict_energies(pretrained, datamodule.loader_for(train))
    given = dict(datamodule.settings.element_energies)
    target = datamodule.data.subset(train)
    undetermined = undetermined_elements(target, given)
    if undetermined:
        logger.warning(
            "the target's compositions cannot determine the references of %s on their own; "
            "they change only in the directions the target determines, the rest stay %s's",
            ", ".join(chemical_symbols[z] for z in undetermined),
            parent,
        )
    refit = refit_energy_reference(target, reference - predicted, prior, given, parent)
    logger.info("element references refitted on the target's training split:")
    for line in refit.describe():
        logger.info("  %s", line)
    return refit


def task_from_pretrained(
    path: str,
    strategy: str,
    datamodule: Any,
    label: str = "",
    model_changes: dict[str, Any] | None = None,
    **training: Any,
) -> PotentialTask:
    """A task whose model starts from the checkpoint at ``path`` (see the module docstring).

    ``label``: the parent's name in the lineage (a registered ``NAME/VERSION``; default
    ``path``, which for a registered model is only a download cache's file).
    ``model_changes``: settings of the model that hold no weights (its settings'
    ``WEIGHTLESS``, e.g. ``core_repulsion``) to change; the others are the checkpoint's.
    ``training``: the :class:`PotentialTask` keywords of the new run (optimizer, lr, ...).
    """
    parent = label or path
    pretrained = load_pretrained(path)
    weightless = pretrained.model.settings_class.WEIGHTLESS
    fixed = sorted(set(model_changes or {}) - set(weightless))
    if fixed:
        raise TransferError(
            f"fine-tuning keeps the pretrained architecture: {', '.join(fixed)} cannot change "
            f"(only {', '.join(weightless)} can); train a new model for another"
        )
    elements = set(datamodule.data.elements())
    supported = pretrained.model.supported_elements()
    if supported is not None and elements - supported:
        missing = [chemical_symbols[z] for z in sorted(elements - supported)]
        raise TransferError(
            f"the data hold elements {missing} that the pretrained "
            f"{pretrained.hparams['model_name']} cannot take"
        )
    new = sorted(elements - set(pretrained.model.energy_reference().element_energy))
    if new:
        warnings.warn(
            f"elements {[chemical_symbols[z] for z in new]} were absent from the "
            f"pretraining data: their embedding rows start untrained",
            DataWarning,
            stacklevel=2,
        )
    task = PotentialTask(
        model_name=pretrained.hparams["model_name"],
        model_config={**pretrained.hparams["model_config"], **(model_changes or {})},
        **training,
    )
    task.model.load_state_dict(pretrained.model.state_dict())
    reference = refitted_reference(pretrained, datamodule, parent)
    task.model.set_energy_reference(reference)
    task.metadata["energy_reference"] = reference.as_dict()
    task.metadata["frozen"] = freeze(task.model, strategy)
    task.metadata["init_from"] = parent
    return task
