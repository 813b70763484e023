"""A trial's test evaluation: energies from the sweep's cache, timing on the model's own path."""

from __future__ import annotations

import numpy as np
import pytest

import lightning_modules.batching.data_cache as data_cache
from hpo.sweep.trial_outputs import evaluate_test_split
from lightning_modules.data import load_data
from lightning_modules.training.config import make_config
from lightning_modules.training.prepared import PreparedData
from lightning_modules.training.run import build_datamodule, data_settings, train
from tests.support.data import shared_file
from tests.support.models import TIO2_MODEL


@pytest.fixture(scope="module")
def tio2_cells():
    data = load_data(shared_file("tio2_aenet/dir_xsf.tar.gz"))
    return data.subset(np.flatnonzero(data.n_atoms <= 12)[:40])


def test_an_aenet_trials_evaluation_reuses_the_descriptors_its_training_computed(
    tio2_cells, tmp_path, monkeypatch
) -> None:
    settings = dict(
        model="aenet",
        model_config=TIO2_MODEL,
        alpha=0.1,
        lr=1e-2,
        batch_size=16,
        max_epochs=1,
        progress_bar=False,
        output_dir=str(tmp_path),
    )
    # a sweep prepares its data once; a trial that uses the forces of a quarter of
    # its training structures prepares them again on the same cache (other Jacobians)
    prepared = PreparedData.prepare(tio2_cells, data_settings(make_config(settings)))
    config = make_config({**settings, "force_fraction": 0.25})
    result = train(config, datamodule=build_datamodule(config, data=prepared), log_audit=False)

    computed: list[str] = []  # what the sweep's cache computes from here on
    pairs, features = data_cache.dataset_pairs, data_cache.compute_features
    monkeypatch.setattr(
        data_cache, "dataset_pairs", lambda *a: computed.append("pairs") or pairs(*a)
    )
    monkeypatch.setattr(
        data_cache, "compute_features", lambda *a: computed.append("descriptors") or features(*a)
    )
    milliseconds, reference, predicted = evaluate_test_split(result.checkpoint_path, prepared)
    # neither the whole set's neighbour pairs nor its descriptors are computed again
    assert computed == []
    assert milliseconds > 0

    # the same energies as plain data, where the model computes its own descriptors
    _, plain_reference, plain_predicted = evaluate_test_split(result.checkpoint_path, tio2_cells)
    np.testing.assert_array_equal(reference, plain_reference)
    np.testing.assert_allclose(predicted, plain_predicted, rtol=0, atol=1e-4)
    assert len(reference) == len(result.split["test"]) > 0
