"""What an MD stability check runs and what counts as leaving physical behaviour.

One dataclass is the single source of truth: ``pesweep md-check`` flags, the
YAML of ``promote --require-md`` and of a sweep's ``--md-constraint`` all fill
it, and every field is checked here before anything runs.

    structure: cuau_6h2o.xyz    # the starting structure (any file ASE reads)
    temperature: 300            # K
    timestep: 0.5               # fs
    time_ps: 10                 # NVT time
    thermostat: bussi           # or langevin
    nve_ps: 1.0                 # an NVE segment after NVT: energy drift is checked there
    contact_fraction: 0.75      # a pair closer than this x the sum of covalent radii fails
    bond_break_factor: 1.6      # an X-H bond of a molecule longer than this x its covalent sum fails
    escape_distance: 4.0        # A: an atom with no neighbour this close has left the cluster
    temperature_factor: 3.0     # an instantaneous temperature above this x the target fails
    max_drift: 0.02             # eV/atom: |E_total - E_total(start of NVE)| above this fails
    seed: 0
    spot_check: gfn1-xtb        # label frames of the trajectory with this calculator (emt, gfn1-xtb)
    spot_check_frames: 20       # frames evenly spread over the trajectory
    spot_check_max_force_rmse: 1.0  # eV/A: a frame whose model forces differ more fails

A trajectory can be stable and wrong: a model may hold the cluster in a basin
the reference calculator puts tens of eV higher. The spot check labels frames
of the finished trajectory with the calculator that labelled the training data
(off by default) and fails at the first frame whose forces disagree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_modules.conventions import CALCULATORS
from lightning_modules.errors import PesweepError
from lightning_modules.yaml_numbers import load_yaml

THERMOSTATS = ("bussi", "langevin")


class MDSpecError(PesweepError):
    """An MD check set-up that cannot run; the message names the field and the fix."""


@dataclass(frozen=True)
class MDSpec:
    """An MD stability check (see the module docstring for each field)."""

    structure: str = ""
    temperature: float = 300.0
    timestep: float = 0.5
    time_ps: float = 10.0
    thermostat: str = "bussi"
    nve_ps: float = 1.0
    contact_fraction: float = 0.75
    bond_break_factor: float = 1.6
    escape_distance: float = 4.0
    temperature_factor: float = 3.0
    max_drift: float = 0.02
    seed: int = 0
    thermostat_time_fs: float = 100.0  # Bussi's relaxation time; Langevin's friction is its inverse
    check_every: int = 1  # steps between checks (the failure time's resolution)
    frame_every: int = 40  # steps between trajectory frames (and RDF samples)
    spot_check: str = ""  # "" (none), "emt" or "gfn1-xtb"
    spot_check_frames: int = 20
    spot_check_max_force_rmse: float = 1.0

    def __post_init__(self) -> None:
        positive = (
            "temperature",
            "timestep",
            "time_ps",
            "contact_fraction",
            "bond_break_factor",
            "escape_distance",
            "temperature_factor",
            "max_drift",
            "thermostat_time_fs",
            "spot_check_max_force_rmse",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise MDSpecError(f"md spec: {name} must be a positive number, got {value!r}")
        if not isinstance(self.nve_ps, int | float) or not 0 <= self.nve_ps < math.inf:
            raise MDSpecError(f"md spec: nve_ps must be 0 or more, got {self.nve_ps!r}")
        if self.thermostat not in THERMOSTATS:
            raise MDSpecError(
                f"md spec: thermostat {self.thermostat!r} is unknown; use {' or '.join(THERMOSTATS)}"
            )
        if self.spot_check not in ("", *CALCULATORS):
            raise MDSpecError(
                f"md spec: spot_check {self.spot_check!r} is unknown; use {' or '.join(CALCULATORS)}"
                " (or leave it out)"
            )
        for name in ("check_every", "frame_every", "spot_check_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise MDSpecError(f"md spec: {name} must be a whole number of steps >= 1")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise MDSpecError(f"md spec: seed must be a whole number >= 0, got {self.seed!r}")
        if self.contact_fraction >= self.bond_break_factor:
            raise MDSpecError(
                "md spec: contact_fraction must be below bond_break_factor (both multiply the "
                "sum of covalent radii)"
            )

    @property
    def total_ps(self) -> float:
        return self.time_ps + self.nve_ps

    @property
    def steps(self) -> tuple[int, int]:
        """(NVT steps, NVE steps)."""
        per_ps = 1000.0 / self.timestep
        return round(self.time_ps * per_ps), round(self.nve_ps * per_ps)

    def replace(self, **changes: Any) -> MDSpec:
        """A copy with ``changes`` (None values are ignored: unset command-line flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "md spec") -> MDSpec:
        if not isinstance(values, dict):
            raise MDSpecError(
                f"{origin}: expected a mapping of fields, got {type(values).__name__}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MDSpecError(
                f"{origin}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values = dict(values)
        for name in (
            "check_every",
            "frame_every",
            "spot_check_frames",
            "seed",
        ):  # YAML may give 10.0
            if isinstance(values.get(name), float) and values[name].is_integer():
                values[name] = int(values[name])
        try:
            return cls(**values)
        except MDSpecError as error:
            raise MDSpecError(f"{origin}: {str(error).removeprefix('md spec: ')}") from None


def load_md_spec(path: str | Path) -> MDSpec:
    """An :class:`MDSpec` from a YAML file; a relative ``structure`` is relative to the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MDSpecError(
            f"md spec {path}: no such file; write a YAML with structure, temperature, ..."
        )
    try:
        values = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0]
        raise MDSpecError(f"md spec {path} is not valid YAML ({first}); fix the file") from None
    spec = MDSpec.from_dict(values, f"md spec {path}")
    if not spec.structure:
        raise MDSpecError(f"md spec {path}: give 'structure' (the starting structure's file)")
    structure = Path(spec.structure)
    if not structure.is_absolute():
        structure = path.parent / structure
    return spec.replace(structure=str(structure))
