"""The data audit on the real SeB_n labels."""

from __future__ import annotations

import warnings

import numpy as np

from lightning_modules.data import load_data
from lightning_modules.data.audit import audit_energies
from lightning_modules.training.datamodule import PotentialDataModule
from tests.conftest import shared_file


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
    np.testing.assert_array_equal(report.flagged, report.above_bound | report.robust_outlier)


def test_drop_flagged_removes_them_from_every_split(seb20) -> None:
    module = PotentialDataModule(seb20, cutoff=5.0, drop_flagged=True, seed=3)
    module.setup()
    flagged = module.audit.flagged
    for indices in module.split.values():
        assert not flagged[indices].any()
    kept = sum(len(v) for v in module.split.values())
    assert kept == int((~flagged).sum())
