"""A data set made ready for training once, then shared by every trial and the evaluation.

:class:`PreparedData` holds the validated structures, their audit, the seeded
split, the element references fitted on the training split, which structures
use forces, and the :class:`~lightning_modules.batching.data_cache.DataCache`
of neighbour pairs and descriptors. A sweep prepares its data once; a trial
whose data settings (:class:`DataSettings`) differ gets its own prepared set
on the same structures and cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lightning_modules.batching.data_cache import DataCache
from lightning_modules.data import AtomsData
from lightning_modules.data.audit import (
    DEFAULT_BOUND_EV_PER_ATOM,
    DEFAULT_MAD_THRESHOLD,
    AuditReport,
    audit_energies,
)
from lightning_modules.data.references import EnergyReference, fit_energy_reference
from lightning_modules.data.splits import split_indices

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSettings:
    """How a data set is prepared: split fractions and seed, the audit, references, forces.

    ``drop_flagged`` excludes the structures beyond the audit's physical bound
    from every split (from training and validation only with
    ``keep_flagged_in_test``: the test metrics then cover the whole set and,
    as ``..._clean``, its audit-clean part), ``drop_outliers`` also the
    robust outliers within it;
    ``force_fraction`` of the training structures with forces use them in the
    loss (ænet's FORCESPERCENT); ``element_energies`` (eV by atomic number)
    fix those element references instead of fitting them.
    """

    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    drop_flagged: bool = False
    keep_flagged_in_test: bool = False
    drop_outliers: bool = False
    bound_ev_per_atom: float = DEFAULT_BOUND_EV_PER_ATOM
    mad_threshold: float = DEFAULT_MAD_THRESHOLD
    force_fraction: float = 1.0
    element_energies: tuple[tuple[int, float], ...] = ()


@dataclass
class PreparedData:
    """Structures, audit, split, references and forces mask of one data set (see module doc)."""

    data: AtomsData
    settings: DataSettings
    audit: AuditReport
    split: dict[str, np.ndarray]
    energy_reference: EnergyReference
    use_forces: np.ndarray  # [n_structures] bool
    cache: DataCache = field(repr=False)

    @classmethod
    def prepare(
        cls,
        data: AtomsData,
        settings: DataSettings = DataSettings(),
        split_override: dict[str, np.ndarray] | None = None,
        cache: DataCache | None = None,
    ) -> PreparedData:
        """Audit, split, fit references and choose force structures; ``cache`` may be shared."""
        audit = audit_energies(data, settings.bound_ev_per_atom, settings.mad_threshold)
        if split_override is not None:
            split = {name: np.asarray(v, dtype=np.int64) for name, v in split_override.items()}
        else:
            split = split_indices(len(data), settings.split, settings.seed)
        keep = np.ones(len(data), dtype=bool)
        if settings.drop_outliers:
            keep &= ~audit.outliers
            logger.info("dropped %d robust outliers from all splits", int(audit.outliers.sum()))
        keep_fit = keep & audit.clean if settings.drop_flagged else keep  # training, validation
        keep_test = keep if settings.keep_flagged_in_test else keep_fit
        if settings.drop_flagged:
            logger.info(
                "dropped %d flagged structures from %s",
                int(audit.flagged.sum()),
                "training and validation" if settings.keep_flagged_in_test else "all splits",
            )
        split = {
            name: indices[(keep_test if name == "test" else keep_fit)[indices]]
            for name, indices in split.items()
        }
        reference = fit_energy_reference(
            data.subset(split["train"]), dict(settings.element_energies)
        )
        use_forces = data.has_forces.copy()
        if settings.force_fraction < 1.0:
            rng = np.random.default_rng(settings.seed + 1)
            train_with_forces = split["train"][data.has_forces[split["train"]]]
            n_keep = int(round(settings.force_fraction * len(train_with_forces)))
            use_forces[rng.permutation(train_with_forces)[n_keep:]] = False
        return cls(
            data,
            settings,
            audit,
            split,
            reference,
            use_forces,
            cache if cache is not None else DataCache(data),
        )

    def with_settings(self, settings: DataSettings) -> PreparedData:
        """This data prepared with ``settings`` (itself when they are the same; the cache is shared)."""
        if settings == self.settings:
            return self
        return PreparedData.prepare(self.data, settings, cache=self.cache)
