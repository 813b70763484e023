"""The claims table on synthetic cells whose right answers are known."""

from __future__ import annotations

import json
import sys

from tests.support.commands import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))
import seb_claims  # noqa: E402


def write_cell(folder, index: int, row: str, seed: int, mae: float, curve: list[float]) -> None:
    """A finished (row, seed) cell as ablation_seb.py records it (MAE in Ha/atom)."""
    mev = mae * seb_claims.HARTREE_EV * 1000.0
    metrics = {
        "test_energy_mae_meV_per_atom": mev,
        "test_energy_mae_meV_per_atom_clean": mev * 0.5,
        "test_energy_rmse_meV_per_atom": mev * 1.01,
        "test_energy_rmse_meV_per_atom_clean": mev * 0.5 * 1.02,
    }
    path = folder / f"row-{index}" / f"seed-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"row": row, "seed": seed, "metrics": metrics, "curve": curve}
    path.write_text(json.dumps({"settings": {}, "result": result}))


def test_known_effects_get_their_verdicts(tmp_path) -> None:
    ablation = tmp_path / "ablation"
    slow = [5.0, 4.0, 3.0, 2.0, 1.0]  # reaches the common threshold (1.0) at epoch 5
    fast = [5.0, 3.0, 1.0, 0.9, 0.8]  # at epoch 3: 40% fewer epochs
    for seed in range(3):
        jitter = 0.001 * seed
        write_cell(ablation, 0, "SchNet", seed, 0.118 + jitter, slow)
        write_cell(ablation, 1, "+IIA", seed, 0.100 + jitter, slow)  # lower by 0.018
        write_cell(ablation, 2, "+SMU", seed, 0.130 + 2 * jitter, fast)  # higher, faster
        write_cell(ablation, 3, "+IIA+SMU", seed, 0.100 + 3 * jitter, fast)
    lines = seb_claims.main(["--ablation", str(ablation), "--sources", str(tmp_path / "none")])
    by_contrast = {(line["claim"], line["contrast"]): line for line in lines}
    iia = by_contrast[("IIA lowers the MAE", "+IIA - SchNet")]
    assert iia["full: verdict"] == iia["audit-clean: verdict"] == "holds"
    assert iia["full: effect (95% interval)"].startswith("-0.018")
    smu = next(line for line in lines if line["contrast"].startswith("+SMU against SchNet"))
    assert smu["full: verdict"] == "holds" and smu["full: effect (95% interval)"].startswith("40%")
    transfer = [line for line in lines if line["claim"] == "transfer learning lowers the MAE"]
    assert {line["full: verdict"] for line in transfer} == {"not run yet"}
    [ratio] = [line for line in lines if line["claim"] == "RMSE is close to MAE"]
    assert ratio["full: verdict"] == "holds" and "1.01" in ratio["full: effect (95% interval)"]
    summary = {line["claim"]: line for line in seb_claims.per_claim(lines)}
    assert summary["IIA lowers the MAE"]["full: verdict (all contrasts)"] == "holds"
    assert summary["IIA lowers the MAE"]["effect of"] == "+IIA - SchNet"
    assert summary["transfer learning lowers the MAE"]["full: verdict (all contrasts)"] == (
        "not run yet"
    )
    assert summary["SMU speeds convergence"]["audit-clean: verdict (all contrasts)"] == "-"
    # a mixed effect (one seed each way) cannot be told from zero
    write_cell(ablation, 1, "+IIA", 0, 0.140, slow)
    mixed = seb_claims.claim_lines(ablation, tmp_path / "none")
    assert mixed[0]["full: verdict"] == "cannot tell"
    mixed_summary = seb_claims.per_claim(mixed)
    assert mixed_summary[0]["full: verdict (all contrasts)"] == "cannot tell"  # one of two holds


def test_the_source_tasks_row_from_nothing_is_the_ablations_iia_smu_training(tmp_path) -> None:
    ablation, sources = tmp_path / "ablation", tmp_path / "sources"
    curve = [2.0, 1.0]
    for seed in range(3):
        write_cell(ablation, 3, "+IIA+SMU", seed, 0.120 + 0.001 * seed, curve)
        write_cell(sources, 3, "SeB19", seed, 0.100 + 0.002 * seed, curve)  # lower by ~0.02
    lines = seb_claims.claim_lines(ablation, sources)
    [scratch] = [line for line in lines if line["contrast"] == "SeB19 - from nothing"]
    assert scratch["full: verdict"] == "holds"
    assert scratch["full: effect (95% interval)"].startswith("-0.019")
