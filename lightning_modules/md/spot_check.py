"""Is the trajectory right, not only stable: frames of it labelled by the reference calculator.

A model can hold a cluster in a basin of its own making, stable for the
whole run and far from the reference (an ænet model held a water's O 1.6 A
from an Au atom for 250 ps, where GFN1-xTB puts the cluster 20-30 eV higher
with forces 3 eV/A apart). :func:`spot_check` labels ``spot_check_frames``
frames evenly spread over the kept trajectory with ``spot_check``'s calculator
and fails the report at the first frame whose model forces differ from the
reference's by more than ``spot_check_max_force_rmse`` (root mean square over
atoms and components). The stable time is then the last agreeing frame's.
"""

from __future__ import annotations

import dataclasses
import logging

from ase.calculators.calculator import CalculationFailed

from lightning_modules.data.labelling import force_rmse, label_one, spread_indices
from lightning_modules.md.report import StabilityReport
from lightning_modules.md.spec import MDSpec

logger = logging.getLogger(__name__)


def spot_check(report: StabilityReport, spec: MDSpec) -> StabilityReport:
    """``report`` with its trajectory spot-checked by ``spec.spot_check`` (unchanged without one).

    A frame the reference cannot label (no SCF convergence) is skipped and
    logged. The checked frames' times and force differences are kept in
    ``report.spot_checks``.
    """
    if not spec.spot_check:
        return report
    checks: list[tuple[float, float]] = []
    last_agreeing = 0.0
    for index in spread_indices(len(report.frames), spec.spot_check_frames):
        frame = report.frames[index]
        time_ps = float(frame.info.get("time_ps", 0.0))
        try:
            reference = label_one(frame, spec.spot_check)
        except CalculationFailed as error:
            logger.warning(
                "spot check at %.4g ps: %s could not label it (%s)",
                time_ps,
                spec.spot_check,
                str(error).splitlines()[0] if str(error) else "",
            )
            continue
        rmse = force_rmse(frame, reference)
        checks.append((time_ps, rmse))
        if rmse > spec.spot_check_max_force_rmse:
            reason = (
                f"{spec.spot_check} disagrees with the model: force RMSE {rmse:.2f} eV/A "
                f"(limit {spec.spot_check_max_force_rmse:g})"
            )
            earlier = report.failure_ps is not None and report.failure_ps <= time_ps
            if earlier:  # the dynamics failed first: keep its failure, record the disagreement
                return dataclasses.replace(report, spot_checks=checks)
            return dataclasses.replace(
                report,
                passed=False,
                reason=reason,
                failure_ps=time_ps,
                stable_ps=last_agreeing,
                spot_checks=checks,
            )
        last_agreeing = time_ps
    return dataclasses.replace(report, spot_checks=checks)
