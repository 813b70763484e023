"""An MD stability check of a trained model: run it, keep its trajectory and report, track it.

The one place that turns a model reference (``models:/NAME@ALIAS``, a run, a
checkpoint) and an :class:`~lightning_modules.md.MDSpec` into a
:class:`~lightning_modules.md.StabilityReport` with its artifacts. Used by
``pesweep md-check``, ``pesweep promote --require-md`` and the sweep's MD
objective and constraint. Every input is checked before anything runs or is
stored: the structure file, its elements against the model's, the reference
trajectory.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase import Atoms

from hpo.tracking.stores import Store, tracking_store
from lightning_modules.data import DataError
from lightning_modules.data.labelling import check_frames
from lightning_modules.data.readers import read_frames
from lightning_modules.errors import PesweepError
from lightning_modules.md import MDSpec, rdf_distance
from lightning_modules.md.rdf import pair_distributions
from lightning_modules.md.report import Progress, StabilityReport
from lightning_modules.md.simulation import run_stability_check

logger = logging.getLogger(__name__)

MD_EXPERIMENT = "pesweep-md-check"
TRAJECTORY = "trajectory.extxyz"
REPORT = "md_report.json"
RDF_FIGURE = "pair_distributions.html"


class MDCheckError(PesweepError):
    """An MD check that cannot start; the message names the input and the fix."""


def _read_frames(path: str | Path, what: str, index: int | str) -> list[Atoms]:
    """Frames ``index`` of a file ASE reads; a missing or unreadable file is a one-line error."""
    try:
        frames = read_frames(
            path, what, index, hint="give a structure file ASE reads (extxyz, ...)"
        )
    except DataError as error:
        raise MDCheckError(str(error)) from None
    if len(frames[0]) < 2:
        raise MDCheckError(f"{what} {path} has {len(frames[0])} atom(s); MD needs at least two")
    return frames


def read_structure(path: str | Path, what: str = "structure") -> Atoms:
    """The first frame of a file ASE reads; a missing or unreadable file is a one-line error."""
    return _read_frames(path, what, 0)[0]


def read_check_structure(spec: MDSpec) -> Atoms:
    """The check's starting structure, its elements checked against the spot check's calculator."""
    structure = read_structure(spec.structure)
    if spec.spot_check:
        check_frames([structure], spec.spot_check)
    return structure


def read_reference(path: str | Path) -> list[Atoms]:
    """Every frame of a reference trajectory (for the RDF distance), read once."""
    return _read_frames(path, "reference trajectory", ":")


def load_calculator(model: str, tracking_uri: str | Store | None, dtype: str = "float64") -> Any:
    """The model as an ASE calculator (float64: the smoothest dynamics)."""
    from hpo.tracking.model_uris import load_potential

    return load_potential(model, tracking_uri, dtype=dtype)


def check_elements(calculator: Any, atoms: Atoms, structure: str | Path) -> None:
    """Refuse a structure with elements the model was not trained on."""
    from ase.data import chemical_symbols

    known = getattr(calculator, "trained_elements", None)
    if known is None:
        return
    unknown = sorted({int(z) for z in atoms.numbers} - set(known))
    if unknown:
        raise MDCheckError(
            f"structure {structure} holds {', '.join(chemical_symbols[z] for z in unknown)}, which "
            f"the model was not trained on (it knows "
            f"{', '.join(chemical_symbols[z] for z in sorted(known))}); give a structure of those"
        )


@dataclass
class MDCheckResult:
    """A finished check: the report, where its files are, the MLflow run (or None)."""

    report: StabilityReport
    output_dir: Path
    run_id: str | None
    rdf_distance: dict[str, float]

    def summary(self) -> str:
        text = self.report.summary()
        if "mean" in self.rdf_distance:
            text += f"; RDF distance to the reference {self.rdf_distance['mean']:.3f}"
        return text

    def tags(self) -> dict[str, str]:
        """What a model version records of the check (``promote --require-md``)."""
        tags = {
            "md_check": "PASS" if self.report.passed else "FAIL",
            "md_stable_ps": f"{self.report.stable_ps:g}",
            "md_total_ps": f"{self.report.total_ps:g}",
        }
        if self.report.spot_checks:
            worst = max(rmse for _, rmse in self.report.spot_checks)
            tags["md_spot_check"] = (
                f"{len(self.report.spot_checks)} checked, force RMSE <= {worst:.3g} eV/A"
            )
        if not self.report.passed:
            tags["md_failure"] = self.report.reason[:500]
        if self.run_id:
            tags["md_check_run_id"] = self.run_id
        return tags


def model_version_label(model: str, tracking_uri: str | Store | None) -> str:
    """``NAME/VERSION`` of a ``models:/`` reference, else the reference itself."""
    if not model.startswith("models:/"):
        return model
    from hpo.tracking.model_uris import registered_version

    version = registered_version(model, tracking_uri)
    return f"{version.name}/{version.version}"


def write_artifacts(
    report: StabilityReport,
    spec: MDSpec,
    output_dir: Path,
    reference: list[Atoms] | None,
    extra: dict[str, Any],
) -> dict[str, float]:
    """Trajectory (extxyz), report (json) and the pair-distribution figure in ``output_dir``."""
    import ase.io

    from dashboards.figures import pair_distributions_figure

    output_dir.mkdir(parents=True, exist_ok=True)
    if report.frames:
        ase.io.write(output_dir / TRAJECTORY, report.frames, format="extxyz")
    distributions = report.rdf()
    reference_rdf = None
    distance: dict[str, float] = {}
    if reference:
        reference_rdf = pair_distributions(
            reference[0].numbers, (frame.positions for frame in reference)
        )
        distance = rdf_distance(distributions, reference_rdf)
    figure = pair_distributions_figure(
        {k: (r.tolist(), p.tolist()) for k, (r, p) in distributions.items()},
        {k: (r.tolist(), p.tolist()) for k, (r, p) in (reference_rdf or {}).items()},
        title=f"Pair-distance distributions: {report.summary()}",
    )
    figure.write_html(output_dir / RDF_FIGURE, include_plotlyjs=True)
    document = {
        **report.to_dict(),
        "summary": report.summary(),
        "spec": spec.to_dict(),
        "rdf_distance": distance,
        **extra,
    }
    (output_dir / REPORT).write_text(json.dumps(document, indent=1, default=float))
    return distance


def run_md_check(
    model: str,
    spec: MDSpec,
    output_dir: Path,
    tracking_uri: str | Store | None = None,
    experiment: str = MD_EXPERIMENT,
    reference: str | None = None,
    log_to_mlflow: bool = True,
    on_progress: Progress | None = None,
    calculator: Any = None,
) -> MDCheckResult:
    """Check ``model`` with ``spec``; files in ``output_dir``, an MLflow run when asked.

    Inputs are read and checked first (structure, reference, model, elements);
    the run is created only when the check is about to start.
    """
    structure = read_check_structure(spec)
    frames = read_reference(reference) if reference else None
    tracking = tracking_store(tracking_uri)
    if calculator is None:
        calculator = load_calculator(model, tracking)
    check_elements(calculator, structure, spec.structure)
    label = model_version_label(model, tracking) if log_to_mlflow else model
    tracker = run_id = None
    if log_to_mlflow:
        from hpo.tracking.runs import Tracker

        tracker = Tracker(tracking, experiment)
        run_id = tracker.start_run(
            f"md-check-{Path(spec.structure).stem}",
            {"pesweep.kind": "md-check", "pesweep.model": label, "pesweep.model_uri": model},
        )
        tracker.log_params(run_id, {f"md.{k}": v for k, v in spec.to_dict().items()})
    try:
        report = run_stability_check(structure, calculator, spec, on_progress)
        distance = write_artifacts(
            report, spec, output_dir, frames, {"model": label, "reference": reference or ""}
        )
    except BaseException:
        if tracker is not None and run_id is not None:
            tracker.end_run(run_id, "KILLED")
        raise
    result = MDCheckResult(report, output_dir, run_id, distance)
    if tracker is not None and run_id is not None:
        tracker.log_metrics(
            run_id,
            {
                "md_stable_ps": report.stable_ps,
                "md_steps_per_second": report.steps_per_second,
                "md_max_temperature_K": report.max_temperature,
                **({"md_rdf_distance": distance["mean"]} if "mean" in distance else {}),
                **(
                    {"md_spot_check_max_force_rmse": max(r for _, r in report.spot_checks)}
                    if report.spot_checks
                    else {}
                ),
            },
        )
        tracker.set_tags(
            run_id,
            {
                "pesweep.md_check": "PASS" if report.passed else "FAIL",
                "pesweep.md_summary": report.summary()[:500],
            },
        )
        for name in (TRAJECTORY, REPORT, RDF_FIGURE):
            if (output_dir / name).exists():
                tracker.log_artifact(run_id, output_dir / name, "md_check")
        tracker.end_run(run_id, "FINISHED")
    return result
