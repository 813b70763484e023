"""What a resumed study may change: one policy per field of its recorded set-up.

Every door that resumes a study (``pesweep sweep --study NAME`` with or
without ``--space``/``--data``, a Slurm worker, ``schedule run``, a library
caller's :class:`~hpo.sweep.options.SweepOptions`) compares what it was given
with the study's record through :func:`resume_conflicts`:

* **binding**: it defines the study; a resume that gives another value is
  refused before anything runs, naming the study's value and the new one;
* **may change**: it belongs to this run only (the sampler and pruner of the
  trials it adds, the tracking URI with its password);
* **recorded**: written once when the study is made (where the space came
  from, the data's paths, the study's uid); no option sets it on a resume.

Options a caller leaves out (``None``) take the study's value: a name alone
resumes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BINDING = "binding"
MAY_CHANGE = "may change"
RECORDED = "recorded"

# every field of StudySetup -> its policy (a test checks that no field is left out)
RESUME_POLICY: dict[str, str] = {
    "space_text": BINDING,
    "data_hashes": BINDING,
    "energy_unit": BINDING,
    "max_epochs": BINDING,
    "seed": BINDING,
    "objectives": BINDING,
    "train_overrides": BINDING,
    "init_from": BINDING,
    "md_spec": BINDING,
    "md_constraint": BINDING,
    "sampler": MAY_CHANGE,
    "pruner": MAY_CHANGE,
    "tracking_uri": MAY_CHANGE,
    "space_origin": RECORDED,
    "data": RECORDED,
    "study_uid": RECORDED,
}

BINDING_FIELDS = tuple(name for name, policy in RESUME_POLICY.items() if policy == BINDING)

# the option that sets each binding field, as the command line spells it
OPTION_NAMES = {
    "space_text": "--space",
    "data_hashes": "--data",
    "energy_unit": "--energy-unit",
    "max_epochs": "--max-epochs",
    "seed": "--seed",
    "objectives": "--objectives",
    "train_overrides": "the training settings (--batch-size, --element-energies, ...)",
    "init_from": "--init-from",
    "md_spec": "--md-spec",
    "md_constraint": "--md-constraint",
}


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or "none"
    if value in ("", None, {}):
        return "none"
    return repr(value)


def resume_conflicts(stored: Any, requested: Mapping[str, Any]) -> list[str]:
    """The binding fields whose ``requested`` value differs from the ``stored`` set-up's, named.

    ``requested`` maps set-up fields to what a resume asks for; fields it
    leaves out (and every field that may change) are not compared.
    """
    conflicts = []
    for name in BINDING_FIELDS:
        if name not in requested:
            continue
        old, new = getattr(stored, name), requested[name]
        if isinstance(old, (tuple, list)) and isinstance(new, (tuple, list)):
            old, new = tuple(old), tuple(new)
        if old == new:
            continue
        if name == "space_text":
            conflicts.append(
                f"the search space differs from the one the study was created with "
                f"({stored.space_origin})"
            )
        elif name == "data_hashes":
            conflicts.append(f"the data differ (study: {', '.join(stored.data)})")
        elif name == "md_spec":
            conflicts.append("the MD check (--md-spec/--md-constraint) differs from the study's")
        elif name == "train_overrides":
            changed = sorted(key for key in {*old, *new} if old.get(key) != new.get(key))
            conflicts.append(
                f"the training settings differ in {', '.join(changed)} (study: "
                f"{', '.join(f'{k}={old[k]!r}' for k in changed if k in old) or 'none'})"
            )
        else:
            conflicts.append(
                f"{OPTION_NAMES[name]} is {_shown(old)} in the study, {_shown(new)} now"
            )
    return conflicts
