"""The data audit on the real SeB_n labels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lightning_modules.data import load_data
from lightning_modules.data.audit import audit_energies
from lightning_modules.training.datamodule import PotentialDataModule
from lightning_modules.training.metrics import ErrorAccumulator, describe_metric
from lightning_modules.training.prepared import DataSettings
from tests.support.data import shared_file


def test_seb20_quarter_flagged_above_bound(seb20) -> None:
    report = audit_energies(seb20, bound_ev_per_atom=5.0)
    relative_per_atom = (seb20.energy - seb20.energy.min()) / seb20.n_atoms
    np.testing.assert_array_equal(report.above_bound, relative_per_atom > 5.0)
    fraction = report.above_bound.mean()
    assert 0.2 < fraction < 0.3, fraction
    assert report.compositions[0].relative_percentiles["100"] > 1000.0  # up to 1134 eV
    assert "B20Se" in report.format()


def test_pure_boron_has_no_label_beyond_the_bound() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_data(shared_file("seb_clusters/Bn/B=20.npz"), "hartree")
    report = audit_energies(data)
    assert not report.above_bound.any()
    assert report.compositions[0].relative_percentiles["100"] < 60.0


def test_robust_outliers_are_a_separate_flag(seb20) -> None:
    report = audit_energies(seb20)
    energy = seb20.energy
    modified_z = (
        0.6745 * np.abs(energy - np.median(energy)) / np.median(np.abs(energy - np.median(energy)))
    )
    np.testing.assert_array_equal(report.robust_outlier, modified_z > 3.5)
    # the clean subset is defined by the physical bound alone; outliers within it stay
    np.testing.assert_array_equal(report.flagged, report.above_bound)
    np.testing.assert_array_equal(report.clean, ~report.above_bound)
    np.testing.assert_array_equal(report.outliers, report.robust_outlier & ~report.above_bound)


def test_drop_flagged_removes_them_from_every_split(seb20) -> None:
    module = PotentialDataModule(
        seb20, cutoff=5.0, settings=DataSettings(drop_flagged=True, seed=3)
    )
    module.setup()
    flagged = module.audit.flagged
    for indices in module.split.values():
        assert not flagged[indices].any()
    kept = sum(len(v) for v in module.split.values())
    assert kept == int((~flagged).sum())


def test_keep_flagged_in_test_drops_them_from_training_and_validation_only(seb20) -> None:
    whole = PotentialDataModule(seb20, cutoff=5.0, settings=DataSettings(seed=3))
    whole.setup()
    module = PotentialDataModule(
        seb20,
        cutoff=5.0,
        settings=DataSettings(drop_flagged=True, keep_flagged_in_test=True, seed=3),
    )
    module.setup()
    flagged = module.audit.flagged
    for name in ("train", "val"):
        assert not flagged[module.split[name]].any()
        np.testing.assert_array_equal(
            module.split[name], whole.split[name][~flagged[whole.split[name]]]
        )
    # the test split is the seeded one, flagged structures included: full and clean metrics
    np.testing.assert_array_equal(module.split["test"], whole.split["test"])
    assert flagged[module.split["test"]].sum() > 20


def test_outliers_within_the_bound_stay_clean_and_are_reported_apart() -> None:
    """SeB16: 27 robust outliers, 5 of them within the bound (real structures, kept clean)."""
    data = load_data(shared_file("seb_clusters/SeBn/B=16.npz"), "hartree")
    report = audit_energies(data)
    assert int(report.outliers.sum()) == 5 and report.clean[report.outliers].all()
    assert "5 more are robust outliers" in report.format()
    accumulator = ErrorAccumulator()
    errors = torch.linspace(0.0, 1.0, len(data), dtype=torch.float64)
    n_atoms = torch.from_numpy(data.n_atoms)
    accumulator.update(
        errors, n_atoms, torch.from_numpy(report.clean), outliers=torch.from_numpy(report.outliers)
    )
    metrics = accumulator.compute("test")
    expected = float(errors[torch.from_numpy(report.outliers)].mean())
    assert metrics["test_energy_mae_eV_outliers"] == pytest.approx(expected)
    assert describe_metric("test_energy_mae_eV_outliers").endswith(
        "robust outliers within the bound]"
    )
    module = PotentialDataModule(data, settings=DataSettings(drop_outliers=True))
    module.setup()
    kept = np.concatenate(list(module.split.values()))
    assert not report.outliers[kept].any() and report.above_bound[kept].sum() == 22
