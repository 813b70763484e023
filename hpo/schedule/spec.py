"""A sweep spec: one YAML file that says what a scheduled sweep does, read and checked once.

```yaml
study: seb20
storage: postgresql://alice@db.cluster/studies   # no password here: $PESWEEP_STORAGE or
storage_password_file: ~/.pesweep/db-password   # a file only you can read
tracking_uri: http://mlflow.cluster:5000
space: schnet_table1
data: [/scratch/seb/SeB20.npz]
energy_unit: hartree
max_epochs: 30
trials_per_run: 8          # what `pesweep schedule run` adds each time
study_trials: 64           # Slurm workers stop once the study holds this many finished
time_budget: 3600          # seconds per run (Optuna's timeout)
runs_dir: /scratch/seb/pesweep_runs
slurm:                     # `pesweep schedule slurm`
  partition: gpu
  time: "02:00:00"
  cpus_per_task: 4
  gpus_per_task: 1
  mem: 16G
  array: 4                 # array tasks = workers
  max_concurrent: 2        # the `%` of --array
  signal_margin: 300       # SIGUSR1 this many seconds before the time limit
promote:                   # optional, after `schedule run`
  model: seb
  alias: production
  require_better: true
```

Relative paths are relative to the spec's folder. A URL with a password in
the spec is refused: passwords never go into a spec, a job script or a crontab.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.runtime.errors import StudyError
from hpo.study.defaults import SWEEP_DEFAULTS
from hpo.tracking.stores import STORAGE_ENV, mask_url
from lightning_modules.conventions import normalise_energy_unit
from lightning_modules.store_uris import url_password
from lightning_modules.yaml_numbers import load_yaml

SLURM_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$|^(\d+)$")


def slurm_seconds(text: str) -> int:
    """Seconds of a Slurm time limit: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH:MM:SS``."""
    match = SLURM_TIME.match(str(text).strip())
    if match is None:
        raise StudyError(
            f"slurm.time {text!r} is not a Slurm time limit (MM, HH:MM:SS or D-HH:MM:SS)"
        )
    days, hours, minutes, seconds, only_minutes = match.groups()
    if only_minutes is not None:
        return int(only_minutes) * 60
    if hours is None:  # MM:SS
        return int(minutes) * 60 + int(seconds)
    return ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)


@dataclass(frozen=True)
class SlurmResources:
    """The ``slurm:`` section: what each array task (one worker) asks of the cluster."""

    time: str = "01:00:00"
    partition: str = ""
    cpus_per_task: int = 2
    gpus_per_task: int = 0
    mem: str = ""
    array: int = 2
    max_concurrent: int = 0  # 0: no limit
    signal_margin: int = 300
    account: str = ""

    def __post_init__(self) -> None:
        for name in ("cpus_per_task", "array", "signal_margin"):
            if int(getattr(self, name)) < 1:
                raise StudyError(f"slurm.{name} must be a positive whole number")
        if self.gpus_per_task < 0 or self.max_concurrent < 0:
            raise StudyError("slurm.gpus_per_task and slurm.max_concurrent must be 0 or more")
        if self.signal_margin >= self.seconds:
            raise StudyError(
                f"slurm.signal_margin ({self.signal_margin} s) must be shorter than slurm.time "
                f"({self.time})"
            )

    @property
    def seconds(self) -> int:
        return slurm_seconds(self.time)

    @property
    def worker_timeout(self) -> int:
        """A worker stops starting trials this long after its start: the limit minus the margin."""
        return self.seconds - self.signal_margin


@dataclass(frozen=True)
class PromotionRule:
    """The ``promote:`` section: move ``model@alias`` to the study's best trial after a run."""

    model: str
    alias: str = "pretrained"
    require_better: bool = True
    metric: str = "test_energy_mae_eV"


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep spec (see the module docstring); paths are absolute once loaded."""

    path: Path
    study: str
    storage: str
    space: str
    data: tuple[str, ...]
    tracking_uri: str = ""
    storage_password_file: str = ""
    energy_unit: str = SWEEP_DEFAULTS.energy_unit
    max_epochs: int = SWEEP_DEFAULTS.max_epochs
    seed: int = SWEEP_DEFAULTS.seed
    sampler: str = ""  # the sweep's default for the data (SWEEP_DEFAULTS.sampler_for)
    pruner: str = ""  # the sweep's default for the data (SWEEP_DEFAULTS.pruner_for)
    trials_per_run: int = 4
    study_trials: int | None = None  # Slurm workers stop once the study holds this many
    time_budget: float | None = None
    runs_dir: str = SWEEP_DEFAULTS.runs_dir
    max_retries: int = SWEEP_DEFAULTS.max_retries
    slurm: SlurmResources = field(default_factory=SlurmResources)
    promote: PromotionRule | None = None

    def storage_url(self) -> str:
        """The storage URL with its password: from ``$PESWEEP_STORAGE``, or the password file."""
        if os.environ.get(STORAGE_ENV) and not self.storage_password_file:
            return os.environ[STORAGE_ENV]
        if not self.storage_password_file:
            return self.storage
        password_file = Path(self.storage_password_file)
        try:
            password = password_file.read_text().strip()
        except OSError as error:
            raise StudyError(
                f"cannot read storage_password_file {password_file} ({error.strerror}); "
                f"create it (chmod 600) or drop it from {self.path}"
            ) from error
        scheme, _, rest = self.storage.partition("://")
        credentials, at, host = rest.rpartition("@")
        if not at:
            raise StudyError(
                f"storage {self.storage} names no user for the password file; write it as "
                f"postgresql://USER@HOST/DB"
            )
        user = credentials.split(":")[0]
        # quoted: a password with @, :, / or % must not end the user part or the host early
        return f"{scheme}://{user}:{urllib.parse.quote(password, safe='')}@{host}"


SECTIONS = {"slurm": SlurmResources, "promote": PromotionRule}


def _known(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)} - {"path"}
    unknown = sorted(set(values) - names)
    if unknown:
        raise StudyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    return values


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a spec; a one-line :class:`StudyError` names the problem and the fix."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise StudyError(f"no sweep spec at {path}; write one (see pesweep schedule --help)")
    try:
        values = load_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise StudyError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(values, dict):
        raise StudyError(f"{path} must be a YAML mapping of study, storage, space, data, ...")
    values = _known(SweepSpec, dict(values), str(path))
    for key in ("study", "storage", "space", "data"):
        if not values.get(key):
            raise StudyError(f"{path}: '{key}' is required")
    for key in ("storage", "tracking_uri"):
        if url_password(str(values.get(key) or "")):
            raise StudyError(
                f"{path}: {key} {mask_url(str(values[key]))} holds a password; remove it and set "
                f"${STORAGE_ENV} (or storage_password_file) instead"
            )
    folder = path.parent
    data = values["data"] if isinstance(values["data"], list) else [values["data"]]
    values["data"] = tuple(str((folder / Path(p).expanduser()).resolve()) for p in data)
    space = Path(str(values["space"])).expanduser()
    if (folder / space).suffix in (".yaml", ".yml"):
        values["space"] = str((folder / space).resolve())
    values["runs_dir"] = str(
        (folder / Path(values.get("runs_dir", SWEEP_DEFAULTS.runs_dir))).resolve()
    )
    if values.get("storage_password_file"):
        values["storage_password_file"] = str(
            (folder / Path(values["storage_password_file"]).expanduser()).resolve()
        )
    if str(values["storage"]).startswith("sqlite:///") and not str(values["storage"]).startswith(
        "sqlite:////"
    ):
        values["storage"] = (
            f"sqlite:///{(folder / values['storage'][len('sqlite:///') :]).resolve()}"
        )
    try:
        values["energy_unit"] = normalise_energy_unit(
            str(values.get("energy_unit", SWEEP_DEFAULTS.energy_unit))
        )
        for key, cls in SECTIONS.items():
            section = values.get(key)
            if section is not None:
                if not isinstance(section, dict):
                    raise StudyError(f"{path}: '{key}' must be a mapping")
                values[key] = cls(**_known(cls, section, f"{path}: {key}"))
        return SweepSpec(path=path, **values)
    except (TypeError, ValueError) as error:
        raise StudyError(f"{path}: {error}") from error
