"""Real GFN1-xTB force data for the CuAu + water transfer study (#20); seeded and resumable.

    python benchmarks/make_cuau_water.py --out cuau_water        # about an hour on 2 cores
    python benchmarks/make_cuau_water.py --out cuau_water --smoke   # a few frames, seconds

Writes, in ``--out``:

* ``pretrain.extxyz``: the broad set. Cu, Au, Ag, Pt and Ni clusters (4-13
  atoms, pure and alloys), half of them with O / H / OH / H2O adsorbates,
  small H/C/N/O molecules and water clusters; each sampled by a short
  Langevin MD at ``--md-temperature`` and by random displacements of its
  starting structure; and ``--cu-au-clusters`` Cu-Au alloy clusters (the
  structures with both Cu and Au, the study's third pretraining subset).
* ``target.extxyz``: the fine-tuning set by the ænet study's protocol (SI, S1):
  Bussi NVT frames at 400 K of the Cu7Au6 cluster with 2, 4, 6 and 8 waters
  (``--target-waters``, ``--target-temperature``), ``--target-frames`` in all
  (600 by default, an equal share per water count), ``--target-every`` steps
  apart after an equilibration, each water count a part of its own.
* ``cu7au6_6h2o.xyz``: the cluster with six waters, relaxed: the MD check's start.
* ``reference_6h2o.extxyz``: GFN1-xTB's own NVT trajectory of it at 300 K (the RDF
  reference).
* ``manifest.json``: frames per system, the finite-difference force check of
  each system, the seed and the options.

Every label is GFN1-xTB through tblite's ASE calculator (electronic
temperature 300 K; GFN2-xTB does not converge on these clusters). Each system
is written to ``parts/`` when done: a rerun skips what exists, so an
interrupted build resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import CalculationFailed
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.optimize import BFGS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.data.cuau_water import (  # noqa: E402
    SystemRecipe,
    broad_recipes,
    build,
    cu_au_recipes,
    target_recipe,
)
from lightning_modules.data.labelling import calculator_for  # noqa: E402

logger = logging.getLogger("make_cuau_water")

FD_STEP = 1e-3  # A
FD_TOLERANCE = 0.05  # eV/A between analytic and finite-difference forces


def xtb(damping: float = 0.4) -> object:
    """GFN1-xTB at 300 K electronic temperature; a smaller ``damping`` for hard SCF cases."""
    return calculator_for("gfn1-xtb", damping)


def labelled(atoms: Atoms, info: dict[str, object]) -> Atoms:
    """A copy of ``atoms`` (which holds a calculator) with its energy and forces fixed."""
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(
        frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces()
    )
    frame.info.update(info)
    return frame


def finite_difference_error(atoms: Atoms, rng: np.random.Generator, components: int = 3) -> float:
    """Largest |analytic - central-difference| force over a few random components (eV/A)."""
    probe = atoms.copy()
    probe.calc = xtb(damping=0.2)
    forces = probe.get_forces()
    worst = 0.0
    for _ in range(components):
        atom, axis = int(rng.integers(len(probe))), int(rng.integers(3))
        energies = []
        for sign in (1, -1):
            moved = probe.copy()
            moved.calc = xtb(damping=0.2)
            moved.positions[atom, axis] += sign * FD_STEP
            energies.append(moved.get_potential_energy())
        numeric = -(energies[0] - energies[1]) / (2 * FD_STEP)
        worst = max(worst, abs(numeric - forces[atom, axis]))
    return worst


def sample_system(
    recipe: SystemRecipe,
    rng: np.random.Generator,
    md_frames: int,
    md_every: int,
    rattles: int,
    temperature: float,
) -> list[Atoms]:
    """Frames of one pretraining system: Langevin MD frames, then random displacements.

    A geometry whose SCF does not converge (even with strong damping) ends the
    MD early or drops that displacement; a start that does not converge drops
    the system (the caller records it).
    """
    start = build(recipe, rng)
    atoms = start.copy()
    atoms.calc = xtb()
    try:
        frames = [labelled(atoms, {"system": recipe.name, "sampling": "start"})]
    except CalculationFailed:
        atoms.calc = xtb(damping=0.1)
        frames = [labelled(atoms, {"system": recipe.name, "sampling": "start"})]
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    dynamics = Langevin(
        atoms,
        0.5 * units.fs,
        temperature_K=temperature,
        friction=0.02 / units.fs,
        fixcm=False,
        rng=rng,
    )
    try:
        for _ in range(md_frames):
            dynamics.run(md_every)
            frames.append(labelled(atoms, {"system": recipe.name, "sampling": "md"}))
    except CalculationFailed as error:
        logger.warning("%s: MD stopped after %d frames (%s)", recipe.name, len(frames), error)
    for _ in range(rattles):
        moved = start.copy()
        moved.positions += rng.normal(scale=0.08, size=moved.positions.shape)
        moved.calc = xtb(damping=0.2)
        try:
            frames.append(labelled(moved, {"system": recipe.name, "sampling": "displacement"}))
        except CalculationFailed as error:
            logger.warning("%s: a displacement dropped (%s)", recipe.name, error)
    return frames


def relaxed(atoms: Atoms, steps: int) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = xtb()
    BFGS(atoms, logfile=None).run(fmax=0.1, steps=steps)
    return atoms


def nvt_frames(
    start: Atoms,
    rng: np.random.Generator,
    n_frames: int,
    every: int,
    equilibrate: int,
    name: str,
    temperature: float = 300.0,
) -> list[Atoms]:
    """Bussi NVT (0.5 fs) frames every ``every`` steps after ``equilibrate`` steps."""
    atoms = start.copy()
    atoms.calc = xtb()
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    dynamics = Bussi(atoms, 0.5 * units.fs, temperature_K=temperature, taut=100 * units.fs, rng=rng)
    dynamics.run(equilibrate)
    frames = []
    for k in range(n_frames):
        dynamics.run(every)
        info = {
            "system": name,
            "sampling": "nvt",
            "temperature_K": temperature,
            "time_ps": (k + 1) * every / 2000,
        }
        frames.append(labelled(atoms, info))
    return frames


def target_parts(
    args: argparse.Namespace, parts: Path, manifest: dict, manifest_path: Path
) -> list[Path]:
    """The fine-tuning set, one part per water count: relaxed, equilibrated, then sampled.

    Each part is written when done (a rerun skips it) and checked against
    finite differences; the manifest records its frames and check.
    """
    waters = [int(n) for n in str(args.target_waters).split(",")]
    per_system = max(1, args.target_frames // len(waters))
    paths = []
    for n_water in waters:
        name = f"Cu7Au6+{n_water}H2O"
        path = parts / f"target-{n_water}h2o.extxyz"
        paths.append(path)
        if path.exists():
            continue
        tic = time.perf_counter()
        start = relaxed(
            build(target_recipe(n_water), np.random.default_rng([args.seed, 10_000])),
            args.target_relax_steps,
        )
        frames = nvt_frames(
            start,
            np.random.default_rng([args.seed, 10_001, n_water]),
            per_system,
            args.target_every,
            args.target_equilibrate,
            name,
            args.target_temperature,
        )
        error = finite_difference_error(frames[0], np.random.default_rng([args.seed, n_water]))
        key, extra = f"target {name}", {"temperature_K": args.target_temperature}
        record_part(path, frames, name, error, tic, manifest, manifest_path, key, **extra)
        logger.info(
            "%s: %d frames at %.0f K, FD force error %.4f eV/A",
            name,
            len(frames),
            args.target_temperature,
            error,
        )
    return paths


def record_part(
    path: Path,
    frames: list[Atoms],
    name: str,
    error: float,
    started: float,
    manifest: dict,
    manifest_path: Path,
    key: str,
    **extra: object,
) -> None:
    """Write a system's frames once its forces passed the finite-difference check; record it."""
    if error > FD_TOLERANCE:
        raise SystemExit(
            f"{name}: GFN1-xTB forces differ from finite differences by {error:.3f} eV/A "
            f"(tolerance {FD_TOLERANCE}); the labels would be wrong"
        )
    write_part(path, frames)
    manifest["systems"][key] = {
        "part": path.name,
        "frames": len(frames),
        "atoms": len(frames[0]),
        **extra,
        "fd_force_error_eV_per_A": round(error, 5),
        "seconds": round(time.perf_counter() - started, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))


def write_part(path: Path, frames: list[Atoms]) -> None:
    partial = path.with_suffix(".partial")
    ase.io.write(partial, frames, format="extxyz")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="cuau_water", help="output folder (resumed if it exists)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clusters", type=int, default=60, help="metal clusters in the broad set")
    parser.add_argument(
        "--cu-au-clusters",
        type=int,
        default=12,
        help="Cu-Au alloy clusters added to the broad set (after its other systems)",
    )
    parser.add_argument("--md-frames", type=int, default=8, help="MD frames per broad system")
    parser.add_argument("--md-every", type=int, default=4, help="MD steps between kept frames")
    parser.add_argument("--rattles", type=int, default=6, help="displaced copies per system")
    parser.add_argument("--md-temperature", type=float, default=500.0, help="K, broad set")
    parser.add_argument(
        "--target-waters", default="2,4,6,8", help="water counts of the fine-tuning set"
    )
    parser.add_argument("--target-temperature", type=float, default=400.0, help="K, Bussi NVT")
    parser.add_argument(
        "--target-frames", type=int, default=600, help="frames of the fine-tuning set in all"
    )
    parser.add_argument("--target-every", type=int, default=5, help="NVT steps between frames")
    parser.add_argument(
        "--target-equilibrate", type=int, default=200, help="NVT steps before the first frame"
    )
    parser.add_argument(
        "--target-relax-steps", type=int, default=100, help="BFGS steps of each target start"
    )
    parser.add_argument(
        "--reference-ps", type=float, default=0.5, help="GFN1-xTB NVT of the six-water cluster"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="3 frames of one small system, 3 target frames of the two-water cluster and the "
        "six-water start barely relaxed (no reference)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"systems": {}}
    manifest["options"] = vars(args)
    started = time.perf_counter()

    if args.smoke:
        recipes = [SystemRecipe("Cu2Au2+OH", ("Cu", "Cu", "Au", "Au"), ("OH",))]
        args.md_frames, args.md_every, args.rattles = 1, 2, 1
    else:
        recipes = broad_recipes(args.clusters, np.random.default_rng(args.seed))
        recipes += cu_au_recipes(args.cu_au_clusters, np.random.default_rng([args.seed, 20_000]))
    for index, recipe in enumerate(recipes):
        path = parts / f"broad-{index:03d}.extxyz"
        if path.exists():
            continue
        rng = np.random.default_rng([args.seed, index])
        tic = time.perf_counter()
        try:
            frames = sample_system(
                recipe, rng, args.md_frames, args.md_every, args.rattles, args.md_temperature
            )
            error = finite_difference_error(frames[0], rng)
        except CalculationFailed as failure:
            logger.warning(
                "%s dropped: GFN1-xTB does not converge on it (%s)", recipe.name, failure
            )
            manifest.setdefault("dropped", {})[f"{index:03d} {recipe.name}"] = str(failure)
            manifest_path.write_text(json.dumps(manifest, indent=1))
            continue
        key = f"{index:03d} {recipe.name}"
        record_part(path, frames, recipe.name, error, tic, manifest, manifest_path, key)
        logger.info("%s: %d frames, FD force error %.4f eV/A", recipe.name, len(frames), error)
    broad = [f for p in sorted(parts.glob("broad-*.extxyz")) for f in ase.io.read(p, ":")]
    ase.io.write(out / "pretrain.extxyz", broad, format="extxyz")
    if args.smoke:
        args.target_waters, args.target_frames, args.target_every = "2", 3, 2
        args.target_equilibrate, args.target_relax_steps = 2, 2
    target = [
        f
        for path in target_parts(args, parts, manifest, manifest_path)
        for f in ase.io.read(path, ":")
    ]
    ase.io.write(out / "target.extxyz", target, format="extxyz")
    manifest["frames"] = {"pretrain": len(broad), "target": len(target)}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    cluster_rng = np.random.default_rng([args.seed, 10_000])
    six_water = build(target_recipe(6), cluster_rng)
    six_path = out / "cu7au6_6h2o.xyz"
    if not six_path.exists():
        start = relaxed(six_water, 2 if args.smoke else 150)
        ase.io.write(six_path, Atoms(start.numbers, start.positions), format="extxyz")
    reference_path = out / "reference_6h2o.extxyz"
    if args.smoke:
        print(f"smoke: {len(broad)} + {len(target)} frames in {out}")
        return 0
    if args.reference_ps > 0 and not reference_path.exists():
        every = 20
        frames = nvt_frames(
            ase.io.read(six_path),
            np.random.default_rng([args.seed, 10_002]),
            round(args.reference_ps * 2000 / every),
            every,
            0,
            "Cu7Au6+6H2O",
        )
        write_part(reference_path, frames)
    manifest["seconds"] = round(time.perf_counter() - started, 1)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(json.dumps(manifest["frames"]), f"in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
